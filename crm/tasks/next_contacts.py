"""Next contacts (下次联系时间) as the owner's work: the "To contact today" section at the top
of /tasks and their share of the navigation's overdue badge.

A customer's, opportunity's or open lead's `next_contact_at` is set from a follow-up note
(crm.notes.services.set_next_contact). It is the owner's to keep: the owner's, or for a
record nobody owns its creator's, as crm.permissions.owns has it. Due today means before the
end of the owner's today in the viewer's zone (crm.tasks.queries.day_bounds); overdue means
at or before now. Both are read from the (owner_id, next_contact_at) indexes; records in the
trash are left out, and so are leads no longer open (converted or disqualified). The section
lists only the leads its viewer may see (crm.permissions.visible_leads_clause)."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select, union_all

from crm.extensions import db
from crm.models import Customer, Lead, Opportunity
from crm.models.lead import OPEN_STATUSES
from crm.permissions import visible_leads_clause

DUE_ROWS = 20   # the section lists the first 20 due, the earliest first


@dataclass
class DueContact:
    kind: str                 # "customer", "opportunity" or "lead"
    id: int
    name: str                 # the customer's or lead's name or the opportunity's title
    customer_name: str | None  # an opportunity's customer, a lead's company
    next_contact_at: datetime


def _kept_by(model, owner_id):
    """The records whose next contact `owner_id` keeps (None: everyone's)."""
    if owner_id is None:
        return model.next_contact_at.is_not(None)
    return or_(model.owner_id == owner_id,
               and_(model.owner_id.is_(None), model.created_by_id == owner_id))


def contacts_due(owner_id: int | None, before: datetime, viewer=None) -> list[DueContact]:
    """The next contacts kept by `owner_id` (None: everyone's, for a manager's "Everyone")
    that fall before `before` (the end of today), overdue ones included: one statement,
    a UNION ALL of customers, opportunities and open leads (those `viewer` may see; None:
    no viewer's limit)."""
    customers = (select(literal("customer").label("kind"), Customer.id, Customer.name.label("name"),
                        literal(None).label("customer_name"), Customer.next_contact_at)
                 .where(_kept_by(Customer, owner_id), Customer.next_contact_at < before,
                        Customer.deleted_at.is_(None)))
    opportunities = (select(literal("opportunity").label("kind"), Opportunity.id,
                            Opportunity.title.label("name"), Customer.name.label("customer_name"),
                            Opportunity.next_contact_at)
                     .join(Customer, Customer.id == Opportunity.customer_id)
                     .where(_kept_by(Opportunity, owner_id), Opportunity.next_contact_at < before,
                            Opportunity.deleted_at.is_(None), Opportunity.status == "open"))
    leads = (select(literal("lead").label("kind"), Lead.id, Lead.name.label("name"),
                    Lead.company.label("customer_name"), Lead.next_contact_at)
             .where(_kept_by(Lead, owner_id), Lead.next_contact_at < before,
                    Lead.deleted_at.is_(None), Lead.status.in_(OPEN_STATUSES),
                    visible_leads_clause(viewer)))
    both = union_all(customers, opportunities, leads).subquery()
    rows = db.session.execute(select(both).order_by(both.c.next_contact_at, both.c.kind, both.c.id)
                              .limit(DUE_ROWS))
    return [DueContact(*row) for row in rows]


def overdue_contacts_of(user_id_column, now):
    """How many next contacts the user in `user_id_column` keeps that are overdue, as a
    scalar expression (three correlated counts), for the badge the user loader reads."""
    def count(model, *extra):
        return (select(func.count()).select_from(model)
                .where(_kept_by(model, user_id_column), model.next_contact_at <= now,
                       model.deleted_at.is_(None), *extra)
                .correlate_except(model).scalar_subquery())
    return (count(Customer) + count(Opportunity, Opportunity.status == "open")
            + count(Lead, Lead.status.in_(OPEN_STATUSES)))
