"""Reads of duplicates: the page's likely pairs, from the precomputed table (duplicate_pairs,
crm.duplicates.refresh), only those whose two records the user may see and neither is in
the trash; the user's recent merges; the last refresh. A fixed number of statements
whatever the number of records."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import Contact, Customer, DuplicatePair, Job, Merge
from crm.permissions import visible_customers_clause

PAGE = 100


def _visible(entity: str, id_column, user):
    """WHERE: the record of `entity` with this id is one the user may see (not in the trash)."""
    if entity == "customer":
        return id_column.in_(select(Customer.id).where(visible_customers_clause(user)))
    return id_column.in_(select(Contact.id).join(Customer, Customer.id == Contact.customer_id)
                         .where(visible_customers_clause(user)))


def pairs_context(entity: str, user) -> dict:
    """The likely pairs (highest score first) with their records, the recent merges, the
    refresh state."""
    model = Customer if entity == "customer" else Contact
    low, high = aliased(model), aliased(model)
    rows = db.session.execute(
        select(DuplicatePair, low, high)
        .join(low, low.id == DuplicatePair.low_id).join(high, high.id == DuplicatePair.high_id)
        .where(DuplicatePair.entity == entity,
               _visible(entity, DuplicatePair.low_id, user),
               _visible(entity, DuplicatePair.high_id, user))
        .order_by(DuplicatePair.score.desc(), DuplicatePair.low_id, DuplicatePair.high_id)
        .limit(PAGE)).all()
    merges = db.session.scalars(select(Merge).where(Merge.entity == entity,
                                                    Merge.user_id == user.id)
                                .order_by(Merge.created_at.desc(), Merge.id.desc())
                                .limit(10)).all()
    computed_at = db.session.scalar(select(func.max(DuplicatePair.computed_at))
                                    .where(DuplicatePair.entity == entity))
    job = db.session.scalars(select(Job).where(Job.kind == "duplicates")
                             .order_by(Job.created_at.desc(), Job.id.desc()).limit(1)).first()
    return {"pairs": [(pair, a, b) for pair, a, b in rows], "merges": merges, "kind": entity,
            "computed_at": computed_at, "last_job": job}
