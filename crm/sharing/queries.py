"""Reads for the sharing panel: the record (after its permission check), the users a record's
page needs, and what the panel shows."""
from flask import url_for
from flask_login import current_user
from sqlalchemy import exists, or_

from crm.extensions import db
from crm.models import Customer, Opportunity, User, customer_shares, opportunity_shares
from crm.permissions import (can_reassign, can_see_customer, can_see_opportunity, can_share, can_take,
                             checked)

KINDS = {
    "customer": {"model": Customer, "page": "customers.show", "arg": "customer_id",
                 "can_see": can_see_customer},
    "opportunity": {"model": Opportunity, "page": "opportunities.show", "arg": "opportunity_id",
                    "can_see": can_see_opportunity},
}


def record_or_404(kind: str, record_id: int):
    """The customer or opportunity after the visibility check (404 missing or in the trash,
    403 not visible)."""
    spec = KINDS[kind]
    record = db.session.get(spec["model"], record_id)
    if record is not None and record.deleted_at is not None:
        record = None
    return checked(record, spec["can_see"])


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
        "share_url": url_for(f"sharing.{kind}_share_add", record_id=record.id),
        "owner_url": url_for(f"sharing.{kind}_reassign", record_id=record.id),
        "unshare_endpoint": f"sharing.{kind}_share_remove",
    }


def page_url(kind: str, record) -> str:
    """The record's page."""
    spec = KINDS[kind]
    return url_for(spec["page"], **{spec["arg"]: record.id})
