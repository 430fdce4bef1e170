"""The owner history's session listener: an owner change made through the ORM anywhere (the
edit form, the sharing panel, a bulk assign, an assignment rule) is in the history, and starts
the record's owner_since. create_app installs it."""
from __future__ import annotations

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from crm.audit.services import current_user_id
from crm.models import Customer, Lead, OwnerChange, utcnow
from crm.pools.services import RECORDED_KEY, kind_of


def before_flush(session: Session, _context, _instances) -> None:
    """For each customer or lead whose owner_id changed: owner_since becomes now (unless set in
    the same change), a customer's lock goes (a lock is its owner's), and, unless
    record_owner_change recorded this change already, a history line says assigned,
    transferred or released."""
    recorded = session.info.get(RECORDED_KEY, set())
    for obj in list(session.dirty):
        if not isinstance(obj, (Customer, Lead)):
            continue
        history = inspect(obj).attrs.owner_id.history
        if not history.added or obj.id is None:
            continue
        new = history.added[0]
        if history.deleted:
            old = history.deleted[0]
        elif history.unchanged:
            continue
        else:  # set while unloaded: the stored value, before this flush
            model = type(obj)
            old = session.execute(select(model.owner_id).where(model.id == obj.id)
                                  .execution_options(include_deleted=True)).scalar()
        if old == new:
            continue
        if not inspect(obj).attrs.owner_since.history.added:
            obj.owner_since = utcnow() if new is not None else None
        if isinstance(obj, Customer) and not inspect(obj).attrs.locked_at.history.added:
            obj.locked_at = None
        kind = kind_of(obj)
        if (kind, obj.id) in recorded:
            recorded.discard((kind, obj.id))
            continue
        how = "transferred" if old is not None and new is not None else (
            "assigned" if new is not None else "released")
        session.add(OwnerChange(record_kind=kind, record_id=obj.id, from_user_id=old,
                                to_user_id=new, how=how, by_user_id=current_user_id(),
                                at=utcnow()))


def forget(session: Session, *_args) -> None:
    session.info.pop(RECORDED_KEY, None)


def install() -> None:
    """Listen on every ORM session (idempotent: the app factory may run more than once in a
    process, and a second listener would write every history line twice)."""
    for name, listener in (("before_flush", before_flush), ("after_commit", forget),
                           ("after_soft_rollback", forget)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
