"""Who may call without a token: the embedded sandbox on loopback only, unless set explicitly."""

from __future__ import annotations

import logging

import pytest

from gateway.auth.policy import anonymous_scopes
from gateway.settings import load_settings
from resolvers.permissions import ALL_SCOPES

CORE = {"core_url": "http://127.0.0.1:9/core"}


def test_embedded_loopback_allows_anonymous(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        scopes = anonymous_scopes(load_settings({}))

    assert scopes == ALL_SCOPES
    assert "ANONYMOUS ACCESS IS ON" in caplog.text


def test_real_subsystem_rejects_anonymous():
    assert anonymous_scopes(load_settings({}, **CORE)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "gateway.internal"])
def test_non_loopback_rejects_anonymous(host: str):
    assert anonymous_scopes(load_settings({}, host=host)) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_hosts_allow_anonymous(host: str):
    assert anonymous_scopes(load_settings({}, host=host)) == ALL_SCOPES


def test_explicit_on_with_subsystems():
    settings = load_settings({}, auth_anonymous="on", auth_anonymous_scopes=["farms:read"], **CORE)

    assert anonymous_scopes(settings) == frozenset({"farms:read"})


def test_explicit_off_on_embedded():
    assert anonymous_scopes(load_settings({"FISHWATCH_AUTH_ANONYMOUS": "off"})) is None


def test_anonymous_scopes_from_environment():
    settings = load_settings({"FISHWATCH_AUTH_ANONYMOUS_SCOPES": "farms:read,alerts:read"})

    assert anonymous_scopes(settings) == frozenset({"farms:read", "alerts:read"})


def test_unknown_anonymous_scope_rejected():
    from common.errors import AuthConfigError

    with pytest.raises(AuthConfigError) as raised:
        anonymous_scopes(load_settings({}, auth_anonymous_scopes=["farms:write"]))

    assert "unknown scopes ['farms:write']" in raised.value.message
