"""Opportunity reads: the record with what its page shows, the list (filters, sorts, pages and
the totals of the whole filter, added up as the board adds up its columns), the searches of
the form and the page (customers, deals to link), the stage history and the time spent in
each stage, and the contexts the form and the page render with.

Lists, searches and totals hold only what the signed-in user may see (crm/permissions.py).
The writes are in crm.opportunities.services.
"""
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload, with_expression

from crm.board.queries import CurrencyTotal, opportunity_sums, table_sums
from crm.fields.queries import conditions as custom_conditions
from crm.fields.queries import list_cells, list_columns, locale_id, panel_context, sort_clauses
from crm.extensions import db
from crm.models import (Customer, LostReason, Opportunity, Pipeline, Stage, StageChange, StageTotal,
                        TagGroup, User, customer_tags, utcnow)
from crm.notes.forms import NoteForm
from crm.notes.queries import timeline
from crm.opportunities.forms import CompetitorAddForm, OpportunityForm, RelatedForm
from crm.opportunities.services import lost_stage, reopen_stage, won_stage
from crm.permissions import (can_edit_opportunity, can_see_customer, can_set_owner, sees_everything,
                             visible_customers_clause, visible_opportunities_clause, visible_record)
from crm.search import customer_search_condition, query_terms
from crm.sharing.queries import RecordUsers
from crm.tasks.queries import open_and_done_tasks
from crm.validators import int_or_none

PAGE_SIZE = 25
# Over this many matching opportunities the list's totals come in a second request (htmx,
# hx-trigger="load"; a link without JavaScript), so that the list itself stays fast.
LAZY_TOTALS_OVER = 10_000

# An opportunity's title in the form of the search terms (crm.search.normalise).
_SEARCHED_TITLE = db.func.replace(db.func.lower(Opportunity.title), " ", "")


def pipelines() -> list[Pipeline]:
    """Every pipeline with its stages (one query)."""
    return list(db.session.execute(
        db.select(Pipeline).options(joinedload(Pipeline.stages)).order_by(Pipeline.position, Pipeline.id)
    ).unique().scalars())


def active_users() -> list[User]:
    return list(db.session.execute(
        db.select(User).where(User.active.is_(True)).order_by(User.name)).scalars())


def lost_reasons() -> list[LostReason]:
    """The active lost reasons, in their order."""
    return list(db.session.execute(
        db.select(LostReason).where(LostReason.active.is_(True))
        .order_by(LostReason.position, LostReason.id)).scalars())


