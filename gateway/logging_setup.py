"""Logging configuration: one format for the whole process, a request id on every line."""

from __future__ import annotations

import json
import logging
import logging.config
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    formatter: dict[str, Any]
    if log_format == "json":
        formatter = {"()": f"{__name__}.JsonFormatter"}
    else:
        formatter = {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": "common.context.RequestIdFilter"}},
            "formatters": {"default": formatter},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"]},
            },
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {
                "uvicorn.access": {"level": "WARNING"},
                "aiohttp.access": {"level": "WARNING"},
            },
        }
    )
