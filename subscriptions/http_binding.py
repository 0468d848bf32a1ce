"""The CloudEvents HTTP protocol binding (version 1.0.2), structured and binary content modes.

Structured mode: Content-Type "application/cloudevents+json" and the whole event as the body.
Binary mode: the attributes in "ce-" headers (values percent-encoded as the binding asks), the
data as the body, and Content-Type as `datacontenttype`, which must be JSON here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from subscriptions.errors import EventInvalidError
from subscriptions.events import JSON_CONTENT_TYPE, CloudEvent

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
HEADER_PREFIX = "ce-"


class UnsupportedContentTypeError(EventInvalidError):
    """The request's Content-Type selects no content mode the gateway accepts."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def event_from_http(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Decode one event from an HTTP request; raises EventInvalidError (or its 415 subclass)."""
    media_type = _media_type(headers.get("content-type"))
    if media_type == STRUCTURED_CONTENT_TYPE:
        return CloudEvent.from_json(body)
    if media_type == BATCH_CONTENT_TYPE:
        raise UnsupportedContentTypeError(
            "batched mode is not supported; send one event per request in structured or binary mode",
            attribute="content-type",
        )
    has_ce_headers = any(name.lower().startswith(HEADER_PREFIX) for name in headers)
    if not has_ce_headers:
        raise UnsupportedContentTypeError(
            f"Content-Type '{headers.get('content-type', '')}' with no ce- headers is neither content mode; send "
            f"{STRUCTURED_CONTENT_TYPE}, or ce-specversion, ce-id, ce-source, ce-type headers with a JSON body",
            attribute="content-type",
        )
    if media_type != JSON_CONTENT_TYPE:
        raise UnsupportedContentTypeError(
            f"binary mode data of type '{media_type or 'none'}' is not accepted; send {JSON_CONTENT_TYPE}",
            attribute="content-type",
        )
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(HEADER_PREFIX):
            attributes[lowered[len(HEADER_PREFIX) :]] = unquote(value)
    if "datacontenttype" in attributes:
        raise EventInvalidError(
            "binary mode carries datacontenttype in Content-Type; remove the ce-datacontenttype header",
            attribute="datacontenttype",
        )
    attributes["datacontenttype"] = JSON_CONTENT_TYPE
    if body.strip():
        try:
            attributes["data"] = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventInvalidError(f"the body is not valid JSON: {exc}", attribute="data") from None
    return CloudEvent.from_mapping(attributes)
