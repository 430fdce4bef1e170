"""The public pool's reads: the pools a member may use, a pool's page of records (with each
record's previous owner), a record's owner history and notes, "returning to the pool soon",
the panel on the customer and lead pages, the admin's pools and levels."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import g, has_request_context
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from crm.extensions import db
from crm.models import (Customer, CustomerLevel, Lead, Note, OwnerChange, Pool, User, utcnow)
from crm.permissions import sees_everything, visible_customers_clause, visible_leads_clause
from crm.pools.services import MODELS, in_pool_clause, is_member, is_won, lock_cap
from crm.pools.sweep import soon_ids
from crm.search import like_escape, query_terms

PAGE_SIZE = 30
KINDS = ("customer", "lead")


def all_pools() -> list[Pool]:
    """Every pool with its members and limits, by kind and position (once per request)."""
    cache = g.setdefault("_crm_pools", None) if has_request_context() else None
    if cache is not None:
        return cache
    pools = list(db.session.execute(
        select(Pool).options(selectinload(Pool.members), selectinload(Pool.limits))
        .order_by(Pool.kind, Pool.position, Pool.id)).scalars())
    if has_request_context():
        g._crm_pools = pools
    return pools


def member_pools(user, kind: str | None = None) -> list[Pool]:
    """The enabled pools `user` may claim from (of `kind`)."""
    return [p for p in all_pools() if p.enabled and (kind is None or p.kind == kind)
            and is_member(user, p)]


def defaults() -> dict:
    first = {}
    for pool in all_pools():
        if pool.enabled and pool.kind not in first:
            first[pool.kind] = pool.id
    return {kind: first.get(kind) for kind in KINDS}


def levels() -> list[CustomerLevel]:
    return list(db.session.execute(select(CustomerLevel).order_by(
        CustomerLevel.position, CustomerLevel.id)).scalars())


def mask_phone(value: str | None) -> str | None:
    """138****8000: the first three and last four digits of a long number, else stars."""
    if not value:
        return value
    text = value.strip()
    if len(text) <= 4:
        return "*" * len(text)
    keep_end = 4 if len(text) >= 11 else 2
    return text[:3] + "*" * max(len(text) - 3 - keep_end, 2) + text[-keep_end:]


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return mask_phone(value)
    name, domain = value.split("@", 1)
    return f"{name[:1]}***@{domain}"


@dataclass
class PoolRow:
    kind: str
    id: int
    name: str
    company: str | None
    phone: str | None
    email: str | None
    where: str | None
    level: str | None
    updated_at: object
    last_owner: str | None = None
    returned_how: str | None = None
    returned_rule: str | None = None
    returned_at: object = None


@dataclass
class PoolPage:
    pool: Pool
    rows: list[PoolRow] = field(default_factory=list)
    total: int = 0
    page: int = 1
    q: str = ""


def _search(model, q: str) -> list:
    return [model.search_index.like(f"%{like_escape(t)}%", escape="\\") for t in query_terms(q)]


def pool_page(user, pool: Pool, q: str = "", page: int = 1) -> PoolPage:
    """A page of the pool's records, newest first, with each one's last owner and how they
    lost it: three statements whatever the number of rows. Contact details are masked for
    members when the pool says so (managers see them)."""
    model = MODELS[pool.kind]
    default_id = defaults().get(pool.kind)
    where = [model.owner_id.is_(None), model.deleted_at.is_(None),
             in_pool_clause(model, pool, default_id), *_search(model, q)]
    if model is Lead:
        where.append(Lead.status.notin_(("converted", "disqualified")))
    total = db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    level = aliased(CustomerLevel)
    records = db.session.execute(
        select(model, level).outerjoin(level, level.id == model.level_id).where(*where)
        .order_by(model.updated_at.desc(), model.id.desc())
        .limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)).all()
    mask = pool.mask_contacts and not user.is_manager
    rows = []
    for record, record_level in records:
        if model is Customer:
            phone, email, company = record.phone, record.email, None
            where_text = " · ".join(v for v in (record.industry, record.region) if v) or None
        else:
            phone, email, company = record.phone or record.mobile, record.email, record.company
            where_text = record.region
        rows.append(PoolRow(pool.kind, record.id, record.name, company,
                            mask_phone(phone) if mask else phone,
                            mask_email(email) if mask else email, where_text,
                            record_level.label if record_level else None, record.updated_at))
    _last_owners(pool.kind, rows)
    return PoolPage(pool, rows, total, page, q)


def _last_owners(kind: str, rows: list[PoolRow]) -> None:
    """Each row's latest owner change that emptied it (who had it, how, which rule): one query."""
    if not rows:
        return
    latest = (select(OwnerChange.record_id, func.max(OwnerChange.id).label("id"))
              .where(OwnerChange.record_kind == kind, OwnerChange.to_user_id.is_(None),
                     OwnerChange.record_id.in_([r.id for r in rows]))
              .group_by(OwnerChange.record_id).subquery())
    found = {rid: (name, how, rule, at) for rid, name, how, rule, at in db.session.execute(
        select(OwnerChange.record_id, User.name, OwnerChange.how, OwnerChange.rule, OwnerChange.at)
        .join(latest, latest.c.id == OwnerChange.id)
        .outerjoin(User, User.id == OwnerChange.from_user_id))}
    for row in rows:
        if row.id in found:
            row.last_owner, row.returned_how, row.returned_rule, row.returned_at = found[row.id]


