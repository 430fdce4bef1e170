"""Logging in and out, the first-run setup, and one's own account (its name, language, time
zone, password and login sessions)."""
from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import services, sessions
from crm.auth.forms import AccountForm, LoginForm, PasswordForm, SetupForm
from crm.auth.queries import has_users
from crm.auth.throttle import login_throttle
from crm.extensions import db
from crm.l10n import current_locale
from crm.models import User
from crm.pipelines.services import ensure_defaults
from crm.leads.services import ensure_defaults as ensure_lead_defaults
from crm.pools.services import ensure_defaults as ensure_pool_defaults
from crm.rules import RuleError, apply_rule_error
from crm.urls import local_path

bp = Blueprint("auth", __name__)


def _next_or_home(target: str | None) -> str:
    """Where to go next: `target` if it is on this site (crm.urls.local_path: never an open
    redirect), else the home page."""
    return local_path(target) or url_for("core.index")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first admin; gone once any user exists."""
    if has_users():
        abort(404)
    form = SetupForm()
    if request.method == "GET":
        form.language.data = current_locale()  # the language this page is shown in
    if form.validate_on_submit():
        user = services.create_user(email=form.email.data, name=form.name.data, password=form.password.data,
                           role="admin", language=form.language.data, timezone=form.timezone.data)
        ensure_defaults()
        ensure_lead_defaults()
        ensure_pool_defaults()
        db.session.flush()
        sessions.start(user)
        db.session.commit()
        login_user(user)
        refresh()
        flash(_("Welcome! Your workspace is ready."), "success")
        return redirect(url_for("core.index"), 303)
    status = 422 if form.errors else 200
    return render_template("auth/setup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with email and password; wrong passwords are throttled (crm.auth.throttle)."""
    if current_user.is_authenticated:
        return redirect(_next_or_home(request.args.get("next")))
    form = LoginForm()
    error, status = None, 200
    if form.validate_on_submit():
        throttle, address = login_throttle(), request.remote_addr or ""
        lock = throttle.lock(form.email.data, address)
        user = None if lock else User.by_email(form.email.data)
        if lock:
            error, status = _lock_message(lock), 429
        elif user and user.check_password(form.password.data):
            throttle.succeeded(form.email.data, address)
            if not user.active:
                error = _("This account has been deactivated. Ask an administrator.")
            else:
                sessions.start(user, remember=form.remember.data)
                db.session.commit()
                login_user(user, remember=form.remember.data)
                refresh()
                return redirect(_next_or_home(request.args.get("next")), 303)
        else:
            throttle.failed(form.email.data, address)
            error = _("Wrong email or password.")
    if status == 200 and (form.errors or error):
        status = 422
    response = make_response(render_template("auth/login.html", form=form, error=error), status)
    if status == 429:
        response.headers["Retry-After"] = str(lock.seconds)
    return response


def _lock_message(lock) -> str:
    if lock.scope == "account":
        return ngettext(
            "Too many wrong passwords for this account from your network. "
            "Try again in %(num)d minute.",
            "Too many wrong passwords for this account from your network. "
            "Try again in %(num)d minutes.", lock.minutes)
    return ngettext(
        "Too many failed logins from your network. Try again in %(num)d minute.",
        "Too many failed logins from your network. Try again in %(num)d minutes.", lock.minutes)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (a POST, so no link can do it behind the user's back): this browser's login
    session ends on the server, so copies of its cookies are refused from now on."""
    if current_user.is_authenticated:
        sessions.end_current(current_user)
        db.session.commit()
    logout_user()
    return _forget_in_browser(redirect(url_for("auth.login"), 303))


def _forget_in_browser(response):
    """Logged out: the browser drops what it kept of the pages (htmx's history snapshots
    in its storage, any cache), so that Back shows nothing of them."""
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.route("/account/sessions/revoke", methods=["POST"])
@login_required
def revoke_sessions():
    """Log out everywhere: every session of mine ends, this one included."""
    sessions.end_all(current_user.id)
    db.session.commit()
    logout_user()
    flash(_("You were logged out on every device."), "success")
    return _forget_in_browser(redirect(url_for("auth.login"), 303))


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int):
    """Log one of my other devices out."""
    if session_id == current_user.login_session_id:
        return logout()
    if sessions.end_one(current_user, session_id):
        db.session.commit()
        flash(_("That device was logged out."), "success")
    return redirect(url_for("auth.account"), 303)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """My name, language and time zone."""
    form = AccountForm(obj=current_user)
    password_form = PasswordForm(formdata=None)
    if form.validate_on_submit():
        services.update_account(current_user, name=form.name.data, language=form.language.data,
                                timezone=form.timezone.data)
        db.session.commit()
        refresh()
        flash(_("Your settings were saved."), "success")
        return redirect(url_for("auth.account"), 303)
    status = 422 if form.errors else 200
    return _account_page(form, password_form, status)


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change my own password; the current one is asked first."""
    form = AccountForm(formdata=None, obj=current_user)
    password_form = PasswordForm()
    if password_form.validate_on_submit():
        try:
            services.change_password(current_user._get_current_object(),
                                     current_password=password_form.current_password.data,
                                     new_password=password_form.new_password.data)
        except RuleError as error:
            apply_rule_error(password_form, error)
        else:
            db.session.commit()
            flash(_("Your password was changed. You were logged out on your other devices."),
                  "success")
            return redirect(url_for("auth.account"), 303)
    return _account_page(form, password_form, 422)


def _account_page(form, password_form, status):
    return render_template("auth/account.html", form=form, password_form=password_form,
                           login_sessions=sessions.of_user(current_user),
                           device_label=sessions.device_label), status


@bp.route("/account/language", methods=["POST"])
@login_required
def switch_language():
    """Switch the interface language from the menu, then come back to the same page."""
    if services.set_language(current_user, request.form.get("language")):
        db.session.commit()
        refresh()
    return redirect(_next_or_home(request.form.get("next")), 303)
