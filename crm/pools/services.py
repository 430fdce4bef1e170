"""The public pool's rules and writes (公海): claim (领取), release, assign from the pool,
transfer (转移), lock (锁定), the owner history, and the admin's pools and customer levels.
Nothing here commits: the route (or the scheduled job's runner) does.

Race safety. A claim takes the record with one atomic statement,

    UPDATE customers SET owner_id = :me ... WHERE id = :id AND owner_id IS NULL

so of two people claiming the same record at once exactly one updates a row; the other is
told who has it. Before that, every claim, lock and release first takes its user's row lock
(`UPDATE users SET id = id WHERE id = :me`: a row lock on PostgreSQL, the database's write
lock on SQLite), so that one person's two claims at once count each other against the daily
limit and the cap, and two locks at once against the lock cap."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, or_, select, update

from crm.audit.services import record as audit_record
from crm.extensions import db
from crm.models import (DEFAULT_LEVELS, HOWS, Customer, CustomerLevel, Lead, Opportunity,
                        OwnerChange, Pool, PoolLimit, PoolMember, User, utcnow)
from crm.permissions import can_use_pool
from crm.rules import RuleError

MODELS = {"customer": Customer, "lead": Lead}
ENTITIES = {"customer": "customers", "lead": "leads"}
MAX_CAP = 100_000
MAX_DAYS = 3650
RECORDED_KEY = "owner_changes_recorded"


class ClaimTaken(RuleError):
    """Someone claimed the record first: `owner_name` has it."""

    def __init__(self, owner_name: str):
        super().__init__(_l("%(name)s has just claimed it.", name=owner_name))
        self.owner_name = owner_name


def kind_of(record) -> str:
    return "customer" if isinstance(record, Customer) else "lead"


# --- the owner history -------------------------------------------------------------------------

def record_owner_change(kind: str, record_id: int, from_user_id: int | None,
                        to_user_id: int | None, how: str, *, reason: str | None = None,
                        pool_id: int | None = None, rule: str | None = None,
                        days: int | None = None, by=None, at: datetime | None = None) -> OwnerChange:
    """Write one line of a record's owner history (no commit). Every change of hands calls
    it: claim, release, assignment from the pool, transfer, the web-form assignment; the
    sweep writes the same rows set-based (crm.pools.sweep). An ORM change of owner_id that
    did not call it is recorded by the session listener (crm/pools/listeners.py) as assigned or
    transferred."""
    if how not in HOWS:
        raise ValueError(f"unknown owner change {how!r}")
    change = OwnerChange(record_kind=kind, record_id=record_id, from_user_id=from_user_id,
                         to_user_id=to_user_id, how=how, reason=(reason or "").strip() or None,
                         pool_id=pool_id, rule=rule, days=days,
                         by_user_id=getattr(by, "id", by), at=at or utcnow())
    db.session.add(change)
    db.session.info.setdefault(RECORDED_KEY, set()).add((kind, record_id))
    return change


# --- which pool ---------------------------------------------------------------------------------

def default_pool_id(kind: str) -> int | None:
    """The kind's first enabled pool: where an unowned record without a pool_id is."""
    return db.session.execute(
        select(Pool.id).where(Pool.kind == kind, Pool.enabled.is_(True))
        .order_by(Pool.position, Pool.id).limit(1)).scalar()


def pool_of(record) -> Pool | None:
    """The pool a record is in (unowned) or goes back to (owned): its own, unless that one
    is disabled (or gone), then the kind's first enabled pool."""
    pool = db.session.get(Pool, record.pool_id) if record.pool_id else None
    if pool is not None and pool.enabled:
        return pool
    pool_id = default_pool_id(kind_of(record))
    return db.session.get(Pool, pool_id) if pool_id else None


def in_pool_clause(model, pool: Pool, default_id: int | None):
    """WHERE: the records of `model` that belong to `pool` (owned or not)."""
    if pool.id == default_id:
        # The first enabled pool also holds what names no pool, or a disabled one.
        disabled = select(Pool.id).where(Pool.kind == pool.kind, Pool.enabled.is_(False))
        return or_(model.pool_id == pool.id, model.pool_id.is_(None), model.pool_id.in_(disabled))
    return model.pool_id == pool.id


def is_member(user, pool: Pool) -> bool:
    """crm.permissions.can_use_pool: may `user` claim from `pool`?"""
    return can_use_pool(user, pool)


def _limit(pool: Pool, user, name: str) -> int | None:
    """A user's cap in a pool: their own row, else their role's, else the pool's."""
    for want in ("user", "role"):
        for row in pool.limits:
            if (want == "user" and row.user_id == user.id) or (
                    want == "role" and row.user_id is None and row.role == user.role):
                value = getattr(row, name)
                if value is not None:
                    return value
    return getattr(pool, name)


