"""Audit records: every mutation and every denied request, one log line each.

Records go to the `fishwatch.audit` logger so operators can route them apart from the rest. They
name the caller, the operation and the outcome, and `common.context` stamps the request id on
every record. Callers pass ids and error codes only, never a token, secret or Authorization
header.
"""

from __future__ import annotations

import logging
from typing import Any

audit_logger = logging.getLogger("fishwatch.audit")


def audit_event(what: str, caller: str, operation: str, outcome: str, **details: Any) -> None:
    """Log one audit record: `what` happened for `caller` in `operation` with `outcome`."""
    extra = " ".join(f"{name}={value}" for name, value in details.items() if value is not None)
    audit_logger.info(
        "%s caller=%s operation=%s outcome=%s%s", what, caller, operation, outcome, f" {extra}" if extra else ""
    )


def audit_denied(caller: str | None, subject: str, operation: str, reason: str) -> None:
    """Log a denied request; `reason` is an error code, never the token or secret presented."""
    audit_logger.warning("denied caller=%s operation=%s outcome=denied reason=%s", caller or subject, operation, reason)
