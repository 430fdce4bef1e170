"""Structured logs: one JSON object a line, and one line for every request."""
import json
import logging
import sys
import time

from flask import g, request
from flask_login import current_user

from crm.htmx import is_htmx_request


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def init_logging(app) -> None:
    """JSON lines on stderr (LOG_FORMAT=text for plain lines); a line per request."""
    formatter = (logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
                 if app.config.get("LOG_FORMAT") == "text" else JSONFormatter())
    formatter.converter = time.gmtime
    root = logging.getLogger()
    if not any(getattr(h, "_crm", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._crm = True
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    access = logging.getLogger("crm.request")

    @app.before_request
    def _start_timer():
        g._started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        if request.endpoint == "static":
            return response
        started = g.pop("_started", None)
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "user": current_user.get_id() if current_user and current_user.is_authenticated else None,
            "htmx": is_htmx_request(),
        }
        access.info("%s %s %s", request.method, request.path, response.status_code,
                    extra={"fields": fields})
        return response
