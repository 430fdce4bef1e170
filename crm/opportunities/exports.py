"""The opportunity list's export (crm/exports/): its columns and its rows, which are the
list's own (FilterForm's values through crm.opportunities.queries.filtered, sorted by SORTS;
a customer filter the user may not see is ignored, as the list ignores it).

Columns, in this order (keys as the opportunity form names its fields): title, customer,
contact, pipeline, stage, status, amount, currency, probability, weighted_amount,
expected_close, owner, source, budget, needs, description, lost_reason, lost_note,
closed_at, created_at, updated_at; then custom fields (crm.exports.columns.extra_columns)."""
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.exports.columns import Column, ExportSource
from crm.extensions import db
from crm.models import Customer, Opportunity
from crm.opportunities import queries
from crm.opportunities.forms import FilterForm
from crm.permissions import visible_record

_STATUS = {"open": _l("Open"), "won": _l("Won"), "lost": _l("Lost")}


def _name(attribute):
    def value(opportunity):
        related = getattr(opportunity, attribute)
        return related.display_name if related is not None else None
    return value


def columns() -> list[Column]:
    return [
        Column("title", _l("Title"), lambda o: o.title),
        Column("customer", _l("Customer"), lambda o: o.customer.name if o.customer else None),
        Column("contact", _l("Contact"), lambda o: o.contact.name if o.contact else None),
        Column("pipeline", _l("Pipeline"), _name("pipeline")),
        Column("stage", _l("Stage"), _name("stage")),
        Column("status", _l("Status"), lambda o: str(_STATUS.get(o.status, o.status))),
        Column("amount", _l("Amount"), lambda o: o.amount, "money"),
        Column("currency", _l("Currency"), lambda o: o.currency),
        Column("probability", _l("Win probability (%)"), lambda o: o.probability, "number"),
        Column("weighted_amount", _l("Weighted"), lambda o: o.weighted_amount, "money"),
        Column("expected_close", _l("Expected close date"), lambda o: o.expected_close, "date"),
        Column("owner", _l("Owner"), lambda o: o.owner.name if o.owner else None),
        Column("source", _l("Source"), lambda o: o.source),
        Column("budget", _l("Budget"), lambda o: o.budget, "money"),
        Column("needs", _l("Needs"), lambda o: o.needs),
        Column("description", _l("Description"), lambda o: o.description),
        Column("lost_reason", _l("Lost reason"), _name("lost_reason")),
        Column("lost_note", _l("About the loss"), lambda o: o.lost_note),
        Column("closed_at", _l("Closed"), lambda o: o.closed_at, "datetime"),
        Column("created_at", _l("Created"), lambda o: o.created_at, "datetime"),
        Column("updated_at", _l("Updated"), lambda o: o.updated_at, "datetime"),
    ]


def ids(args):
    """The opportunity list's SELECT for this query string, as ids (in the list's order)."""
    form = FilterForm(args)
    form.set_choices(pipelines=queries.pipelines(), users=queries.active_users(),
                     tag_groups=queries.tag_groups())
    f = form.values()
    if f["customer"] and visible_record(current_user, Customer, f["customer"]) is None:
        f["customer"] = None  # ignored, as the list ignores it
    sort = f["sort"] if f["sort"] in queries.SORTS else "close"
    return queries.filtered(db.select(Opportunity.id), f).order_by(*queries.SORTS[sort]())


def load(opportunity_ids: list[int]) -> list[Opportunity]:
    """A chunk of opportunities with what the columns name: one query (each joins one row)."""
    rows = db.session.execute(
        db.select(Opportunity).where(Opportunity.id.in_(opportunity_ids)).options(
            joinedload(Opportunity.customer), joinedload(Opportunity.contact),
            joinedload(Opportunity.pipeline), joinedload(Opportunity.stage),
            joinedload(Opportunity.owner), joinedload(Opportunity.lost_reason))).scalars().all()
    by_id = {opportunity.id: opportunity for opportunity in rows}
    return [by_id[i] for i in opportunity_ids if i in by_id]


SOURCE = ExportSource(name="opportunities", record_type="opportunity", label=_l("Opportunities"),
                      columns=columns, ids=ids, load=load)