def pool_record(kind: str, record_id: int):
    """An unowned record in an enabled pool (for its pool page), or None."""
    model = MODELS[kind]
    record = db.session.get(model, record_id)
    if record is None or record.deleted_at is not None:
        return None
    return record


def owner_history(kind: str, record_id: int, limit: int = 50) -> list[OwnerChange]:
    """The record's owner history, newest first, with the users' names: one query."""
    from_user, to_user, by_user = aliased(User), aliased(User), aliased(User)
    rows = db.session.execute(
        select(OwnerChange, from_user.name, to_user.name, by_user.name, Pool)
        .outerjoin(from_user, from_user.id == OwnerChange.from_user_id)
        .outerjoin(to_user, to_user.id == OwnerChange.to_user_id)
        .outerjoin(by_user, by_user.id == OwnerChange.by_user_id)
        .outerjoin(Pool, Pool.id == OwnerChange.pool_id)
        .where(OwnerChange.record_kind == kind, OwnerChange.record_id == record_id)
        .order_by(OwnerChange.at.desc(), OwnerChange.id.desc()).limit(limit)).all()
    history = []
    for change, from_name, to_name, by_name, pool in rows:
        change.from_name, change.to_name, change.by_name, change.pool_row = (
            from_name, to_name, by_name, pool)
        history.append(change)
    return history


def record_notes(kind: str, record_id: int, limit: int = 20) -> list[Note]:
    """The record's latest follow-up notes (shown to pool members with its history)."""
    link = Note.customer_id if kind == "customer" else Note.lead_id
    return list(db.session.execute(
        select(Note).options(selectinload(Note.author)).where(link == record_id, Note.deleted_at.is_(None))
        .order_by(Note.happened_at.desc()).limit(limit)).scalars())


def soon_rows(user, *, everyone: bool = False, now=None) -> list:
    """"Returning to the pool soon": the user's records (a manager: everyone's) some rule
    returns within the pool's warning days; customers then leads, longest held first."""
    now = now or utcnow()
    pools = [p for p in all_pools() if p.enabled]
    found = []
    for kind, model in MODELS.items():
        ids = soon_ids(model, pools, defaults(), now, None if everyone else user.id)
        if ids is None:
            continue
        rows = db.session.execute(
            select(model.id, model.name, User.name, model.owner_since).join(User, User.id == model.owner_id)
            .where(model.id.in_(ids)).order_by(model.owner_since, model.id).limit(100)).all()
        found += [(kind, *row) for row in rows]
    return found


def soon_count(user, now=None) -> int:
    """How many of the user's records return soon (the /pool tab's badge): one count per kind
    whose pools warn."""
    now = now or utcnow()
    pools = [p for p in all_pools() if p.enabled]
    total = 0
    for model in MODELS.values():
        ids = soon_ids(model, pools, defaults(), now, user.id)
        if ids is not None:
            total += db.session.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
    return total


def record_panel(user, record) -> dict:
    """What the pool panel of a customer or lead page shows: its pool, claim / release /
    lock / transfer as the user may, and the owner history."""
    kind = "customer" if isinstance(record, Customer) else "lead"
    pools = all_pools()
    default_id = defaults().get(kind)
    pool = next((p for p in pools if p.id == (record.pool_id or default_id)), None)
    mine = record.owner_id == user.id
    won = is_won(record) if kind == "customer" and mine else False
    return {
        "kind": kind, "record": record, "pool": pool,
        "in_pool": record.owner_id is None and pool is not None and pool.enabled,
        "may_claim": record.owner_id is None and pool is not None and pool.enabled
        and is_member(user, pool),
        "may_release": mine and pool is not None,
        "may_transfer": user.is_manager,
        "may_lock": kind == "customer" and mine and record.locked_at is None
        and not (won and pool is not None and pool.exempt_won),
        "won_no_lock": won and pool is not None and pool.exempt_won,
        "may_unlock": kind == "customer" and record.locked_at is not None
        and (mine or user.is_manager),
        "lock_cap": lock_cap(pool, user) if pool is not None else None,
        "history": owner_history(kind, record.id, limit=20),
        "users": transfer_candidates() if user.is_manager else [],
        "levels": levels(),
    }


def transfer_candidates() -> list[User]:
    return list(db.session.execute(select(User).where(User.active.is_(True)).order_by(User.name)).scalars())


def visible_records(user, kind: str, ids: list[int]) -> list:
    """The records of `ids` the user may see (for a bulk transfer): one query."""
    model = MODELS[kind]
    clause = visible_customers_clause(user) if model is Customer else visible_leads_clause(user)
    if sees_everything(user):
        clause = model.id.is_not(None)
    return list(db.session.execute(select(model).where(model.id.in_(ids), clause)).scalars())


def pool_for_page(pool_id: int | None, kind: str, user) -> Pool | None:
    pools = member_pools(user, kind)
    if pool_id is not None:
        return next((p for p in pools if p.id == pool_id), None)
    return pools[0] if pools else None

