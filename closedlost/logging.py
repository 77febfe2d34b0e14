"""Logs: one JSON object per line for log collectors (python-json-logger keeps every `extra=`),
the same for the web process and the Celery worker, and a refused request as one line."""

import logging
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """{"time", "level", "logger", "message", ...extra} per line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's naming
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat()


class OneLineRefusals(logging.Filter):
    """Django logs a 403 (PermissionDenied) with its traceback; a refusal is no error: keep the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (403, 404, 405):
            record.exc_info, record.exc_text = None, None
        return True
