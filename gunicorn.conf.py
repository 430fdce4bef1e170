"""Production serving: `gunicorn -c gunicorn.conf.py app:app`.

Settings come from the environment: HOST, PORT, WEB_CONCURRENCY (workers), GUNICORN_THREADS,
GUNICORN_TIMEOUT, LOG_FORMAT (json or text), LOG_LEVEL, GUNICORN_CONTROL_SOCKET.
See docs/operations.md.
"""
import logging
import os
import sys
import time

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Requests carry only what they need; keep the workers fresh over long uptimes.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# two instances on one machine (the app and a second site, tests, the benchmark) would share:
# off unless a path is given.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# Logs: one stream, stderr, one JSON object a line (crm/logs.py), gunicorn's own lines
# included, each with the process id. The app writes a line for every request (method, path,
# status, ms, user), so gunicorn's access log, a second plain-text line for the same request,
# is off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def _log_handler():
    """The app's handler (crm.logs.init_logging finds it and adds no second one)."""
    from crm.logs import JSONFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler._crm = True
    if os.environ.get("LOG_FORMAT", "json") == "text":
        formatter = logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s %(message)s")
    else:
        formatter = JSONFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    return handler


logconfig_dict = {
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO").upper(), "handlers": ["crm"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
    "handlers": {"crm": {"()": _log_handler}},
    "formatters": {},
}


def worker_exit(server, worker):
    """A worker that stopped cleanly (shutdown, reload, max_requests) ends at once.

    Tearing down the interpreter of a worker of this app takes 1 to 2 s of CPU (several
    seconds on a busy machine), time the new workers of a reload need. Its requests are
    answered and its logs flushed; the database connections are closed properly first. A
    worker that failed keeps the normal exit, whose code tells the master what happened.
    """
    error = sys.exc_info()[1]
    if not (isinstance(error, SystemExit) and error.code in (0, None) and worker.booted):
        return
    try:
        from crm.extensions import db

        with worker.wsgi.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        logging.shutdown()
        os._exit(0)


def on_starting(server):
    """Apply pending migrations once, in the master, before any worker serves."""
    from crm import create_app
    from crm.cli import upgrade_database

    upgrade_database(create_app())
