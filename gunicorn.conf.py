"""Production serving: `gunicorn -c gunicorn.conf.py app:app`.

Settings come from the environment: HOST, PORT, WEB_CONCURRENCY (workers), GUNICORN_TIMEOUT.
"""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# Requests carry only what they need; keep the workers fresh over long uptimes.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Apply pending migrations once, in the master, before any worker serves."""
    from crm import create_app
    from crm.cli import upgrade_database

    upgrade_database(create_app())
