"""Convert a lead (转化): one transaction makes or links a customer, makes its contact and
optionally an opportunity; the lead's notes, tags, same-key custom fields and source travel."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from crm.concurrency import Conflict
from crm.customers import services as customer_services
from crm.customers.duplicates import find_duplicates
from crm.extensions import db
from crm.fields.queries import definitions
from crm.models import Contact, Customer, Lead, Note, Stage, Task, utcnow
from crm.opportunities.services import create_opportunity
from crm.permissions import can_convert_lead
from crm.rules import RuleError


def matching_customers(lead: Lead) -> list[Customer]:
    """Existing customers that may be the lead's company: by name (fuzzy, 北京星辰科技有限公司
    matches 星辰科技), phone or email (crm.customers.duplicates)."""
    return find_duplicates(name=lead.company or lead.name, phone=lead.phone or lead.mobile,
                           email=lead.email)


def convert(user, lead: Lead, loaded_version: int | None, *, customer: Customer | None = None,
            stage: Stage | None = None, opportunity_title: str | None = None) -> Lead:
    """Rules: BANT all yes, or a manager decides (can_convert_lead). The lead is claimed first
    (UPDATE ... WHERE version = loaded AND status != 'converted'): of two conversions of one
    lead exactly one proceeds, the other gets Conflict and creates nothing. `customer`: link
    to this one instead of creating it; `stage`: also open an opportunity there."""
    if lead.status == "converted":
        raise Conflict(lead, loaded_version)
    if not can_convert_lead(user, lead):
        raise RuleError(_l("This lead may not be converted: its BANT is not all yes."))
    where = [Lead.id == lead.id, Lead.status != "converted"]
    if loaded_version is not None:
        where.append(Lead.version == loaded_version)
    result = db.session.execute(update(Lead).where(*where).values(version=Lead.version + 1)
                                .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(lead, loaded_version)
    db.session.refresh(lead)
    source = (lead.source.name or lead.source.key) if lead.source else None
    if customer is None:
        customer = customer_services.save_customer(user, None, {
            "kind": "company" if lead.company else "individual",
            "name": lead.company or lead.name, "phone": lead.phone or lead.mobile,
            "email": lead.email, "region": lead.region, "address": lead.address,
            "source": source, "owner_id": lead.owner_id or user.id})
        db.session.flush()
    contact = customer_services.save_contact(customer, Contact(), primary=not customer.contacts,
                                             name=lead.name, title=lead.title,
                                             phone=lead.mobile or lead.phone, email=lead.email)
    for tag in lead.tags:  # behaviour tags travel as such
        if tag not in customer.tags:
            customer.tags.append(tag)
    keys = {f.key for f in definitions("customer")}
    travelling = {k: v for k, v in (lead.custom or {}).items() if k in keys}
    if travelling:
        customer.custom = {**(customer.custom or {}), **travelling}
    db.session.flush()
    opportunity = None
    if stage is not None:
        opportunity = create_opportunity(title=opportunity_title or (lead.company or lead.name),
                                         customer=customer, stage=stage, user=user,
                                         owner=customer.owner or user, contact_id=contact.id,
                                         source=source)
        db.session.flush()
    db.session.execute(update(Note).where(Note.lead_id == lead.id).values(
        customer_id=customer.id, contact_id=contact.id,
        opportunity_id=opportunity.id if opportunity else None))
    db.session.execute(update(Task).where(Task.lead_id == lead.id).values(
        customer_id=customer.id, opportunity_id=opportunity.id if opportunity else None))
    lead.status = "converted"
    lead.customer = customer
    lead.contact = contact
    lead.opportunity = opportunity
    lead.converted_at = utcnow()
    return lead
