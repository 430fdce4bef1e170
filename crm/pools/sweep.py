"""The reclaim rules (回收规则) applied by the scheduled job: each enabled pool's rules return
owned records to it when their time is up, and warn the owners D days before.

Three rules per pool, each on or off, each with days for all levels or a level's own days
(pool.level_days), counted from the day the owner received the record (owner_since, else
its creation):
- no_followup: no follow-up note (and, for a lead, no contact) since the later of the day
  received and N days ago;
- no_open_opportunity (customers): no open opportunity, N days after received;
- not_won: no won opportunity (a lead: not converted), N days after received.
Never returned: locked customers (锁定), customers with a won opportunity or an open one
when the pool exempts them, converted and disqualified leads, records in the trash.

Set-based: per pool, rule and level, the return is ONE UPDATE over every matching row,
with its owner history (one INSERT ... SELECT) and its audit entries (one INSERT ...
SELECT) beside it; no loop over rows. Time is injected (`now`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from sqlalchemy import (Boolean, Integer, String, Text, and_, case, exists, func, literal, or_,
                        select, true, union, update)

from crm.audit.services import is_paused
from crm.extensions import db
from crm.models import (AuditEntry, Customer, Lead, Note, OwnerChange, Pool, Task, User,
                        UTCDateTime, utcnow)
from crm.pools.services import (ENTITIES, MODELS, default_pool_id, in_pool_clause,
                                open_opportunity_clause, won_clause)

RULES_FOR = {"customer": ("no_followup", "no_open_opportunity", "not_won"),
             "lead": ("no_followup", "not_won")}


def received(model):
    return func.coalesce(model.owner_since, model.created_at)


def rule_clause(model, rule: str, days: int, at: datetime):
    """WHERE: the rule would return the record at `at`."""
    cutoff = at - timedelta(days=days)
    base = received(model) < cutoff
    if rule == "no_followup":
        on_record = Note.customer_id == model.id if model is Customer else Note.lead_id == model.id
        recent = exists().where(on_record, Note.happened_at >= cutoff, Note.deleted_at.is_(None))
        clause = and_(base, ~recent)
        if model is Lead:
            clause = and_(clause, or_(Lead.last_contact_at.is_(None), Lead.last_contact_at < cutoff))
        return clause
    if rule == "no_open_opportunity":
        return and_(base, ~open_opportunity_clause(model))
    if rule == "not_won":
        return and_(base, ~won_clause(model))
    raise ValueError(rule)


def candidates_clause(model, pool: Pool, default_id: int | None):
    """WHERE: the owned records the pool's rules may return (exemptions and locks applied)."""
    conditions = [model.owner_id.is_not(None), model.deleted_at.is_(None),
                  in_pool_clause(model, pool, default_id)]
    if model is Customer:
        conditions.append(Customer.locked_at.is_(None))
        if pool.exempt_won:
            conditions.append(~won_clause(Customer))
        if pool.exempt_open_opportunity:
            conditions.append(~open_opportunity_clause(Customer))
    else:
        conditions.append(Lead.status.notin_(("converted", "disqualified")))
    return and_(*conditions)


def level_parts(model, pool: Pool, rule: str) -> list[tuple]:
    """(WHERE on the level, days) of each statement a rule needs: one per level with days of
    its own, and one for the rest (every level when none has its own)."""
    own = {int(k): int(v) for k, v in ((pool.level_days or {}).get(rule) or {}).items()}
    parts = [(model.level_id == level_id, days) for level_id, days in sorted(own.items())]
    rest = or_(model.level_id.is_(None), model.level_id.notin_(list(own))) if own else true()
    parts.append((rest, pool.rule_days(rule)))
    return parts


def active_rules(pool: Pool) -> list[str]:
    return [rule for rule in RULES_FOR[pool.kind] if pool.rule_on(rule)]


def enabled_pools() -> list[Pool]:
    return list(db.session.execute(select(Pool).where(Pool.enabled.is_(True))
                                   .order_by(Pool.kind, Pool.position, Pool.id)).scalars())


@dataclass
class SweepResult:
    returned: int = 0
    warned: int = 0
    statements: int = 0

    def summary(self) -> str:
        return f"returned {self.returned} record(s) to their pools, warned {self.warned} owner(s)"