def own_cap(pool: Pool, user) -> int | None:
    return _limit(pool, user, "own_cap")


def lock_cap(pool: Pool, user) -> int | None:
    return _limit(pool, user, "lock_cap")


def won_clause(model):
    """A customer with a won opportunity (a lead: converted)."""
    if model is Lead:
        return model.status == "converted"
    return exists().where(Opportunity.customer_id == model.id, Opportunity.status == "won",
                          Opportunity.deleted_at.is_(None))


def open_opportunity_clause(model):
    return exists().where(Opportunity.customer_id == model.id, Opportunity.status == "open",
                          Opportunity.deleted_at.is_(None))


def is_won(record) -> bool:
    model = MODELS[kind_of(record)]
    return bool(db.session.execute(select(won_clause(model)).select_from(model)
                                   .where(model.id == record.id)).scalar())


def owned_count(kind: str, user_id: int, *, count_won: bool = True) -> int:
    """How many records of `kind` the user owns (open leads only; won customers unless
    `count_won` is off)."""
    model = MODELS[kind]
    conditions = [model.owner_id == user_id, model.deleted_at.is_(None)]
    if model is Lead:
        conditions.append(Lead.status.notin_(("converted", "disqualified")))
    elif not count_won:
        conditions.append(~won_clause(model))
    return db.session.execute(select(func.count()).select_from(model).where(*conditions)).scalar_one()


def claims_today(kind: str, pool_id: int, user_id: int, since: datetime) -> int:
    return db.session.execute(select(func.count()).select_from(OwnerChange).where(
        OwnerChange.to_user_id == user_id, OwnerChange.how == "claimed",
        OwnerChange.record_kind == kind, OwnerChange.pool_id == pool_id,
        OwnerChange.at >= since)).scalar_one()


def in_cooldown(kind: str, record_id: int, user_id: int, days: int, now: datetime) -> bool:
    """Did the user release the record, or lose it to the pool, within `days`?"""
    if not days:
        return False
    return bool(db.session.execute(select(exists().where(
        OwnerChange.record_kind == kind, OwnerChange.record_id == record_id,
        OwnerChange.from_user_id == user_id, OwnerChange.how.in_(("released", "returned")),
        OwnerChange.at >= now - timedelta(days=days)))).scalar())


def _serialise(user_id: int) -> None:
    """Take the user's row lock for the rest of the transaction (see the module's docstring)."""
    db.session.execute(update(User).where(User.id == user_id).values(id=User.id)
                       .execution_options(synchronize_session=False))


def _owner_name(model, record_id: int) -> str:
    return db.session.execute(select(User.name).join(model, model.owner_id == User.id)
                              .where(model.id == record_id)).scalar() or "?"


