"""One JSON object per log line, so that request lines can be grepped and parsed without a log shipper."""

import faulthandler
import json
import logging
import sys
import time
from typing import Any


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; fields passed through ``extra={"fields": {...}}`` become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    """Routes every logger to stderr as JSON lines at the given level.

    A crash in native code (gRPC's threads, torch's kernels) kills the process before any logger can run;
    faulthandler still writes the fatal signal and each Python thread's stack to stderr, so the service's log
    says how it died instead of simply ending.
    """
    faulthandler.enable()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def log_fields(logger: logging.Logger, message: str, **fields: Any) -> None:
    """Logs one INFO line carrying the given fields as JSON keys."""
    logger.info(message, extra={"fields": fields})
