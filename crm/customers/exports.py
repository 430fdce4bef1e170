"""The customer list's export (crm/exports/): its columns and its rows, which are the list's
own (CustomerFilter and filtered_select: the same filter, visibility and sort).

Columns, in this order (keys as the customer form names its fields): name, kind, industry,
region, city, size, source, phone, email, website, address, description, owner, tags,
contact, contact_phone, contact_email, created_at, updated_at; then custom fields
(crm.exports.columns.extra_columns)."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, selectinload

from crm.customers.queries import CustomerFilter, filtered_select
from crm.exports.columns import Column, ExportSource
from crm.extensions import db
from crm.models import Customer


def _kind(customer) -> str:
    return _("Individual") if customer.kind == "individual" else _("Company")


def _contact(attribute):
    def value(customer):
        contact = customer.primary_contact
        return getattr(contact, attribute) if contact is not None else None
    return value


def columns() -> list[Column]:
    return [
        Column("name", _l("Name"), lambda c: c.name),
        Column("kind", _l("Type"), _kind),
        Column("industry", _l("Industry"), lambda c: c.industry),
        Column("region", _l("Region"), lambda c: c.region),
        Column("city", _l("City"), lambda c: c.city),
        Column("size", _l("Size (employees)"), lambda c: c.size),
        Column("source", _l("Source"), lambda c: c.source),
        Column("phone", _l("Phone"), lambda c: c.phone),
        Column("email", _l("Email"), lambda c: c.email),
        Column("website", _l("Website"), lambda c: c.website),
        Column("address", _l("Address"), lambda c: c.address),
        Column("description", _l("Description"), lambda c: c.description),
        Column("owner", _l("Owner"), lambda c: c.owner.name if c.owner else None),
        Column("tags", _l("Tags"), lambda c: ", ".join(tag.name for tag in c.tags)),
        Column("contact", _l("Primary contact"), _contact("name")),
        Column("contact_phone", _l("Contact phone"), _contact("phone")),
        Column("contact_email", _l("Contact email"), _contact("email")),
        Column("created_at", _l("Created"), lambda c: c.created_at, "datetime"),
        Column("updated_at", _l("Updated"), lambda c: c.updated_at, "datetime"),
    ]


def ids(args):
    """The customer list's SELECT for this query string, as ids (in the list's order)."""
    return filtered_select(CustomerFilter.from_args(args)).with_only_columns(Customer.id)


def load(customer_ids: list[int]) -> list[Customer]:
    """A chunk of customers with their owner, tags and contacts: three queries."""
    rows = db.session.execute(
        db.select(Customer).where(Customer.id.in_(customer_ids)).options(
            joinedload(Customer.owner), selectinload(Customer.tags),
            selectinload(Customer.contacts))).scalars().all()
    by_id = {customer.id: customer for customer in rows}
    return [by_id[i] for i in customer_ids if i in by_id]


SOURCE = ExportSource(name="customers", record_type="customer", label=_l("Customers"),
                      columns=columns, ids=ids, load=load)
