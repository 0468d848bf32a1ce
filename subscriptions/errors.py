"""Errors of the event bus, each with the code a client receives."""

from __future__ import annotations

from common.errors import FishWatchError, InvalidArgumentError


class EventInvalidError(InvalidArgumentError):
    """An event is not a valid CloudEvents 1.0 JSON event or breaks a Fish Watch rule."""

    code = "EVENT_INVALID"
    http_status = 400


class ResumePositionInvalidError(InvalidArgumentError):
    """A resume position is malformed or was never issued by the bus."""

    code = "RESUME_POSITION_INVALID"
    http_status = 400


class ResumePositionExpiredError(FishWatchError):
    """A resume position is older than the retained events, so events after it may be lost."""

    code = "RESUME_POSITION_EXPIRED"
    http_status = 410


class EventBusUnavailableError(FishWatchError):
    """The bus could not reach Redis or is closed."""

    code = "EVENT_BUS_UNAVAILABLE"
    http_status = 503
    retryable = True


class SubscriberTooSlowError(FishWatchError):
    """A subscriber let more events queue up than its bound; its subscription is closed."""

    code = "SUBSCRIBER_TOO_SLOW"
    http_status = 503
    # The WebSocket close code and reason the gateway sends to such a client (4000-4999 are for
    # applications, RFC 6455 section 7.4.2). A reason must fit in 123 bytes.
    websocket_close_code = 4507
    websocket_close_reason = "subscriber too slow: event queue bound exceeded; resume with `after`"
