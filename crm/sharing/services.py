"""Sharing and ownership of a customer or an opportunity: the rules and the writes (no commit:
the route commits). Who may do each is crm.permissions' can_share / can_reassign / can_take,
checked by the route before these run."""
from flask_babel import gettext as _

from crm.concurrency import claim
from crm.extensions import db
from crm.models import User
from crm.permissions import clear_cache
from crm.rules import RuleError


def share(record, user: User | None) -> bool:
    """Share `record` with `user`: only an active salesperson other than the owner (managers
    and admins see every record already). True when a share was added (False: it was there)."""
    if user is None or not user.active or user.role != "sales" or user.id == record.owner_id:
        raise RuleError(_("Choose a user to share with."), field="user_id")
    if user in record.shared_with:
        return False
    record.shared_with.append(user)
    db.session.flush()
    clear_cache()
    return True


def stop_sharing(record, user: User) -> None:
    """Stop sharing `record` with `user` (one it is shared with)."""
    record.shared_with.remove(user)
    db.session.flush()
    clear_cache()


def reassign(kind: str, record, owner_id: int | None) -> User | None:
    """Give `record` to the active user `owner_id`, or (a customer only) to nobody. Returns the
    new owner when the owner changed, raises RuleError naming `owner_id` otherwise refused.
    The change is claimed, so an edit form opened before it sees a conflict."""
    owner = db.session.get(User, owner_id) if owner_id is not None else None
    if owner_id is not None and (owner is None or not owner.active):
        raise RuleError(_("Choose an active user."), field="owner_id")
    if kind == "opportunity" and owner is None:
        raise RuleError(_("Choose an owner."), field="owner_id")
    if owner_id != record.owner_id:
        claim(record)
        record.owner_id = owner_id
    return owner
