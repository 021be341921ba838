"""Log records as people and machines read them: readable text for `make run`, one JSON object
per line in production (MODELPORT_LOG_FORMAT=json). Every record carries the request id of the
request or task it was written for."""

import json
import logging
from datetime import UTC, datetime

from core import request_id

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def carry_request_ids():
    """Every log record made from now on carries the request id current where it was made (as
    `request_id`, "-" outside a request), whichever handler then takes it (portal.apps)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "carries_request_ids", False):
        return

    def record_with_request_id(*args, **kwargs):
        record = make(*args, **kwargs)
        record.request_id = request_id.get() or "-"
        return record

    record_with_request_id.carries_request_ids = True
    logging.setLogRecordFactory(record_with_request_id)


class RequestIdFilter(logging.Filter):
    """For records made before `carry_request_ids` ran: the id current when they are handled."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, the
    record's `extra=` fields, and the exception's traceback as one string."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
