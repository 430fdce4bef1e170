"""Logging in and out, the first-run setup, and one's own account."""
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import bp
from crm.auth.forms import AccountForm, LoginForm, PasswordForm, SetupForm
from crm.auth.services import create_user, has_users
from crm.extensions import db, limiter
from crm.models import User


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return url_for("core.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("core.index")
    return target


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first admin; gone once any user exists."""
    if has_users():
        abort(404)
    form = SetupForm()
    if request.method == "GET":
        form.language.data = request.accept_languages.best_match(["zh_CN", "en"], default="zh_CN")
    if form.validate_on_submit():
        from crm.defaults import ensure_defaults
        user = create_user(email=form.email.data, name=form.name.data, password=form.password.data,
                           role="admin", language=form.language.data, timezone=form.timezone.data)
        ensure_defaults()
        db.session.commit()
        login_user(user)
        refresh()
        flash(_("Welcome! Your workspace is ready."), "success")
        return redirect(url_for("core.index"), 303)
    status = 422 if form.errors else 200
    return render_template("auth/setup.html", form=form), status


def _login_rate_limit() -> str:
    from flask import current_app
    return current_app.config["LOGIN_RATE_LIMIT"]


def _rate_limit_off() -> bool:
    """The limiter is shared by every app in a process; each app's config decides."""
    from flask import current_app
    return not current_app.config.get("RATELIMIT_ENABLED", True)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"], exempt_when=_rate_limit_off)
def login():
    """Log in with email and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if user and user.check_password(form.password.data):
            if not user.active:
                error = _("This account has been deactivated. Ask an administrator.")
            else:
                login_user(user, remember=form.remember.data)
                refresh()
                return redirect(safe_next(request.args.get("next")), 303)
        else:
            error = _("Wrong email or password.")
    status = 422 if (form.errors or error) else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (a POST, so no link can do it behind the user's back)."""
    logout_user()
    return redirect(url_for("auth.login"), 303)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """My name, language and time zone."""
    form = AccountForm(obj=current_user)
    password_form = PasswordForm(formdata=None)
    if form.validate_on_submit():
        current_user.name = form.name.data.strip()
        current_user.language = form.language.data
        current_user.timezone = form.timezone.data
        db.session.commit()
        refresh()
        flash(_("Your settings were saved."), "success")
        return redirect(url_for("auth.account"), 303)
    status = 422 if form.errors else 200
    return render_template("auth/account.html", form=form, password_form=password_form), status


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change my own password; the current one is asked first."""
    form = AccountForm(formdata=None, obj=current_user)
    password_form = PasswordForm()
    if password_form.validate_on_submit():
        if not current_user.check_password(password_form.current_password.data):
            password_form.current_password.errors.append(_("The current password is wrong."))
        else:
            current_user.set_password(password_form.new_password.data)
            db.session.commit()
            flash(_("Your password was changed."), "success")
            return redirect(url_for("auth.account"), 303)
    return render_template("auth/account.html", form=form, password_form=password_form), 422


@bp.route("/account/language", methods=["POST"])
@login_required
def switch_language():
    """Switch the interface language from the menu, then come back to the same page."""
    language = request.form.get("language")
    if language in ("zh_CN", "en"):
        current_user.language = language
        db.session.commit()
        refresh()
    return redirect(safe_next(request.form.get("next")), 303)
