"""Reads of duplicates: the page's likely pairs, from the precomputed table (duplicate_pairs,
crm.duplicates.refresh), only those whose two records the user may see and neither is in
the trash; the user's recent merges; the last refresh; a customer's likely duplicates (the
hint on its page) and its contacts' (the contacts' merge). A fixed number of statements
whatever the number of records."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import Contact, Customer, DuplicatePair, Job, Lead, Merge
from crm.permissions import visible_customers_clause, visible_leads_clause

PAGE = 100
HINTS = 3
MODELS = {"customer": Customer, "contact": Contact, "lead": Lead}


def _visible(entity: str, id_column, user):
    """WHERE: the record of `entity` with this id is one the user may see (not in the trash)."""
    if entity == "customer":
        return id_column.in_(select(Customer.id).where(visible_customers_clause(user)))
    if entity == "lead":
        return id_column.in_(select(Lead.id).where(visible_leads_clause(user),
                                                   Lead.status != "converted"))
    return id_column.in_(select(Contact.id).join(Customer, Customer.id == Contact.customer_id)
                         .where(visible_customers_clause(user)))


def _pairs(entity: str, user, *conditions, limit: int = PAGE) -> list:
    model = MODELS[entity]
    low, high = aliased(model), aliased(model)
    rows = db.session.execute(
        select(DuplicatePair, low, high)
        .join(low, low.id == DuplicatePair.low_id).join(high, high.id == DuplicatePair.high_id)
        .where(DuplicatePair.entity == entity,
               _visible(entity, DuplicatePair.low_id, user),
               _visible(entity, DuplicatePair.high_id, user), *conditions)
        .order_by(DuplicatePair.score.desc(), DuplicatePair.low_id, DuplicatePair.high_id)
        .limit(limit)).all()
    return [(pair, a, b) for pair, a, b in rows]


def pairs_context(entity: str, user, customer: Customer | None = None) -> dict:
    """The likely pairs (highest score first) with their records, the recent merges, the
    refresh state. `customer` (contacts only): the pairs with a contact of that customer, and
    its contacts to choose from for a merge of any two."""
    conditions = []
    contacts = []
    if customer is not None:
        ids = select(Contact.id).where(Contact.customer_id == customer.id)
        conditions.append(or_(DuplicatePair.low_id.in_(ids), DuplicatePair.high_id.in_(ids)))
        contacts = db.session.scalars(select(Contact).where(Contact.customer_id == customer.id)
                                      .order_by(Contact.is_primary.desc(), Contact.name,
                                                Contact.id)).all()
    merges = db.session.scalars(select(Merge).where(Merge.entity == entity,
                                                    Merge.user_id == user.id)
                                .order_by(Merge.created_at.desc(), Merge.id.desc())
                                .limit(10)).all()
    computed_at = db.session.scalar(select(func.max(DuplicatePair.computed_at))
                                    .where(DuplicatePair.entity == entity))
    job = db.session.scalars(select(Job).where(Job.kind == "duplicates")
                             .order_by(Job.created_at.desc(), Job.id.desc()).limit(1)).first()
    return {"pairs": _pairs(entity, user, *conditions), "merges": merges, "kind": entity,
            "computed_at": computed_at, "last_job": job, "customer": customer,
            "contacts": contacts}


def customer_hints(customer: Customer, user) -> list:
    """The customer's likely duplicates the user may see: [(pair, the other customer)], best
    first, at most HINTS (one statement)."""
    found = _pairs("customer", user, or_(DuplicatePair.low_id == customer.id,
                                         DuplicatePair.high_id == customer.id), limit=HINTS)
    return [(pair, b if a.id == customer.id else a) for pair, a, b in found]
