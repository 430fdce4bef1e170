"""Reads of leads: the list with its filters (one statement for the page, one for the count),
the lead page, the admin lists."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_
from sqlalchemy.orm import joinedload, selectinload

from crm.extensions import db
from crm.models import (DisqualifyReason, Lead, LeadSource, Note, ScoringRule, Tag, TagGroup,
                        User, lead_tags, utcnow)
from crm.permissions import visible_leads_clause
from crm.search import like_escape, query_terms
from crm.validators import int_or_none

PAGE_SIZE = 25  # as the customer list
COUNT_CAP = 1000  # the list counts its matches up to here, then says "1,000+"
SOURCE_NAMES = {"web_form": _l("Web form"), "search_ad": _l("Search ad"), "email": _l("Email"),
                "phone": _l("Phone"), "trade_show": _l("Trade show"), "referral": _l("Referral"),
                "import": _l("Import"), "other": _l("Other")}
REASON_NAMES = {"no_budget": _l("No budget"), "no_need": _l("No need"),
                "unreachable": _l("Unreachable"), "competitor": _l("Chose a competitor"),
                "other": _l("Other")}
STATUS_NAMES = {"new": _l("New"), "contacted": _l("Contacted"), "nurturing": _l("Nurturing"),
                "qualified": _l("Qualified"), "disqualified": _l("Disqualified"),
                "converted": _l("Converted")}


def label(row, names) -> str:
    return row.name or str(names.get(row.key or "", row.key or ""))


def sources() -> list[LeadSource]:
    rows = list(db.session.execute(db.select(LeadSource).order_by(LeadSource.position,
                                                                  LeadSource.id)).scalars())
    for row in rows:
        row.label = label(row, SOURCE_NAMES)
    return rows


def reasons() -> list[DisqualifyReason]:
    rows = list(db.session.execute(db.select(DisqualifyReason).order_by(
        DisqualifyReason.position, DisqualifyReason.id)).scalars())
    for row in rows:
        row.label = label(row, REASON_NAMES)
    return rows


def owners() -> list[User]:
    return list(db.session.execute(db.select(User).where(User.active.is_(True))
                                   .order_by(User.name)).scalars())


def behaviour_tags() -> list[Tag]:
    return list(db.session.execute(db.select(Tag).join(TagGroup).where(
        TagGroup.kind == "behaviour").order_by(TagGroup.position, Tag.name)).scalars())


@dataclass
class LeadFilter:
    q: str = ""
    status: str = ""
    source_id: int | None = None
    owner_id: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    tag_id: int | None = None
    silent_days: int | None = None
    level_id: int | None = None  # 客户级别 (crm/pools)
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "LeadFilter":
        return cls(q=(args.get("q") or "").strip()[:100], status=args.get("status") or "",
                   source_id=int_or_none(args.get("source_id")),
                   owner_id=int_or_none(args.get("owner_id")),
                   min_score=int_or_none(args.get("min_score")),
                   max_score=int_or_none(args.get("max_score")),
                   tag_id=int_or_none(args.get("tag_id")),
                   silent_days=int_or_none(args.get("silent_days")),
                   level_id=int_or_none(args.get("level_id")),
                   page=max(1, int_or_none(args.get("page")) or 1))

    def conditions(self, user, now=None) -> list:
        where = [visible_leads_clause(user), Lead.deleted_at.is_(None)]
        for term in query_terms(self.q):
            where.append(Lead.search_index.like(f"%{like_escape(term)}%", escape="\\"))
        if self.status:
            where.append(Lead.status == self.status)
        if self.source_id:
            where.append(Lead.source_id == self.source_id)
        if self.owner_id:
            where.append(Lead.owner_id == self.owner_id)
        if self.min_score is not None:
            where.append(Lead.score >= self.min_score)
        if self.max_score is not None:
            where.append(Lead.score <= self.max_score)
        if self.tag_id:
            where.append(Lead.id.in_(db.select(lead_tags.c.lead_id)
                                     .where(lead_tags.c.tag_id == self.tag_id)))
        if self.level_id:
            where.append(Lead.level_id == self.level_id)
        if self.silent_days:
            cutoff = (now or utcnow()) - timedelta(days=self.silent_days)
            where.append(or_(Lead.last_contact_at < cutoff,
                             (Lead.last_contact_at.is_(None)) & (Lead.created_at < cutoff)))
        return where


def filtered_select(user, filters: LeadFilter):
    """The list's SELECT of leads, in its order (highest score first): the page and the export."""
    return (db.select(Lead).where(*filters.conditions(user))
            .order_by(Lead.score.desc(), Lead.id.desc()))


@dataclass
class LeadPage:
    """One page of the list; `total` counted up to COUNT_CAP (`capped` beyond). Unpacks as
    (leads, total)."""
    leads: list
    total: int
    capped: bool = False
    has_next: bool = False

    def __iter__(self):
        return iter((self.leads, self.total))


def list_page(user, filters: LeadFilter) -> LeadPage:
    """One page of leads, highest score first, with owners, sources and tags; and how many
    match, in the page's own statement: the count reads at most COUNT_CAP + 1 matches (a
    LIMITed subquery, as the customer list's), so 200,000 leads are not counted on every
    page (tags: one more statement)."""
    where = filters.conditions(user)
    counted = db.select(func.count()).select_from(
        db.select(Lead.id).where(*where).limit(COUNT_CAP + 1).subquery()).scalar_subquery()
    rows = db.session.execute(
        filtered_select(user, filters).add_columns(counted)
        .options(joinedload(Lead.owner).load_only(User.id, User.name),
                 joinedload(Lead.source), joinedload(Lead.level), selectinload(Lead.tags))
        .limit(PAGE_SIZE + 1).offset((filters.page - 1) * PAGE_SIZE)).all()
    leads = [row[0] for row in rows[:PAGE_SIZE]]
    has_next = len(rows) > PAGE_SIZE
    if not rows:
        return LeadPage([], 0)
    if not has_next:  # the last page: the exact number is known
        return LeadPage(leads, (filters.page - 1) * PAGE_SIZE + len(rows))
    total = rows[0][1]
    return LeadPage(leads, min(total, COUNT_CAP), capped=total > COUNT_CAP, has_next=True)


def timeline(lead: Lead) -> list[Note]:
    return list(db.session.execute(
        db.select(Note).where(Note.lead_id == lead.id).options(joinedload(Note.author))
        .order_by(Note.happened_at.desc(), Note.id.desc())).scalars())


def scoring_rules() -> list[ScoringRule]:
    return list(db.session.execute(db.select(ScoringRule).options(joinedload(ScoringRule.tag))
                                   .order_by(ScoringRule.kind, ScoringRule.id)).scalars())