def tag_groups() -> list[TagGroup]:
    """The customer tags to filter by, in their groups (one query)."""
    return list(db.session.execute(
        db.select(TagGroup).options(joinedload(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name)).unique().scalars())


def fetch(opportunity_id: int, *, for_stage_move: bool = False,
          with_lost_reasons: bool = False) -> tuple[Opportunity | None, list[LostReason]]:
    """The opportunity with what its page shows, in one query with its pipeline's stages
    (a pipeline's handful, joined); `for_stage_move`: only what the stage widget, the details
    and the history show (no competitors, no related deals, which otherwise come in one
    query each). No permission check: the caller's.

    `with_lost_reasons`: the active lost reasons (what the stage widget asks when it moves to
    a lost stage) come in the same query, joined to the pipeline's lost stage only, so they add
    their own few rows and no more; none when the pipeline has no lost stage (nothing asks
    for a reason then)."""
    pipeline_stage = aliased(Stage, name="pipeline_stage")
    reason = aliased(LostReason, name="active_lost_reason")
    options = [joinedload(Opportunity.customer), joinedload(Opportunity.contact),
               joinedload(Opportunity.stage), joinedload(Opportunity.owner),
               joinedload(Opportunity.lost_reason),
               contains_eager(Opportunity.pipeline).contains_eager(
                   Pipeline.stages.of_type(pipeline_stage))]
    if not for_stage_move:
        # The related deals with whether the user may see each, in their own load: no
        # visibility query of their own.
        options += [selectinload(Opportunity.competitors),
                    selectinload(Opportunity.related).options(
                        joinedload(Opportunity.stage),
                        with_expression(Opportunity.visible_to_viewer,
                                        visible_opportunities_clause(current_user)))]
    query = (db.select(Opportunity).outerjoin(Opportunity.pipeline)
             .outerjoin(Pipeline.stages.of_type(pipeline_stage))
             .options(*options).where(Opportunity.id == opportunity_id))
    if with_lost_reasons:
        query = (query.add_columns(reason)
                 .outerjoin(reason, db.and_(pipeline_stage.kind == "lost", reason.active.is_(True)))
                 .order_by(pipeline_stage.position, reason.position, reason.id))
    else:
        query = query.order_by(pipeline_stage.position)
    rows = db.session.execute(query).unique().all()
    if not rows:
        return None, []
    reasons = [row[1] for row in rows if with_lost_reasons and row[1] is not None]
    return rows[0][0], list(dict.fromkeys(reasons))


# --- The list ---------------------------------------------------------------------------------

def filtered(query, f: dict):
    """Apply the list's filters (FilterForm.values) to a select of opportunities (Customer is
    joined only for a search); only the opportunities the signed-in user may see (the list
    and its totals alike)."""
    query = query.where(visible_opportunities_clause(current_user))
    if f["pipeline"]:
        query = query.where(Opportunity.pipeline_id == f["pipeline"])
    if f["stage"]:
        query = query.where(Opportunity.stage_id == f["stage"])
    owner = f["owner"]
    if owner == "me":
        query = query.where(Opportunity.owner_id == current_user.id)
    elif owner == "none":
        query = query.where(Opportunity.owner_id.is_(None))
    elif int_or_none(owner):
        query = query.where(Opportunity.owner_id == int_or_none(owner))
    if f["status"] in ("open", "won", "lost"):
        query = query.where(Opportunity.status == f["status"])
    if f["close_from"]:
        query = query.where(Opportunity.expected_close >= f["close_from"])
    if f["close_to"]:
        query = query.where(Opportunity.expected_close <= f["close_to"])
    if f["amount_min"] is not None:
        query = query.where(Opportunity.amount >= f["amount_min"])
    if f["amount_max"] is not None:
        query = query.where(Opportunity.amount <= f["amount_max"])
    if f["customer"]:
        query = query.where(Opportunity.customer_id == f["customer"])
    if f["tag"]:
        tagged = db.select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(f["tag"]))
        query = query.where(Opportunity.customer_id.in_(tagged))
    if f.get("custom"):
        query = query.where(*custom_conditions("opportunity", f["custom"], current_user))
    terms = query_terms(f["q"] or "")
    if terms:
        query = (query.join(Customer, Opportunity.customer_id == Customer.id)
                 .where(*customer_search_condition(terms, _SEARCHED_TITLE)))
    return query


SORTS = {
    "close": lambda: (Opportunity.expected_close.is_(None), Opportunity.expected_close, Opportunity.id),
    "amount": lambda: (Opportunity.amount.desc(), Opportunity.id.desc()),
    "newest": lambda: (Opportunity.created_at.desc(), Opportunity.id.desc()),
    "title": lambda: (Opportunity.title, Opportunity.id),
}


def _order(sort: str) -> tuple:
    """ORDER BY of a built-in sort, or of a custom column (cf_<key>, -cf_<key>)."""
    return tuple(sort_clauses("opportunity", sort) or ()) or SORTS.get(sort, SORTS["close"])()


def is_filtered(f: dict) -> bool:
    return any(v for k, v in f.items() if k not in ("sort", "totals"))


def list_totals(f: dict, stage_probabilities: dict[int, int]) -> list[dict]:
    """Count, amount and weighted amount of the whole filter, one row per currency (one query,
    over the index on (currency, stage_id, amount, probability_override) when unfiltered),
    added up as the board adds up its columns (crm.board.queries.opportunity_sums)."""
    query = filtered(db.select(Opportunity.currency, *opportunity_sums(stage_probabilities)), f
                     ).group_by(Opportunity.currency).order_by(Opportunity.currency)
    return [asdict(CurrencyTotal.of(currency, count, cents, units))
            for currency, count, cents, units in db.session.execute(query)]


