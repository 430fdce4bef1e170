"""Owner and sharing of a customer or an opportunity: the small panel on the record's page.

The owner, managers and admins share a record with other users (a share lets them see and
edit it); managers and admins give it to another owner; a salesperson takes an unowned record
they may edit. Registered on the customers and opportunities blueprints:

    POST /customers/<id>/shares                    user_id: share with this user
    POST /customers/<id>/shares/<user_id>/delete   stop sharing with this user (404 if not shared)
    POST /customers/<id>/owner                     owner_id: reassign (or take)

and the same under /opportunities. htmx callers get the panel back (a share) or are sent to
the page again (an owner change alters what the page offers); others get a 303 to the page,
or when refused the page itself (422) with the error beside the select it concerns.
The rules are those of crm.permissions: 403 when the user may not see the record, or may see
but not share / reassign it; 404 when it does not exist.
"""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, or_

from crm.extensions import db
from crm.htmx import fragment, is_htmx, redirect_to
from crm.models import Customer, Opportunity, User, customer_shares, opportunity_shares
from crm.permissions import (can_reassign, can_see_customer, can_see_opportunity, can_share,
                             can_take, clear_cache)

PANEL = "sharing/panel.html"

KINDS = {
    "customer": {"model": Customer, "blueprint": "customers", "arg": "customer_id",
                 "can_see": can_see_customer},
    "opportunity": {"model": Opportunity, "blueprint": "opportunities", "arg": "opportunity_id",
                    "can_see": can_see_opportunity},
}


class RecordUsers:
    """The users a record's page needs, read on first use in one query: every active user
    (owner, share and assignee choices), the record's owner and whoever it is shared with
    (even deactivated), each with whether the record is shared with them."""

    def __init__(self, kind: str, record):
        self.kind = kind
        self.record = record
        self._rows = None

    def _load(self) -> list[tuple[User, bool]]:
        if self._rows is None:
            table = customer_shares if self.kind == "customer" else opportunity_shares
            column = table.c.customer_id if self.kind == "customer" else table.c.opportunity_id
            record = self.record
            shared = exists().where(column == record.id, table.c.user_id == User.id)
            # The users of a team (tens of rows); each share found by its primary key.
            self._rows = [(user, bool(is_shared)) for user, is_shared in db.session.execute(
                db.select(User, shared.label("shared"))
                .where(or_(User.active.is_(True), User.id == record.owner_id, shared))
                .order_by(User.name, User.id))]
        return self._rows

    @property
    def shared(self) -> list[User]:
        """Who the record is shared with, by name."""
        return sorted((u for u, is_shared in self._load() if is_shared),
                      key=lambda u: (u.name or "").lower())

    @property
    def active(self) -> list[User]:
        """The active users, by name (who a task can be assigned to)."""
        return [u for u, _shared in self._load() if u.active]

    @property
    def active_and_owner(self) -> list[User]:
        """The active users and the owner even when deactivated (the owner choices)."""
        owner_id = self.record.owner_id
        return [u for u, _shared in self._load() if u.active or u.id == owner_id]


def sharing_context(kind: str, record, users: RecordUsers | None = None) -> dict:
    """What the panel shows: the owner, who it is shared with, and the forms the user may use
    (one query: `users`, which the page may share with its task panel)."""
    spec = KINDS[kind]
    users = users if users is not None else RecordUsers(kind, record)
    shared = users.shared
    may_share = can_share(current_user, record)
    may_reassign = can_reassign(current_user, record)
    candidates, owners = [], []
    if may_share or may_reassign:
        shared_ids = {u.id for u in shared}
        # Managers and admins see everything already: sharing is with salespeople.
        candidates = [u for u in users.active if u.role == "sales" and u.id != record.owner_id
                      and u.id not in shared_ids]
        owners = users.active_and_owner if may_reassign else []
    return {
        "kind": kind,
        "record": record,
        "shared": shared,
        "can_share": may_share,
        "can_reassign": may_reassign,
        "can_take": can_take(current_user, record) and not may_reassign,
        "candidates": candidates,
        "owners": owners,
        "share_url": url_for(f"{spec['blueprint']}.share_add", record_id=record.id),
        "owner_url": url_for(f"{spec['blueprint']}.reassign", record_id=record.id),
        "unshare_endpoint": f"{spec['blueprint']}.share_remove",
    }


def _page_url(kind: str, record) -> str:
    spec = KINDS[kind]
    return url_for(f"{spec['blueprint']}.show", **{spec["arg"]: record.id})