def _take(model, record_id: int, values: dict) -> bool:
    """The atomic take: true when this statement gave the unowned record its owner."""
    result = db.session.execute(
        update(model).where(model.id == record_id, model.owner_id.is_(None),
                            model.deleted_at.is_(None))
        .values(**values, version=model.version + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _audit_owner(kind: str, record, old_name: str | None, new_name: str | None, user) -> None:
    audit_record(ENTITIES[kind], record.id, "update", "owner_id", old=old_name, new=new_name,
                 label=record.name, user=user)


def _refresh(record) -> None:
    db.session.refresh(record)


# --- claim, release, assign, transfer --------------------------------------------------------------

def claim(user, record, *, now: datetime | None = None, day_start: datetime | None = None):
    """领取: the user takes an unowned record from its pool. Rules, in order: the user is a
    member of the pool; the record is still in the pool (else ClaimTaken names who has it);
    not within the cool-down after they released or lost it; the pool's daily claim limit
    (claims per person per day, from `day_start`, the start of the user's today); their
    ownership cap (per user, else per role, else the pool's; won customers count unless the
    pool says not). The take itself is atomic (see the module's docstring)."""
    now = now or utcnow()
    kind = kind_of(record)
    model = MODELS[kind]
    _serialise(user.id)
    _refresh(record)
    if record.deleted_at is not None:
        raise RuleError(_l("This record is in the trash."))
    if record.owner_id is not None:
        if record.owner_id == user.id:
            raise RuleError(_l("It is already yours."))
        raise ClaimTaken(_owner_name(model, record.id))
    if kind == "lead" and record.status in ("converted", "disqualified"):
        raise RuleError(_l("A converted or disqualified lead cannot be claimed."))
    pool = pool_of(record)
    if pool is None or not pool.enabled:
        raise RuleError(_l("This record is in no enabled pool."))
    if not is_member(user, pool):
        raise RuleError(_l("You are not a member of this pool."))
    if in_cooldown(kind, record.id, user.id, pool.cooldown_days, now):
        raise RuleError(_l("You released or lost this record less than %(days)d days ago: "
                           "you may claim it again after the cool-down.", days=pool.cooldown_days))
    if pool.daily_claims is not None:
        since = day_start or (now - timedelta(days=1))
        if claims_today(kind, pool.id, user.id, since) >= pool.daily_claims:
            raise RuleError(_l("Daily claim limit reached: %(limit)d a day in this pool.",
                               limit=pool.daily_claims))
    cap = own_cap(pool, user)
    if cap is not None and owned_count(kind, user.id, count_won=pool.won_count_towards_cap) >= cap:
        raise RuleError(_l("Ownership cap reached: you may own at most %(cap)d.", cap=cap))
    values = {"owner_id": user.id, "owner_since": now, "pool_id": pool.id}
    if not _take(model, record.id, values):
        raise ClaimTaken(_owner_name(model, record.id))
    record_owner_change(kind, record.id, None, user.id, "claimed", pool_id=pool.id, by=user, at=now)
    _audit_owner(kind, record, None, user.name, user)
    _refresh(record)
    return record


def release(user, record, reason: str, *, now: datetime | None = None):
    """A salesperson puts their own record back in its pool, with a reason (required)."""
    now = now or utcnow()
    kind = kind_of(record)
    model = MODELS[kind]
    reason = (reason or "").strip()
    if not reason:
        raise RuleError(_l("Say why you release it."), field="reason")
    if len(reason) > 500:
        raise RuleError(_l("At most 500 characters."), field="reason")
    if record.owner_id != user.id and not user.is_manager:
        raise RuleError(_l("Only its owner releases a record."))
    if record.owner_id is None:
        raise RuleError(_l("It is in the pool already."))
    pool = pool_of(record)
    if pool is None:
        raise RuleError(_l("There is no enabled pool to release it to."))
    _serialise(user.id)
    old_owner = record.owner
    result = db.session.execute(
        update(model).where(model.id == record.id, model.owner_id == record.owner_id)
        .values(owner_id=None, owner_since=None, pool_id=pool.id, version=model.version + 1,
                **({"locked_at": None} if model is Customer else {}))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise RuleError(_l("Someone changed its owner a moment ago: reload the page."))
    record_owner_change(kind, record.id, old_owner.id, None, "released", reason=reason,
                        pool_id=pool.id, by=user, at=now)
    _audit_owner(kind, record, old_owner.name, None, user)
    _refresh(record)
    return record


def transfer(by, records: list, to_user: User | None, note: str | None = None, *,
             now: datetime | None = None) -> int:
    """转移: a manager gives records to `to_user` with an optional note (from the pool:
    assigned; from another owner: transferred). Caps do not bind a manager's decision.
    Returns how many changed hands."""
    if not by.is_manager:
        raise RuleError(_l("Only managers and admins transfer records."))
    if to_user is None or not to_user.active:
        raise RuleError(_l("Choose an active user to give them to."), field="owner_id")
    note = (note or "").strip() or None
    if note and len(note) > 500:
        raise RuleError(_l("At most 500 characters."), field="note")
    now = now or utcnow()
    changed = 0
    for record in records:
        if record.owner_id == to_user.id or record.deleted_at is not None:
            continue
        kind = kind_of(record)
        how = "assigned" if record.owner_id is None else "transferred"
        record_owner_change(kind, record.id, record.owner_id, to_user.id, how, reason=note,
                            pool_id=record.pool_id, by=by, at=now)
        record.owner_id = to_user.id      # audited by the listener
        record.owner_since = now
        if isinstance(record, Customer):
            record.locked_at = None
        changed += 1
    db.session.flush()
    return changed


# --- locking ------------------------------------------------------------------------------------

def lock(user, customer: Customer, *, now: datetime | None = None) -> None:
    """锁定: the owner keeps a customer out of the pool's rules, up to their lock cap (per
    user, else role, else the pool's). A won customer needs no lock when the pool exempts
    won customers."""
    if customer.owner_id != user.id:
        raise RuleError(_l("Only its owner locks a customer."))
    if customer.locked_at is not None:
        raise RuleError(_l("It is locked already."))
    pool = pool_of(customer)
    if pool is not None and pool.exempt_won and is_won(customer):
        raise RuleError(_l("A won customer needs no lock: no rule returns it to the pool."))
    _serialise(user.id)
    cap = lock_cap(pool, user) if pool is not None else None
    if cap is not None:
        locked = db.session.execute(select(func.count()).select_from(Customer).where(
            Customer.owner_id == user.id, Customer.locked_at.is_not(None),
            Customer.deleted_at.is_(None))).scalar_one()
        if locked >= cap:
            raise RuleError(_l("Lock cap reached: you may lock at most %(cap)d customers.", cap=cap))
    customer.locked_at = now or utcnow()   # audited by the listener
    db.session.flush()


def unlock(user, customer: Customer) -> None:
    if customer.owner_id != user.id and not user.is_manager:
        raise RuleError(_l("Only its owner unlocks a customer."))
    customer.locked_at = None
    db.session.flush()


# --- the admin's pools ------------------------------------------------------------------------------

def ensure_defaults() -> None:
    """The built-in levels A/B/C and one pool of each kind, once."""
    have = set(db.session.execute(select(CustomerLevel.key)).scalars())
    for position, key in enumerate(DEFAULT_LEVELS):
        if key not in have:
            db.session.add(CustomerLevel(key=key, position=position))
    kinds = set(db.session.execute(select(Pool.kind)).scalars())
    names = {"customer": ("客户公海", "Customer pool"), "lead": ("线索公海", "Lead pool")}
    for kind, (zh, en) in names.items():
        if kind not in kinds:
            db.session.add(Pool(kind=kind, name_zh=zh, name_en=en, enabled=True, level_days={}))
    db.session.flush()


def held_count(pool: Pool) -> int:
    """How many unowned records are in the pool now."""
    model = MODELS[pool.kind]
    default_id = default_pool_id(pool.kind)
    return db.session.execute(select(func.count()).select_from(model).where(
        model.owner_id.is_(None), model.deleted_at.is_(None),
        in_pool_clause(model, pool, default_id))).scalar_one()


def _other_enabled(pool: Pool) -> int:
    return db.session.execute(select(func.count()).select_from(Pool).where(
        Pool.kind == pool.kind, Pool.enabled.is_(True), Pool.id != pool.id)).scalar_one()


def check_may_go(pool: Pool) -> None:
    """A pool that holds records cannot be disabled or deleted; nor the last enabled pool of
    its kind."""
    held = held_count(pool)
    if held:
        raise RuleError(_l("This pool holds %(count)d records: move them to another pool first.",
                           count=held), field="enabled")
    if pool.enabled and not _other_enabled(pool):
        raise RuleError(_l("This is the last enabled pool of its kind: it cannot go."),
                        field="enabled")


def move_records(pool: Pool, target: Pool) -> int:
    """Move every unowned record of `pool` (and the owned ones that would go back to it) to
    `target`, one statement."""
    if target.id == pool.id or target.kind != pool.kind or not target.enabled:
        raise RuleError(_l("Choose another enabled pool of the same kind."), field="target_id")
    model = MODELS[pool.kind]
    default_id = default_pool_id(pool.kind)
    result = db.session.execute(update(model).where(in_pool_clause(model, pool, default_id))
                                .values(pool_id=target.id).execution_options(synchronize_session=False))
    return result.rowcount


def _check_number(value, field: str, *, low: int, high: int, allow_none: bool = True):
    if value is None:
        if allow_none:
            return None
        raise RuleError(_l("Enter a number."), field=field)
    if not isinstance(value, int) or value < low or value > high:
        raise RuleError(_l("Enter a whole number from %(low)d to %(high)d.", low=low, high=high),
                        field=field)
    return value


def save_pool(pool: Pool | None, values: dict, *, member_users: list[User], member_roles: list[str],
              role_caps: dict, level_days: dict) -> Pool:
    """Create or change a pool. Every number is checked (days 1..3650, caps 0..100,000); a pool
    being disabled must hold nothing and not be the last enabled one. `role_caps`:
    {role: (own_cap, lock_cap)}; `level_days`: {rule: {level_id: days}}."""
    for name in ("name_zh", "name_en"):
        text = (values.get(name) or "").strip()
        if not text:
            raise RuleError(_l("Enter a name."), field=name)
        if len(text) > 80:
            raise RuleError(_l("At most 80 characters."), field=name)
        values[name] = text
    for name in ("own_cap", "lock_cap", "daily_claims"):
        _check_number(values.get(name), name, low=0, high=MAX_CAP)
    _check_number(values.get("cooldown_days"), "cooldown_days", low=0, high=MAX_DAYS, allow_none=False)
    _check_number(values.get("warn_days"), "warn_days", low=0, high=MAX_DAYS, allow_none=False)
    for rule in ("no_followup", "no_open_opportunity", "not_won"):
        _check_number(values.get(f"{rule}_days"), f"{rule}_days", low=1, high=MAX_DAYS, allow_none=False)
        for level_id, days in (level_days.get(rule) or {}).items():
            _check_number(days, f"{rule}_level_{level_id}", low=1, high=MAX_DAYS)
    for role, caps in role_caps.items():
        for name, value in zip(("own_cap", "lock_cap"), caps):
            _check_number(value, f"{name}_{role}", low=0, high=MAX_CAP)
    known_levels = {str(i) for i in db.session.execute(select(CustomerLevel.id)).scalars()}
    clean_days = {rule: {str(k): v for k, v in days.items() if v is not None and str(k) in known_levels}
                  for rule, days in level_days.items()}
    if pool is None:
        pool = Pool(kind=values.get("kind") or "customer", level_days={})
        if pool.kind not in MODELS:
            raise RuleError(_l("Choose customers or leads."), field="kind")
        db.session.add(pool)
    elif pool.enabled and not values.get("enabled", True):
        check_may_go(pool)
    for name, value in values.items():
        if name != "kind":
            setattr(pool, name, value)
    pool.level_days = {rule: days for rule, days in clean_days.items() if days}
    pool.members = ([PoolMember(user_id=u.id) for u in member_users]
                    + [PoolMember(role=r) for r in member_roles])
    user_rows = [row for row in pool.limits if row.user_id is not None]
    pool.limits = user_rows + [PoolLimit(role=role, own_cap=own, lock_cap=lck)
                               for role, (own, lck) in role_caps.items()
                               if own is not None or lck is not None]
    db.session.flush()
    return pool


def set_user_limit(pool: Pool, user: User, own: int | None, lck: int | None) -> None:
    """A user's own caps in a pool (both None: the row goes)."""
    _check_number(own, "own_cap", low=0, high=MAX_CAP)
    _check_number(lck, "lock_cap", low=0, high=MAX_CAP)
    pool.limits = [row for row in pool.limits if row.user_id != user.id]
    if own is not None or lck is not None:
        pool.limits.append(PoolLimit(user_id=user.id, own_cap=own, lock_cap=lck))
    db.session.flush()


def delete_pool(pool: Pool) -> None:
    check_may_go(pool)
    db.session.delete(pool)
    db.session.flush()


# --- customer levels ---------------------------------------------------------------------------------

def save_level(level: CustomerLevel | None, name: str) -> CustomerLevel:
    name = (name or "").strip()
    if not name:
        raise RuleError(_l("Enter a name."), field="name")
    if len(name) > 80:
        raise RuleError(_l("At most 80 characters."), field="name")
    if level is None:
        top = db.session.execute(select(func.max(CustomerLevel.position))).scalar() or 0
        level = CustomerLevel(position=top + 1)
        db.session.add(level)
    level.name = name
    db.session.flush()
    return level


def level_in_use(level: CustomerLevel) -> int:
    """Customers and leads of this level, and pools giving it days of its own."""
    used = sum(db.session.execute(select(func.count()).select_from(m).where(
        m.level_id == level.id, m.deleted_at.is_(None))).scalar_one() for m in MODELS.values())
    pools = db.session.execute(select(Pool.level_days)).scalars()
    return used + sum(1 for days in pools if any(str(level.id) in (v or {}) for v in (days or {}).values()))


def delete_level(level: CustomerLevel) -> None:
    used = level_in_use(level)
    if used:
        raise RuleError(_l("This level is in use (%(count)d records or pool rules): "
                           "change them first.", count=used))
    db.session.delete(level)
    db.session.flush()


def move_level(level: CustomerLevel, step: int) -> None:
    """Reorder: swap with the neighbour above (step -1) or below (+1)."""
    levels = list(db.session.execute(select(CustomerLevel).order_by(
        CustomerLevel.position, CustomerLevel.id)).scalars())
    index = levels.index(level)
    other = index + step
    if 0 <= other < len(levels):
        levels[index], levels[other] = levels[other], levels[index]
    for position, item in enumerate(levels):
        item.position = position
    db.session.flush()


def check_level(level_id: int | None) -> None:
    """RuleError on level_id unless it is None (no level) or one of the levels."""
    if level_id is not None and db.session.get(CustomerLevel, level_id) is None:
        raise RuleError(_l("Choose a level from the list."), field="level_id")


def set_level(record, level_id: int | None) -> None:
    """A customer's or lead's level (客户级别)."""
    check_level(level_id)
    record.level_id = level_id
    db.session.flush()

