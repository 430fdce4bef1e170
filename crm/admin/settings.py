"""Workspace settings (admins only): who sees which records."""
from flask import flash, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField

from crm.admin import bp
from crm.extensions import db
from crm.htmx import redirect_to
from crm.permissions import admin_required, set_team_sees_everything, team_sees_everything


class SettingsForm(FlaskForm):
    team_sees_everything = BooleanField(_l("The team sees everything"))


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