def _record(kind: str, record_id: int):
    """The record after the visibility check (404 missing or in the trash, 403 not visible)."""
    spec = KINDS[kind]
    record = db.get_or_404(spec["model"], record_id)
    if getattr(record, "deleted_at", None) is not None:
        abort(404)
    if not spec["can_see"](current_user, record):
        abort(403)
    return record


def _int(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _panel_response(kind: str, record, *, status: int = 200, error: str | None = None,
                    notice: str | None = None, field: str | None = None):
    """htmx gets the panel (a refusal: 422, the message on top). Without JavaScript a refusal
    is the record's page again, 422, the panel holding what was posted and the message beside
    `field` (the select it concerns); anything else a 303 to the page, the notice flashed."""
    if is_htmx():
        return fragment(PANEL, "panel", status=status,
                        sharing=sharing_context(kind, record), share_error=error, share_notice=notice)
    if error:
        return _page_with_panel_error(kind, record, field or "user_id", error)
    if notice:
        flash(notice, "success")
    return redirect(_page_url(kind, record) + "#sharing", 303)


def _page_with_panel_error(kind: str, record, field: str, error: str):
    """A panel form refused without JavaScript: the page the panel lives on, 422, with the
    posted choice kept where it is still offered and the error beside its select. Nothing was
    saved."""
    if kind == "opportunity":
        from crm.opportunities.routes import show_page
    else:
        from crm.customers.routes import show_page
    return show_page(record.id, status=422, share_field_errors={field: error},
                     share_posted={field: request.form.get(field, "")})


def _share_add(kind: str, record_id: int):
    """Share the record with a user (a salesperson, active, not its owner)."""
    record = _record(kind, record_id)
    if not can_share(current_user, record):
        abort(403)
    user = db.session.get(User, _int(request.form.get("user_id")) or 0)
    # Only those the panel offers: active salespeople other than the owner (managers and
    # admins see every record already).
    if user is None or not user.active or user.role != "sales" or user.id == record.owner_id:
        return _panel_response(kind, record, status=422, error=_("Choose a user to share with."),
                               field="user_id")
    if user not in record.shared_with:
        record.shared_with.append(user)
        db.session.commit()
        clear_cache()
    return _panel_response(kind, record, notice=_("Shared with %(name)s.", name=user.name))


def _share_remove(kind: str, record_id: int, user_id: int):
    """Stop sharing the record with a user. A user it is not shared with is 404, as one who
    does not exist: the answer names only someone the panel lists (never, say, a deactivated
    user found by trying ids)."""
    record = _record(kind, record_id)
    if not can_share(current_user, record):
        abort(403)
    user = next((u for u in record.shared_with if u.id == user_id), None)
    if user is None:
        abort(404)
    record.shared_with.remove(user)
    db.session.commit()
    clear_cache()
    return _panel_response(kind, record, notice=_("No longer shared with %(name)s.", name=user.name))


def _reassign(kind: str, record_id: int):
    """Give the record to another owner (managers and admins), or take an unowned one."""
    record = _record(kind, record_id)
    owner_id = _int(request.form.get("owner_id"))
    # Who may change the owner at all is checked before what they posted: someone who may
    # neither reassign nor take the record gets 403 whatever the owner id.
    taking = owner_id is not None and owner_id == current_user.id and can_take(current_user, record)
    if not (taking or can_reassign(current_user, record)):
        abort(403)
    owner = db.session.get(User, owner_id) if owner_id is not None else None
    if owner_id is not None and (owner is None or not owner.active):
        return _panel_response(kind, record, status=422, error=_("Choose an active user."),
                               field="owner_id")
    if kind == "opportunity" and owner is None:
        return _panel_response(kind, record, status=422, error=_("Choose an owner."),
                               field="owner_id")
    if owner_id != record.owner_id:
        from crm.concurrency import claim
        claim(record)  # an edit form opened before this sees the change as a conflict
        record.owner_id = owner_id
        db.session.commit()
        flash(_("%(name)s now owns this record.", name=owner.name) if owner
              else _("This record no longer has an owner."), "success")
    return redirect_to(_page_url(kind, record) + "#sharing")


def register(bp: Blueprint, kind: str) -> None:
    """Add the sharing routes of `kind` to its area's blueprint."""
    bp.add_url_rule("/<int:record_id>/shares", "share_add",
                    lambda record_id: _share_add(kind, record_id), methods=["POST"])
    bp.add_url_rule("/<int:record_id>/shares/<int:user_id>/delete", "share_remove",
                    lambda record_id, user_id: _share_remove(kind, record_id, user_id),
                    methods=["POST"])
    bp.add_url_rule("/<int:record_id>/owner", "reassign",
                    lambda record_id: _reassign(kind, record_id), methods=["POST"])
    bp.add_app_template_global(sharing_context, "sharing_context")
