"""The sharing panel's routes: share, stop sharing, change the owner (see crm/sharing/__init__.py
for the URLs and answers)."""
from flask import Blueprint, abort, flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user

from crm.extensions import db
from crm.htmx import fragment, is_htmx, redirect_to
from crm.models import User
from crm.permissions import can_change_owner, can_share
from crm.responses import record_page
from crm.rules import RuleError
from crm.sharing import services
from crm.sharing.queries import page_url, record_or_404, sharing_context
from crm.validators import int_or_none

bp = Blueprint("sharing", __name__)

PANEL = "sharing/panel.html"


def _panel_response(kind: str, record, *, status: int = 200, error: str | None = None,
                    notice: str | None = None, field: str | None = None):
    """htmx gets the panel (a refusal: 422, the message on top). Without JavaScript a refusal
    is the record's page again, 422, the panel holding what was posted and the message beside
    `field` (the select it concerns); anything else a 303 to the page, the notice flashed."""
    if is_htmx():
        return fragment(PANEL, "panel", status=status,
                        sharing=sharing_context(kind, record), share_error=error, share_notice=notice)
    if error:
        field = field or "user_id"
        # Nothing was saved; the posted choice is kept where it is still offered.
        return record_page(kind, record.id, status=422, share_field_errors={field: error},
                           share_posted={field: request.form.get(field, "")})
    if notice:
        flash(notice, "success")
    return redirect(page_url(kind, record) + "#sharing", 303)


def _share_add(kind: str, record_id: int):
    """Share the record with a user (a salesperson, active, not its owner)."""
    record = record_or_404(kind, record_id)
    if not can_share(current_user, record):
        abort(403)
    user = db.session.get(User, int_or_none(request.form.get("user_id")) or 0)
    try:
        services.share(record, user)
    except RuleError as error:  # raised before anything changed
        return _panel_response(kind, record, status=422, error=str(error), field=error.field)
    db.session.commit()
    return _panel_response(kind, record, notice=_("Shared with %(name)s.", name=user.name))


def _share_remove(kind: str, record_id: int, user_id: int):
    """Stop sharing the record with a user. A user it is not shared with is 404, as one who
    does not exist: the answer names only someone the panel lists (never, say, a deactivated
    user found by trying ids)."""
    record = record_or_404(kind, record_id)
    if not can_share(current_user, record):
        abort(403)
    user = next((u for u in record.shared_with if u.id == user_id), None)
    if user is None:
        abort(404)
    services.stop_sharing(record, user)
    db.session.commit()
    return _panel_response(kind, record, notice=_("No longer shared with %(name)s.", name=user.name))


def _reassign(kind: str, record_id: int):
    """Give the record to another owner (managers and admins), or take an unowned one."""
    record = record_or_404(kind, record_id)
    owner_id = int_or_none(request.form.get("owner_id"))
    # Who may change the owner at all is checked before what they posted: someone who may
    # neither reassign nor take the record gets 403 whatever the owner id.
    if not can_change_owner(current_user, record, owner_id):
        abort(403)
    changed = owner_id != record.owner_id
    try:
        owner = services.reassign(kind, record, owner_id)
    except RuleError as error:  # raised before anything changed
        return _panel_response(kind, record, status=422, error=str(error), field=error.field)
    if changed:
        db.session.commit()
        flash(_("%(name)s now owns this record.", name=owner.name) if owner
              else _("This record no longer has an owner."), "success")
    return redirect_to(page_url(kind, record) + "#sharing")


def _routes(kind: str, prefix: str) -> None:
    bp.add_url_rule(f"{prefix}/<int:record_id>/shares", f"{kind}_share_add",
                    lambda record_id: _share_add(kind, record_id), methods=["POST"])
    bp.add_url_rule(f"{prefix}/<int:record_id>/shares/<int:user_id>/delete", f"{kind}_share_remove",
                    lambda record_id, user_id: _share_remove(kind, record_id, user_id),
                    methods=["POST"])
    bp.add_url_rule(f"{prefix}/<int:record_id>/owner", f"{kind}_reassign",
                    lambda record_id: _reassign(kind, record_id), methods=["POST"])


_routes("customer", "/customers")
_routes("opportunity", "/opportunities")
bp.add_app_template_global(sharing_context, "sharing_context")
