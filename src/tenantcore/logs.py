"""Log output: human text (the default) or JSON lines (`TENANTCORE_LOG_FORMAT=json`), each
carrying the id of the request it was written under.

The request id lives in a context variable that `RequestIdMiddleware` sets for the request's
task; anything the request awaits (and any task it starts) sees it, so a Microsoft call logged
deep in a service carries the id of the request that made it.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("tenantcore_request_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id when
    inside a request, exception (the traceback text) when one is attached."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an odd argument type never costs the line.
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_line(message: str, level: str = "INFO", logger: str = "tenantcore", **fields: Any) -> str:
    """A line in the same shape for what is printed rather than logged (the start-up notice)."""
    record = logging.LogRecord(logger, logging.getLevelName(level), __file__, 0, message, None, None)
    entry = json.loads(JsonFormatter().format(record))
    return json.dumps(entry | fields, ensure_ascii=False)


def json_log_config() -> dict[str, Any]:
    """A `logging.config.dictConfig` for `TENANTCORE_LOG_FORMAT=json` (uvicorn.run's
    `log_config`): uvicorn's loggers and TenantCore's (INFO and up; others WARNING and up), all
    JSON lines on stderr. (The text format keeps uvicorn's own configuration.)"""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"level": "INFO"},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"level": "INFO"},
            "tenantcore": {"level": "INFO"},
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }
