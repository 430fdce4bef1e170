"""The CRM application factory: every extension, blueprint, listener and command is wired
here, explicitly. An area that fails to import fails start-up (no area is optional)."""
from flask import Flask, abort, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import bindparam
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from crm import models
from crm.admin import routes as admin_routes
from crm.audit import routes as audit_routes
from crm.audit.listeners import install as install_audit_listener
from crm.auth import routes as auth_routes
from crm.auth.queries import has_users
from crm.auth.sessions import hash_token, parse_cookie_id
from crm.auth.throttle import init_throttle
from crm.board import routes as board_routes
from crm.cli import cli_group
from crm.config import BASE_DIR, INSTANCE_DIR, Config
from crm.core import routes as core_routes
from crm.customers import routes as customers_routes
from crm.duplicates import routes as duplicates_routes
from crm.duplicates.refresh import refresh_job_title, run_refresh_job
from crm.duplicates.services import register as register_merge_kind
from crm.errors import routes as errors_routes
from crm.fields import routes as fields_routes
from crm.fields.queries import filled_values as filled_custom_values
from crm.fields.queries import remember_stamp as remember_definitions_stamp
from crm.fields.queries import stamp_columns as definitions_stamp
from crm.extensions import csrf, db, htmx_ext, login_manager, migrate
from crm.htmx import add_vary, is_htmx_request, redirect_to
from crm.l10n import init_l10n
from crm.logs import init_logging
from crm.notes import routes as notes_routes
from crm.opportunities import routes as opportunities_routes
from crm.permissions import loaded_with_user, remember_loaded
from crm.pipelines import routes as pipelines_routes
from crm.responses import init_responses, register_record_page
from crm.sharing import routes as sharing_routes
from crm.tags import routes as tags_routes
from crm.tasks import routes as tasks_routes
from crm.tasks.queries import init_overdue_badge, overdue_count_of, remember_overdue_count
from crm.trash import routes as trash_routes
from crm.trash.filters import install as install_trash_filter
from crm.trash.cli import purge_trash_command
from crm.urls import IdUrl
# Background jobs and exports (issue 12).
from crm.customers import exports as customers_exports
from crm.exports import routes as exports_routes
from crm.exports.services import export_job_title, init_exports, run_export_job
from crm.jobs import routes as jobs_routes
from crm.leads import routes as leads_routes
from crm.leads import scoring as leads_scoring
from crm.leads import exports as leads_exports
from crm.leads import merging as leads_merging
from crm.jobs.cli import run_schedules_command, worker_command
from crm.jobs.runner import JobKind, init_jobs
from crm.jobs.schedules import SCHEDULES
from crm.opportunities import exports as opportunities_exports
from crm.tasks import exports as tasks_exports
# Import (issue 12).
from crm.imports import routes as imports_routes
from crm.imports.cli import import_maven_command
from crm.imports.run import import_job_title, run_import
# Capture: public web forms and assignment rules (issue 11).
from crm.webforms import routes as webforms_routes
from crm.webforms.throttle import init_limiter
# The public pool (issue 11 part 4, issue 18).
from crm.pools import admin as pool_admin_routes
from crm.pools import routes as pools_routes
from crm.pools import listeners as owner_history_listeners

# Every area's blueprint, in the order the navigation lists them.
BLUEPRINTS = (core_routes.bp, auth_routes.bp, admin_routes.bp, errors_routes.bp,
              customers_routes.bp, tags_routes.bp, notes_routes.bp, pipelines_routes.bp,
              opportunities_routes.bp, board_routes.bp, tasks_routes.bp, sharing_routes.bp,
              audit_routes.bp, trash_routes.bp, fields_routes.bp)
BLUEPRINTS += (jobs_routes.bp, exports_routes.bp, imports_routes.bp)
BLUEPRINTS += (leads_routes.bp,)  # leads (issue 11)
BLUEPRINTS += (duplicates_routes.bp,)  # duplicates and merge (issue 12)
BLUEPRINTS += (webforms_routes.bp, webforms_routes.public_bp)  # capture (issue 11)
BLUEPRINTS += (pools_routes.bp, pool_admin_routes.bp)  # the public pool (issues 11, 18)

# The kinds of background job, by name (crm/jobs/runner.py), and the lists that export
# (crm/exports/): each list's columns live beside its queries.
JOB_KINDS = {"export": JobKind(work=run_export_job, title=export_job_title),
             "import": JobKind(work=run_import, title=import_job_title),
             "duplicates": JobKind(work=run_refresh_job, title=refresh_job_title)}
JOB_KINDS["rescore-leads"] = JobKind(work=leads_scoring.run_rescore_job,
                                     title=leads_scoring.rescore_job_title)
EXPORT_SOURCES = (customers_exports.SOURCE, opportunities_exports.SOURCE, tasks_exports.SOURCE,
                  leads_exports.SOURCE)

_USER_STATEMENTS: dict = {}


def _user_statement(dialect_name: str):
    """The user loader's statement, built once per dialect (every request runs it): the user,
    its overdue count as of :now, and what crm.permissions.loaded_with_user reads."""
    statement = _USER_STATEMENTS.get(dialect_name)
    if statement is None:
        now = bindparam("now", type_=models.Task.__table__.c.due_at.type)
        # The cookie's login session must exist and not have expired (crm.auth.sessions).
        statement = _USER_STATEMENTS[dialect_name] = (
            db.select(models.User, models.LoginSession.id, overdue_count_of(models.User.id, now),
                      *loaded_with_user(models.User.id, dialect_name), *definitions_stamp())
            .join(models.LoginSession, models.LoginSession.user_id == models.User.id)
            .where(models.User.id == bindparam("user_id"),
                   models.LoginSession.token_hash == bindparam("token_hash"),
                   models.LoginSession.expires_at > now))
    return statement


def load_user(cookie_id: str):
    """Flask-Login's user loader: the user of a live login session, or None."""
    parsed = parse_cookie_id(cookie_id)
    if parsed is None:
        return None
    user_id, token = parsed
    # The login session, the navigation's overdue badge, the team switch, the ids shared
    # with the user and the custom fields' stamp come with the user: no statement of their own.
    statement = _user_statement(db.session.get_bind().dialect.name)
    row = db.session.execute(statement, {"user_id": user_id, "token_hash": hash_token(token),
                                         "now": models.utcnow()}).first()
    if row is None:
        return None
    (user, login_session_id, overdue_count, team_value, customer_ids, opportunity_ids,
     fields_count, fields_changed) = row
    user.login_token, user.login_session_id = token, login_session_id
    # A deactivated user's open sessions end at their next request.
    if not user.active:
        return None
    remember_overdue_count(user.id, overdue_count)
    remember_loaded(user.id, team_value, customer_ids, opportunity_ids)
    remember_definitions_stamp(fields_count, fields_changed)
    return user


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` on top (tests)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static",
                instance_path=str(Config.load().get("INSTANCE_PATH", "") or INSTANCE_DIR))
    # <int:...> in URLs stops at the largest id a column holds: a bigger one is a 404.
    app.url_map.converters["int"] = DatabaseIntConverter
    app.config.from_mapping(Config.load())
    if config:
        app.config.from_mapping(config)
    init_logging(app)
    if app.config.get("TRUSTED_PROXIES"):
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # Extensions.
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.user_loader(load_user)
    csrf.init_app(app)
    htmx_ext.init_app(app)
    init_throttle(app)
    init_limiter(app)
    init_l10n(app)
    init_jobs(app, JOB_KINDS, SCHEDULES)
    init_exports(app, EXPORT_SOURCES)

    # Session listeners, on every ORM session: the trash's filter hides trashed rows from
    # every query; the audit trail records each change of an audited record.
    install_trash_filter()
    install_audit_listener()
    owner_history_listeners.install()

    # Areas.
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_record_page("customer", customers_routes.show_page)
    register_record_page("opportunity", opportunities_routes.show_page)
    register_record_page("lead", leads_routes.show_page)
    register_merge_kind(leads_merging.MERGE_KIND)  # leads join merging (docs/merge.md)

    # What every page's layout reads.
    app.jinja_env.globals["id_url"] = IdUrl
    app.jinja_env.globals["custom_values_of"] = filled_custom_values
    init_overdue_badge(app)
    init_responses(app)

    cli_group.add_command(purge_trash_command)
    cli_group.add_command(worker_command)
    cli_group.add_command(run_schedules_command)
    cli_group.add_command(import_maven_command)
    app.cli.add_command(cli_group)

    _install_guards(app)
    return app


class DatabaseIntConverter(IntegerConverter):
    """Werkzeug's int converter, bounded to the 32-bit INTEGER the id columns are."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


OPEN_ENDPOINTS = {"auth.login", "auth.setup", "core.healthz", "static"}
OPEN_ENDPOINTS |= {"webforms_public.show"}  # the public web forms (crm/webforms)
# The only pages other sites may frame: they set their own CSP frame-ancestors.
FRAMEABLE_ENDPOINTS = {"webforms_public.show"}


def _install_guards(app: Flask) -> None:
    @app.before_request
    def refuse_nul_bytes():
        """No form or query value holds a NUL byte (PostgreSQL cannot store one): 400."""
        values = [*request.args.values()]
        if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
                "application/x-www-form-urlencoded", "multipart/form-data"):
            values += [*request.form.values()]
        if any("\x00" in value for value in values):
            abort(400)
        return None

    @app.before_request
    def require_setup_and_login():
        """First run leads to /setup; after it, everything but a few pages needs a login."""
        endpoint = request.endpoint or ""
        if endpoint == "static" or endpoint == "core.healthz":
            return None
        if not has_users():
            if endpoint != "auth.setup":
                return redirect_to(url_for("auth.setup"))
            return None
        if endpoint in OPEN_ENDPOINTS:
            return None
        if not current_user.is_authenticated:
            if is_htmx_request():
                return redirect_to(url_for("auth.login", next=request.full_path.rstrip("?")))
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return None

    app.after_request(add_vary)

    @app.after_request
    def security_headers(response):
        """No framing, no sniffing, no inline script (htmx is configured to need none)."""
        headers = response.headers
        headers.setdefault("Content-Security-Policy", app.config["CONTENT_SECURITY_POLICY"])
        if request.endpoint not in FRAMEABLE_ENDPOINTS:
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
