"""The customer list's export (crm/exports/): its columns and its rows, which are the list's
own (CustomerFilter and filtered_select: the same filter, visibility and sort).

Columns, in this order (keys as the customer form names its fields): name, kind, industry,
region, city, size, source, phone, email, website, address, description, owner, tags,
contact, contact_phone, contact_email, created_at, updated_at; then custom fields
(crm.exports.columns.extra_columns)."""
from collections import defaultdict
from types import SimpleNamespace

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import aliased

from crm.customers.queries import CustomerFilter, filtered_select
from crm.exports.columns import Column, ExportSource
from crm.extensions import db
from crm.models import Contact, Customer, Tag, User, customer_tags


def _kind_of():
    """The type's label, translated once per export (not once per row)."""
    names = {"individual": _("Individual")}
    company = _("Company")
    return lambda customer: names.get(customer.kind, company)


def _contact(attribute):
    def value(customer):
        contact = customer.primary_contact
        return getattr(contact, attribute) if contact is not None else None
    return value


def columns() -> list[Column]:
    return [
        Column("name", _l("Name"), lambda c: c.name),
        Column("kind", _l("Type"), _kind_of()),
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


class Row(SimpleNamespace):
    """A customer as the export reads it: every column of the customers table, `owner` (its
    name), `tags` (their names), `contacts` (live ones, the primary first) and
    `primary_contact`, as plain values: building 100,000 ORM customers with their contacts
    and tags was most of a big export's time (docs/benchmarks.md). A column needing another
    relationship loads it here too."""

    @property
    def primary_contact(self):
        return self.contacts[0] if self.contacts else None


def load(customer_ids: list[int]) -> list[Row]:
    """A chunk of customers with their owner, tags and contacts: three queries."""
    table = Customer.__table__
    owner = aliased(User)
    rows = db.session.execute(
        select(*table.columns, owner.name.label("_owner_name"))
        .outerjoin(owner, owner.id == table.c.owner_id)
        .where(table.c.id.in_(customer_ids))).mappings().all()
    tags = defaultdict(list)
    for customer_id, name in db.session.execute(
            select(customer_tags.c.customer_id, Tag.name).join(Tag, Tag.id == customer_tags.c.tag_id)
            .where(customer_tags.c.customer_id.in_(customer_ids)).order_by(Tag.name)):
        tags[customer_id].append(SimpleNamespace(name=name))
    contacts = defaultdict(list)
    for contact in db.session.execute(
            select(Contact.customer_id, Contact.id, Contact.name, Contact.title, Contact.phone,
                   Contact.email, Contact.is_primary)
            .where(Contact.customer_id.in_(customer_ids), Contact.deleted_at.is_(None))
            .order_by(Contact.is_primary.desc(), Contact.id)).mappings():
        contacts[contact["customer_id"]].append(SimpleNamespace(**contact))
    by_id = {}
    for row in rows:
        values = dict(row)
        name = values.pop("_owner_name")
        by_id[row["id"]] = Row(**values, owner=SimpleNamespace(name=name) if name else None,
                               tags=tags[row["id"]], contacts=contacts[row["id"]])
    return [by_id[i] for i in customer_ids if i in by_id]


SOURCE = ExportSource(name="customers", record_type="customer", label=_l("Customers"),
                      columns=columns, ids=ids, load=load)
