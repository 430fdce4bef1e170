"""The lead list's export (/leads/export.csv and .xlsx, crm/exports): the list's own filters
and order; then the lead custom fields the user may see (cf_<key>)."""
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from crm.exports.columns import Column, ExportSource
from crm.extensions import db
from crm.leads.queries import STATUS_NAMES, SOURCE_NAMES, LeadFilter, filtered_select, label
from crm.models import Lead


def columns() -> list[Column]:
    return [
        Column("name", _l("Name"), lambda lead: lead.name),
        Column("company", _l("Company"), lambda lead: lead.company),
        Column("title", _l("Title"), lambda lead: lead.title),
        Column("phone", _l("Phone"), lambda lead: lead.phone),
        Column("mobile", _l("Mobile"), lambda lead: lead.mobile),
        Column("email", _l("Email"), lambda lead: lead.email),
        Column("wechat", _l("WeChat"), lambda lead: lead.wechat),
        Column("region", _l("Region"), lambda lead: lead.region),
        Column("address", _l("Address"), lambda lead: lead.address),
        Column("source", _l("Source"),
               lambda lead: label(lead.source, SOURCE_NAMES) if lead.source else None),
        Column("status", _l("Status"), lambda lead: str(STATUS_NAMES.get(lead.status, lead.status))),
        Column("score", _l("Intent score"), lambda lead: lead.score),
        Column("owner", _l("Owner"), lambda lead: lead.owner.name if lead.owner else None),
        Column("tags", _l("Tags"), lambda lead: ", ".join(tag.name for tag in lead.tags)),
        Column("created_at", _l("Created"), lambda lead: lead.created_at, "datetime"),
    ]


def ids(args):
    return filtered_select(current_user, LeadFilter.from_args(args)).with_only_columns(Lead.id)


def load(lead_ids: list[int]) -> list[Lead]:
    rows = db.session.execute(db.select(Lead).where(Lead.id.in_(lead_ids)).options(
        joinedload(Lead.owner), joinedload(Lead.source), selectinload(Lead.tags))).scalars().all()
    by_id = {lead.id: lead for lead in rows}
    return [by_id[i] for i in lead_ids if i in by_id]


SOURCE = ExportSource(name="leads", record_type="lead", label=_l("Leads"),
                      columns=columns, ids=ids, load=load)
