"""Per-request values carried in context variables across awaits.

The HTTP layer sets them once per request; connectors and log records read them, so neither
has to be threaded through every resolver call.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("fishwatch_request_id", default=None)

# Absolute deadline of the current request on the event loop's clock (`loop.time()`), or None.
deadline_var: ContextVar[float | None] = ContextVar("fishwatch_deadline", default=None)


def remaining_budget_s() -> float | None:
    """Return the seconds left before the current request's deadline, or None without one."""
    deadline = deadline_var.get()
    if deadline is None:
        return None
    return deadline - asyncio.get_running_loop().time()


_factory_installed = False


def install_request_id_factory() -> None:
    """Stamp `request_id` on every log record at creation, whatever handler later formats it.

    A record factory (rather than a handler filter) reaches every handler, including ones added
    after start-up such as a test's log capture. Installing twice is a no-op.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class RequestIdFilter(logging.Filter):
    """Add `request_id` to every log record, "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return True
