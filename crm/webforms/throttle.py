"""The public forms' rate limit per address (Flask-Limiter): WEBFORM_RATE_LIMIT posts per
client address, counted in memory (each worker on its own) or in Redis when REDIS_URL is set
(every worker together). The address is request.remote_addr: behind TRUSTED_PROXIES the app's
ProxyFix has already put the client's address there (crm/__init__.py)."""
from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(get_remote_address, default_limits=[], strategy="moving-window",
                  key_prefix="crm-webform")


def rate_limit() -> str:
    return current_app.config["WEBFORM_RATE_LIMIT"]


def init_limiter(app) -> None:
    app.config.setdefault("WEBFORM_RATE_LIMIT", "10 per minute;100 per day")
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
