"""Redaction of credentials in every log record, from the gateway's loggers and libraries' alike.

The gateway's own code never logs a token or secret, but libraries may: at DEBUG, the
websockets protocol that uvicorn runs logs every frame, shortened in the middle, and
`connection_init` frames carry bearer tokens. A log record factory (which reaches every logger
and handler) logs such frames by opcode only, and replaces JWS compact tokens, Bearer and Basic
credentials, `client_secret` form values and JSON `Authorization` values with `[redacted]` in
all other records. Only records that are emitted pay for it, because the logging module creates
a record only after its level check passes.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(client_secret=)[^&\s\"']+"),
    re.compile(r"(?i)(\"authorization\"\s*:\s*\")[^\"]*"),
)
# Formats the websockets library logs a received ("<") or sent (">") frame with, the frame as argument.
_FRAME_MESSAGES = ("< %s", "> %s")
_MARKERS = ("eyJ", "earer", "asic ", "ecret", "uthorization")
_installed = False


def redact(text: str) -> str:
    """Replace credentials in `text` with `[redacted]`, keeping the scheme or parameter name."""
    text = _PATTERNS[0].sub("[redacted]", text)
    text = _PATTERNS[1].sub(lambda match: f"{match.group(1)} [redacted]", text)
    text = _PATTERNS[2].sub(lambda match: f"{match.group(1)}[redacted]", text)
    return _PATTERNS[3].sub(lambda match: f"{match.group(1)}[redacted]", text)


def install_log_redaction() -> None:
    """Wrap the log record factory so every record is redacted; installing twice is a no-op."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.msg in _FRAME_MESSAGES and isinstance(record.args, tuple) and len(record.args) == 1:
            opcode = getattr(record.args[0], "opcode", None)
            if opcode is not None:
                record.msg, record.args = f"{record.msg} frame (content not logged)", (getattr(opcode, "name", opcode),)
                return record
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a malformed call; logging reports it when the record is formatted
        if any(marker in message for marker in _MARKERS):
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