# Filters that stage_totals (counted per stage and currency) can answer by itself.
_TABLE_FILTERS = ("sort", "totals", "pipeline", "stage")


def table_totals(f: dict, pipelines: list[Pipeline]) -> list[dict] | None:
    """Count, amount and weighted amount per currency from stage_totals (kept by triggers,
    crm/stage_totals.py; crm.board.queries.table_sums): for a list filtered at most by
    pipeline or stage, seen by someone who sees everything. None when other filters apply
    (list_totals adds those up)."""
    if any(v for k, v in f.items() if k not in _TABLE_FILTERS) or not sees_everything(current_user):
        return None
    probabilities = {s.id: s.probability or 0 for p in pipelines for s in p.stages
                     if (not f["pipeline"] or p.id == f["pipeline"]) and (not f["stage"] or s.id == f["stage"])}
    if not probabilities:
        return []
    rows = db.session.execute(
        db.select(StageTotal.currency, *table_sums(probabilities))
        .where(StageTotal.stage_id.in_(list(probabilities)))
        .group_by(StageTotal.currency).having(db.func.sum(StageTotal.count) != 0)
        .order_by(StageTotal.currency))
    return [asdict(CurrencyTotal.of(currency or None, int(count), cents, units))
            for currency, count, cents, units in rows]


def _probabilities(pipelines: list[Pipeline]) -> dict[int, int]:
    return {s.id: s.probability for p in pipelines for s in p.stages}


def totals(f: dict, pipelines: list[Pipeline]) -> list[dict]:
    """The totals of the whole filter: from stage_totals when it has them, else added up."""
    counted = table_totals(f, pipelines)
    return counted if counted is not None else list_totals(f, _probabilities(pipelines))


def list_page(f: dict, sort: str, pipelines: list[Pipeline], page_number: int, *,
              all_totals: bool = False):
    """A page of the list in the order `sort` (a key of SORTS), and the totals of the whole
    filter: from stage_totals when it has them (the page's count coming with them, no count
    over every row), else added up; None (asked for later) over LAZY_TOTALS_OVER matches
    unless `all_totals`."""
    query = filtered(
        db.select(Opportunity)
        .options(joinedload(Opportunity.customer), joinedload(Opportunity.stage),
                 joinedload(Opportunity.owner)), f
    ).order_by(*_order(sort))
    counted = table_totals(f, pipelines)
    columns = list_columns("opportunity")
    page = db.paginate(query, page=page_number, per_page=PAGE_SIZE, error_out=False,
                       count=counted is None)
    # Custom fields shown as columns: their texts ride on the rows (no query).
    cells = list_cells("opportunity", page.items, columns)
    labels = [column.label(locale_id()) for column in columns]
    for opportunity in page.items:
        opportunity.cf_cells = list(zip(labels, cells.get(opportunity.id, [])))
    if counted is not None:
        page.total = sum(row["count"] for row in counted)
        return page, counted
    lazy = page.total > LAZY_TOTALS_OVER and not all_totals
    return page, (None if lazy else list_totals(f, _probabilities(pipelines)))


def filter_customer(page, customer_id: int) -> Customer | None:
    """The customer the list is filtered by, if the user may see it. The rows bring their
    customer, whom the user may see since they may see the row (crm/permissions.py): a query
    of its own only when no row shows."""
    if page.items:
        return page.items[0].customer
    return visible_record(current_user, Customer, customer_id)


# --- Searches ---------------------------------------------------------------------------------

def customer_matches(q: str, limit: int = 10) -> list[Customer]:
    """Customers the user may see matching what was typed (name, pinyin, initials, contact,
    phone, email)."""
    terms = query_terms(q)
    if not terms:
        return []
    query = (db.select(Customer)
             .where(visible_customers_clause(current_user), *customer_search_condition(terms)))
    return list(db.session.execute(query.order_by(Customer.name, Customer.id).limit(limit)).scalars())