def _return(model, kind: str, pool: Pool, rule: str, days: int, where, now: datetime,
            result: SweepResult) -> None:
    """One rule at one level: the owner history, the audit entries, the return."""
    history = OwnerChange.__table__
    rows = select(model.id, model.owner_id, literal(kind, String), literal("returned", String),
                  literal(pool.id, Integer), literal(rule, String), literal(days, Integer),
                  literal(now, UTCDateTime)).where(where)
    inserted = db.session.execute(history.insert().from_select(
        ["record_id", "from_user_id", "record_kind", "how", "pool_id", "rule", "days", "at"], rows))
    result.statements += 1
    if not inserted.rowcount:
        return
    # The rows just written name this statement's records (the same now, rule, days, pool);
    # those already returned by an earlier level's statement are nobody's by now.
    batch = select(OwnerChange.record_id).where(
        OwnerChange.record_kind == kind, OwnerChange.how == "returned",
        OwnerChange.pool_id == pool.id, OwnerChange.rule == rule, OwnerChange.days == days,
        OwnerChange.at == now)
    still_owned = and_(model.id.in_(batch), model.owner_id.is_not(None))
    if not is_paused():
        text = f"{pool.name_en} / {pool.name_zh}: {rule} {days}d"
        audit = select(literal(now, UTCDateTime), literal(None, Integer), literal("update", String),
                       literal(ENTITIES[kind], String), model.id, literal("owner_id", String),
                       User.name, literal(text, Text), func.substr(model.name, 1, 200)) \
            .join(User, User.id == model.owner_id).where(still_owned)
        db.session.execute(AuditEntry.__table__.insert().from_select(
            ["at", "user_id", "action", "entity", "entity_id", "field", "old_value", "new_value",
             "label"], audit))
        result.statements += 1
    values = {"owner_id": None, "owner_since": None, "pool_id": pool.id,
              "version": model.version + 1}
    if model is Customer:
        values["locked_at"] = None
    done = db.session.execute(update(model).where(still_owned).values(**values)
                              .execution_options(synchronize_session=False))
    result.statements += 1
    result.returned += done.rowcount


def _titles(days: int) -> tuple[str, str]:
    titles = []
    for locale in ("zh_CN", "en"):
        with force_locale(locale):
            titles.append(gettext("Follow up: back to the pool in %(days)d days", days=days))
    return titles[0], titles[1]


def _warn(model, kind: str, pool: Pool, rule: str, days: int, level_where, now: datetime,
          default_id, result: SweepResult) -> None:
    """A task for each owner whose record this rule returns within the pool's warn_days
    (once per record and owner while the task is open)."""
    ahead = now + timedelta(days=pool.warn_days)
    title_zh, title_en = _titles(pool.warn_days)
    link = Task.customer_id if model is Customer else Task.lead_id
    already = exists().where(link == model.id, Task.assignee_id == model.owner_id,
                             Task.done.is_(False), Task.deleted_at.is_(None),
                             Task.title.in_((title_zh, title_en)))
    where = and_(candidates_clause(model, pool, default_id), level_where,
                 rule_clause(model, rule, days, ahead), ~rule_clause(model, rule, days, now), ~already)
    title = case((User.language.like("zh%"), literal(title_zh, String)), else_=literal(title_en, String))
    rows = select(title, literal(ahead, UTCDateTime), model.owner_id, model.id,
                  literal(now, UTCDateTime), literal(False, Boolean)) \
        .join(User, User.id == model.owner_id).where(where)
    inserted = db.session.execute(Task.__table__.insert().from_select(
        ["title", "due_at", "assignee_id", link.key, "created_at", "done"], rows)
        .returning(Task.__table__.c.id))
    result.statements += 1
    result.warned += len(inserted.all())


def sweep(now: datetime | None = None) -> SweepResult:
    """Apply every enabled pool's rules at `now`: warnings first, then the returns."""
    now = now or utcnow()
    result = SweepResult()
    defaults = {kind: default_pool_id(kind) for kind in MODELS}
    for pool in enabled_pools():
        model, kind = MODELS[pool.kind], pool.kind
        for rule in active_rules(pool):
            for level_where, days in level_parts(model, pool, rule):
                if pool.warn_days:
                    _warn(model, kind, pool, rule, days, level_where, now, defaults[kind], result)
                where = and_(candidates_clause(model, pool, defaults[kind]), level_where,
                             rule_clause(model, rule, days, now))
                _return(model, kind, pool, rule, days, where, now, result)
    return result


def run_sweep() -> str:
    """The scheduled job (crm/jobs/schedules.py)."""
    return sweep(utcnow()).summary()


def soon_ids(model, pools: list[Pool], defaults: dict, now: datetime, owner_id: int | None = None):
    """The ids of owned records some rule returns within their pool's warn_days (not yet
    due): a UNION of one SELECT per pool, rule and level, each of which the database plans
    as its own anti-joins (an OR of them would run the subqueries row by row); None when no
    pool warns."""
    parts = []
    kind = "customer" if model is Customer else "lead"
    for pool in pools:
        if pool.kind != kind or not pool.warn_days:
            continue
        ahead = now + timedelta(days=pool.warn_days)
        for rule in active_rules(pool):
            for level_where, days in level_parts(model, pool, rule):
                where = [candidates_clause(model, pool, defaults[pool.kind]), level_where,
                         rule_clause(model, rule, days, ahead)]
                if owner_id is not None:
                    where.append(model.owner_id == owner_id)
                parts.append(select(model.id).where(*where))
    if not parts:
        return None
    return union(*parts) if len(parts) > 1 else parts[0]
