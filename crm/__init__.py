"""The CRM application factory."""
from flask import Flask, redirect, request, url_for
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from crm.config import Config
from crm.extensions import csrf, db, htmx_ext, login_manager, migrate


_USER_STATEMENTS: dict = {}


def _user_statement(dialect_name: str):
    """The user loader's statement, built once per dialect (every request runs it): the user,
    its overdue count as of :now, and what crm.permissions.loaded_with_user reads."""
    statement = _USER_STATEMENTS.get(dialect_name)
    if statement is None:
        from sqlalchemy import bindparam

        from crm.formatting import overdue_count_of
        from crm.models import LoginSession, Task, User
        from crm.permissions import loaded_with_user
        now = bindparam("now", type_=Task.__table__.c.due_at.type)
        # The cookie's login session must exist and not have expired (crm.auth.sessions).
        statement = _USER_STATEMENTS[dialect_name] = (
            db.select(User, LoginSession.id, overdue_count_of(User.id, now),
                      *loaded_with_user(User.id, dialect_name))
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(User.id == bindparam("user_id"),
                   LoginSession.token_hash == bindparam("token_hash"),
                   LoginSession.expires_at > now))
    return statement


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` on top (tests)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static",
                instance_path=str(Config.load().get("INSTANCE_PATH", "") or _instance_dir()))
    # <int:...> in URLs stops at the largest id a column holds: a bigger one is a 404.
    app.url_map.converters["int"] = DatabaseIntConverter
    app.config.from_mapping(Config.load())
    if config:
        app.config.from_mapping(config)
    from crm.logs import init_logging
    init_logging(app)

    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx_ext.init_app(app)
    from crm.auth.throttle import init_throttle
    init_throttle(app)

    from crm.i18n import init_i18n
    init_i18n(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    from crm import models  # noqa: F401  (registers the tables)

    @login_manager.user_loader
    def load_user(cookie_id: str):
        from crm.auth.sessions import hash_token, parse_cookie_id
        from crm.formatting import remember_overdue_count
        from crm.models import utcnow
        from crm.permissions import remember_loaded
        parsed = parse_cookie_id(cookie_id)
        if parsed is None:
            return None
        user_id, token = parsed
        # The login session, the navigation's overdue badge, the team switch and the ids
        # shared with the user come with the user: no statement of their own.
        statement = _user_statement(db.session.get_bind().dialect.name)
        row = db.session.execute(statement, {"user_id": user_id, "token_hash": hash_token(token),
                                             "now": utcnow()}).first()
        if row is None:
            return None
        user, login_session_id, overdue_count, team_value, customer_ids, opportunity_ids = row
        user.login_token, user.login_session_id = token, login_session_id
        # A deactivated user's open sessions end at their next request.
        if not user.active:
            return None
        remember_overdue_count(user.id, overdue_count)
        remember_loaded(user.id, team_value, customer_ids, opportunity_ids)
        return user

    from crm.auth import bp as auth_bp
    from crm.admin import bp as admin_bp
    from crm.core import bp as core_bp
    from crm.errors import bp as errors_bp
    from crm.notes import bp as notes_bp

    for blueprint in (core_bp, auth_bp, admin_bp, errors_bp, notes_bp):
        app.register_blueprint(blueprint)
    _register_optional_blueprints(app)

    from crm.cli import cli_group
    app.cli.add_command(cli_group)

    from crm.formatting import init_formatting
    init_formatting(app)

    _install_guards(app)
    return app


class DatabaseIntConverter(IntegerConverter):
    """Werkzeug's int converter, bounded to the 32-bit INTEGER the id columns are."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _instance_dir():
    from crm.config import INSTANCE_DIR
    return INSTANCE_DIR


def _migrations_dir():
    from crm.config import BASE_DIR
    return BASE_DIR / "migrations"


def _register_optional_blueprints(app: Flask) -> None:
    """The feature areas, each a package with a blueprint named `bp`."""
    import importlib

    for area in ("customers", "tags", "pipelines", "opportunities", "board", "tasks", "audit",
                 "trash"):
        try:
            module = importlib.import_module(f"crm.{area}")
        except ModuleNotFoundError as exc:
            if exc.name == f"crm.{area}":
                continue
            raise
        blueprint = getattr(module, "bp", None)
        if blueprint is not None:
            app.register_blueprint(blueprint)


OPEN_ENDPOINTS = {"auth.login", "auth.setup", "core.healthz", "static"}


def _install_guards(app: Flask) -> None:
    from crm.htmx import add_vary, redirect_to

    @app.before_request
    def refuse_nul_bytes():
        """No form or query value holds a NUL byte (PostgreSQL cannot store one): 400."""
        values = [*request.args.values()]
        if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
                "application/x-www-form-urlencoded", "multipart/form-data"):
            values += [*request.form.values()]
        if any("\x00" in value for value in values):
            from flask import abort
            abort(400)
        return None

    @app.before_request
    def require_setup_and_login():
        """First run leads to /setup; after it, everything but a few pages needs a login."""
        endpoint = request.endpoint or ""
        if endpoint == "static" or endpoint == "core.healthz":
            return None
        from crm.auth.services import has_users
        if not has_users():
            if endpoint != "auth.setup":
                return redirect_to(url_for("auth.setup"))
            return None
        if endpoint in OPEN_ENDPOINTS:
            return None
        if not current_user.is_authenticated:
            if request.htmx:
                return redirect_to(url_for("auth.login", next=request.full_path.rstrip("?")))
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return None

    app.after_request(add_vary)

    @app.after_request
    def security_headers(response):
        """No framing, no sniffing, no inline script (htmx is configured to need none)."""
        headers = response.headers
        headers.setdefault("Content-Security-Policy", app.config["CONTENT_SECURITY_POLICY"])
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        # No page is kept by the browser: after logging out, Back and reload ask the server,
        # which asks for a login (and logout clears htmx's snapshots: Clear-Site-Data).
        if request.endpoint != "static":
            headers.setdefault("Cache-Control", "no-store")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