def related_matches(opportunity: Opportunity, q: str) -> list[Opportunity]:
    """Up to ten other opportunities whose title or customer matches, not yet linked."""
    terms = query_terms(q)
    if not terms:
        return []
    linked = [o.id for o in opportunity.related] + [opportunity.id]
    query = (db.select(Opportunity).join(Customer, Opportunity.customer_id == Customer.id)
             .options(joinedload(Opportunity.customer))
             .where(Opportunity.id.not_in(linked), visible_opportunities_clause(current_user),
                    *customer_search_condition(terms, _SEARCHED_TITLE)))
    return list(db.session.execute(query.order_by(Opportunity.title, Opportunity.id).limit(10)).scalars())


# --- The form ---------------------------------------------------------------------------------

def seen_customer(customer_id: int | None) -> Customer | None:
    """The customer of this id if the user may see it: an unseen one is answered like a
    missing one (None), and nothing of it is rendered."""
    customer = db.session.get(Customer, customer_id) if customer_id else None
    return customer if customer is not None and can_see_customer(current_user, customer) else None


def chosen_customer(form: OpportunityForm, opportunity: Opportunity | None = None) -> Customer | None:
    """The customer the form names, if the user may see it or it is the edited opportunity's
    own (seen_customer)."""
    customer_id = int_or_none(form.customer_id.data)
    if customer_id is not None and opportunity is not None and customer_id == opportunity.customer_id:
        return db.session.get(Customer, customer_id)
    return seen_customer(customer_id)


def form_context(form: OpportunityForm, opportunity: Opportunity | None,
                 customer: Customer | None) -> dict:
    """Fill the form's selects; what the form page shows besides the form."""
    every_pipeline = pipelines()
    users = active_users()
    if opportunity is not None and opportunity.owner is not None and opportunity.owner not in users:
        users.append(opportunity.owner)  # a deactivated owner stays selectable until changed
    # Only managers and admins reassign: sales choose themselves (new or unowned records).
    users = [u for u in users if can_set_owner(current_user, opportunity, u.id)]
    form.set_choices(pipelines=every_pipeline, users=users, lost_reasons=lost_reasons(),
                     contacts=customer.contacts if customer is not None else [])
    stage_kinds = {s.id: s.kind for p in every_pipeline for s in p.stages}
    return {"pipelines": every_pipeline, "stage_kinds": stage_kinds,
            "stage_probabilities": _probabilities(every_pipeline)}


# --- History ----------------------------------------------------------------------------------

@dataclass
class StagePeriod:
    """A stretch of time an opportunity spent in one stage."""

    change: StageChange
    stage: Stage | None
    started_at: datetime
    ended_at: datetime | None  # None: still there
    duration: timedelta

    @property
    def current(self) -> bool:
        return self.ended_at is None


def stage_history(opportunity_id: int) -> list[StageChange]:
    """Every stage change of an opportunity, oldest first, with stages and users (one query)."""
    return list(db.session.execute(
        db.select(StageChange).options(
            joinedload(StageChange.from_stage), joinedload(StageChange.to_stage),
            joinedload(StageChange.user),
        ).where(StageChange.opportunity_id == opportunity_id)
        .order_by(StageChange.changed_at, StageChange.id)
    ).scalars())


def stage_periods(changes: list[StageChange], now: datetime | None = None) -> list[StagePeriod]:
    """Time spent in each stage, from consecutive changes; the last one lasts until now."""
    now = now or utcnow()
    periods = []
    for index, change in enumerate(changes):
        following = changes[index + 1] if index + 1 < len(changes) else None
        ended = following.changed_at if following is not None else None
        periods.append(StagePeriod(change=change, stage=change.to_stage, started_at=change.changed_at,
                                   ended_at=ended,
                                   duration=max(timedelta(0), (ended or now) - change.changed_at)))
    return periods


