"""Errors of the event bus, each with the code a client sees."""

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
