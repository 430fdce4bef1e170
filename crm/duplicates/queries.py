"""Reads of duplicates: the likely pairs among the records the user may see, and the
records of a merge view. Pairs are computed by crm.duplicates.blocking over the visible
records' names, phones and emails (one query each)."""
from __future__ import annotations

from sqlalchemy import select

from crm.duplicates.blocking import entry, find_pairs
from crm.extensions import db
from crm.models import Contact, Customer, Merge
from crm.permissions import visible_customers_clause

PAGE = 100


def _entries(kind_name: str, user):
    if kind_name == "customer":
        rows = db.session.execute(select(Customer.id, Customer.name, Customer.phone,
                                         Customer.email)
                                  .where(visible_customers_clause(user))).all()
    else:
        rows = db.session.execute(select(Contact.id, Contact.name, Contact.phone, Contact.email)
                                  .join(Customer, Customer.id == Contact.customer_id)
                                  .where(visible_customers_clause(user))).all()
    return [entry(i, name, [phone], [email]) for i, name, phone, email in rows]


def pairs_context(kind_name: str, user) -> dict:
    """The likely pairs (highest score first) with their records, and the recent merges."""
    pairs = find_pairs(_entries(kind_name, user))[:PAGE]
    model = Customer if kind_name == "customer" else Contact
    ids = {i for p in pairs for i in (p.low_id, p.high_id)}
    records = {r.id: r for r in db.session.scalars(select(model).where(model.id.in_(ids)))} \
        if ids else {}
    merges = db.session.scalars(select(Merge).where(Merge.entity == kind_name,
                                                    Merge.user_id == user.id)
                                .order_by(Merge.created_at.desc()).limit(10)).all()
    return {"pairs": [(p, records[p.low_id], records[p.high_id]) for p in pairs
                      if p.low_id in records and p.high_id in records],
            "merges": merges, "kind": kind_name}