def time_in_stages(changes: list[StageChange], now: datetime | None = None) -> list[tuple[Stage, timedelta]]:
    """Total time per stage (a stage visited twice adds up), in the order first entered."""
    stays: dict[int, list] = {}
    for period in stage_periods(changes, now):
        if period.stage is None:
            continue
        entry = stays.setdefault(period.stage.id, [period.stage, timedelta(0)])
        entry[1] += period.duration
    return [(stage, total) for stage, total in stays.values()]


def format_duration(delta) -> str:
    """A stay in a stage as people say it: 3 days 4 hours, 2 hours 5 minutes, 40 minutes."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(days)s d %(hours)s h", days=days, hours=hours)
    if hours:
        return _("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)
    return _("%(minutes)s min", minutes=max(minutes, 0))


# --- The page ---------------------------------------------------------------------------------

def _stage_context(opportunity: Opportunity, changes: list[StageChange], periods: list[StagePeriod],
                   lost_reasons_read: list[LostReason] | None) -> dict:
    """What the stage widget, the details and the stage history show."""
    return {
        "opportunity": opportunity,
        "periods": periods,
        "stage_totals": time_in_stages(changes),
        "can_edit": can_edit_opportunity(current_user, opportunity),
        "lost_reasons": lost_reasons_read if lost_reasons_read is not None else lost_reasons(),
        "won_stage": won_stage(opportunity),
        "lost_stage": lost_stage(opportunity),
        "reopen_stage": reopen_stage(opportunity) if opportunity.status != "open" else None,
        "panel_customer_id": opportunity.customer_id,
        "panel_opportunity_id": opportunity.id,
        "format_duration": format_duration,
    }


def stage_fragments_context(opportunity: Opportunity, *,
                            lost_reasons: list[LostReason] | None = None, **extra) -> dict:
    """What the stage widget, the details and the stage history need (not the whole page);
    `lost_reasons` when they were read with the opportunity (fetch)."""
    changes = stage_history(opportunity.id)
    context = _stage_context(opportunity, changes, stage_periods(changes), lost_reasons)
    context["panel_tasks"] = []
    context.update(extra)
    return context


def page_context(opportunity: Opportunity, *, lost_reasons: list[LostReason] | None = None,
                 **extra) -> dict:
    """What the opportunity page and its fragments need; `lost_reasons` when they were read
    with the opportunity (fetch); `extra` replaces parts of it."""
    changes = stage_history(opportunity.id)  # read once, for the stage history and the timeline
    periods = stage_periods(changes)
    # The task panel's open tasks and the timeline's done ones in one query.
    panel_tasks, done_tasks = open_and_done_tasks(opportunity_id=opportunity.id)
    items = timeline(opportunity_id=opportunity.id, stage_changes=changes, done_tasks=done_tasks)
    position = {p.change.id: i for i, p in enumerate(periods)}
    for item in items:
        if item.kind == "stage" and position.get(item.obj.id, 0) > 0:
            # How long it had been in the stage it left (the period before this change).
            item.duration = format_duration(periods[position[item.obj.id] - 1].duration)
    context = _stage_context(opportunity, changes, periods, lost_reasons)
    context.update({
        "timeline_items": items,
        "next_contact": opportunity.next_contact_at,
        "note_form": NoteForm(formdata=None, customer_id=opportunity.customer_id,
                              opportunity_id=opportunity.id),
        "competitor_form": CompetitorAddForm(formdata=None),
        "related_form": RelatedForm(formdata=None),
        # Linked opportunities the user may not see are not listed (visible_to_viewer: fetch).
        "visible_related_ids": {o.id for o in opportunity.related if o.visible_to_viewer},
        "panel_tasks": panel_tasks,
        # One users query (when the page shows them) for the sharing panel and the task
        # panel's assignees.
        "record_users": RecordUsers("opportunity", opportunity),
        "custom_panel": panel_context("opportunity", opportunity,
                                      can_edit_opportunity(current_user, opportunity)),
    })
    context.update(extra)
    return context
