"""Configuration, everything overridable from the environment."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_DIR", BASE_DIR / "instance"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Let people paste a plain postgres:// URL; we talk to PostgreSQL through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    SECRET_KEY = None  # filled in by load()
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    HOST = "127.0.0.1"
    PORT = 5000
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = ("zh_CN", "en")
    PER_PAGE = 25
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # "Keep me logged in" lasts a month; a session without it a week at most, on the server
    # too (crm.auth.sessions), whatever the browser keeps.
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    LOGIN_SESSION_LIFETIME = timedelta(days=7)
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    # One form field up to 2 MB reaches the form's validation (a 1 MB paste into a short
    # text gets its message beside the field, issue 10); a bigger one is a 413.
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
    DEFAULT_CURRENCY = "CNY"
    # Wrong passwords (crm.auth.throttle): per account and address together, and a looser
    # ceiling per address (an office behind one NAT); in Redis when REDIS_URL is set.
    LOGIN_THROTTLE_ENABLED = True
    LOGIN_ACCOUNT_LIMIT = "5 per 15 minutes"
    LOGIN_ADDRESS_LIMIT = "100 per 15 minutes"
    LOGIN_THROTTLE_STORAGE_URI = "memory://"
    # Background jobs (crm/jobs/): huey in instance/huey.sqlite3, or in Redis when REDIS_URL
    # is set; JOBS_IMMEDIATE runs each job inside the call that enqueues it (tests).
    REDIS_URL = ""
    JOBS_IMMEDIATE = False
    JOB_WORKERS = 2
    JOB_HEARTBEAT_SECONDS = 10      # a running job says it is alive this often ...
    JOB_STALE_SECONDS = 60          # ... and is failed as "stopped unexpectedly" after this long
    EXPORT_JOB_THRESHOLD = 5000     # exports of more rows run as a job (crm/exports/) ...
    EXPORT_KEEP_DAYS = 7            # ... whose file is kept this long in instance/exports/
    CONTENT_SECURITY_POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )

    @classmethod
    def load(cls) -> dict:
        """The settings as a dict, read from the environment at app creation time."""
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        settings["SECRET_KEY"] = _secret_key()
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'crm.sqlite3'}"
        settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
        settings["HOST"] = os.environ.get("HOST", cls.HOST)
        settings["PORT"] = int(os.environ.get("PORT", cls.PORT))
        settings["DEFAULT_CURRENCY"] = os.environ.get("DEFAULT_CURRENCY", cls.DEFAULT_CURRENCY)
        settings["SESSION_COOKIE_SECURE"] = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
        settings["REMEMBER_COOKIE_SECURE"] = settings["SESSION_COOKIE_SECURE"]
        if os.environ.get("REDIS_URL"):
            settings["LOGIN_THROTTLE_STORAGE_URI"] = os.environ["REDIS_URL"]
        settings["REDIS_URL"] = os.environ.get("REDIS_URL", "")
        # How many reverse proxies (nginx...) stand in front: their X-Forwarded-For/-Proto
        # headers are trusted for that many hops (client address for the login limit, HTTPS).
        settings["TRUSTED_PROXIES"] = int(os.environ.get("TRUSTED_PROXIES", "0"))
        settings["LOG_FORMAT"] = os.environ.get("LOG_FORMAT", "json")
        settings["LOG_LEVEL"] = os.environ.get("LOG_LEVEL", "INFO")
        for name in ("LOGIN_ACCOUNT_LIMIT", "LOGIN_ADDRESS_LIMIT"):
            settings[name] = os.environ.get(name, getattr(cls, name))
        if settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
        return settings
