"""Structured JSON logs: one line per event, for the app and for uvicorn alike; no patient names, no tokens.

Each line written while a request is handled carries that request's id (and its W3C trace id when the
caller sent a ``traceparent``), set by ``cds_service.api.access_log``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "color_message"}


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    traceparent: str | None = None  # the caller's W3C trace context, validated; passed on to FHIR servers

    @property
    def trace_id(self) -> str | None:
        return self.traceparent.split("-")[1] if self.traceparent else None


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_request.get()
        if context is not None:
            payload["request_id"] = context.request_id
            if context.trace_id:
                payload["trace_id"] = context.trace_id
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            payload["error"] = self.formatException(record.exc_info)
        # orjson: a line per hook call at INFO is on the request path; about a fifth of json's cost.
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(level: str) -> None:
    """JSON lines on standard error for the service's loggers (uvicorn's are set by ``uvicorn_log_config``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("cds_service")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging in the service's JSON format; its own access log stays off (the service writes one)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
