"""Admin: users (list, create, edit, deactivate and reactivate) and the workspace settings
(who sees which records)."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.admin import queries, services
from crm.admin.forms import EditUserForm, SettingsForm, UserForm
from crm.auth.services import create_user
from crm.extensions import db
from crm.htmx import redirect_to
from crm.models import User
from crm.permissions import admin_required, set_team_sees_everything, team_sees_everything
from crm.rules import RuleError, apply_rule_error

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@admin_required
def users():
    """Every user, active first."""
    return render_template("admin/users.html", users=queries.users_in_order())


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def create():
    """Add a user with a first password."""
    form = UserForm()
    if form.validate_on_submit():
        user = create_user(email=form.email.data, name=form.name.data, password=form.password.data,
                           role=form.role.data, language=form.language.data,
                           timezone=form.timezone.data)
        db.session.commit()
        flash(_("User %(name)s was created.", name=user.name), "success")
        return redirect(url_for("admin.users"), 303)
    return render_template("admin/user_form.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@admin_required
def update(user_id: int):
    """Change a user's name, email, role, language, time zone or password."""
    user = db.get_or_404(User, user_id)
    form = EditUserForm(obj=user, user_id=user.id)
    if form.validate_on_submit():
        try:
            services.update_user(user, by=current_user, name=form.name.data, email=form.email.data,
                                 role=form.role.data, language=form.language.data,
                                 timezone=form.timezone.data, password=form.password.data)
        except RuleError as error:
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("User %(name)s was saved.", name=user.name), "success")
            return redirect(url_for("admin.users"), 303)
    return render_template("admin/user_form.html", form=form, user=user), 422 if form.errors else 200


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@admin_required
def deactivate(user_id: int):
    """A deactivated user cannot log in; everything they own stays."""
    user = db.get_or_404(User, user_id)
    try:
        services.deactivate_user(user, by=current_user)
    except RuleError as error:
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("%(name)s can no longer log in.", name=user.name), "success")
    return redirect(url_for("admin.users"), 303)


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@admin_required
def reactivate(user_id: int):
    """Let a deactivated user log in again."""
    user = db.get_or_404(User, user_id)
    services.reactivate_user(user)
    db.session.commit()
    flash(_("%(name)s can log in again.", name=user.name), "success")
    return redirect(url_for("admin.users"), 303)


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """The workspace settings: whether salespeople see (not edit) every record of the team."""
    form = SettingsForm()
    if form.validate_on_submit():
        set_team_sees_everything(form.team_sees_everything.data)
        db.session.commit()
        flash(_("The settings were saved."), "success")
        return redirect_to(url_for("admin.settings"))
    if not form.is_submitted():
        form.team_sees_everything.data = team_sees_everything()
    return render_template("admin/settings.html", form=form), 422 if form.errors else 200
