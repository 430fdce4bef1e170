"""Opportunity views: the list, the form, the page, and the stage-change route everyone uses."""
from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload, with_expression

from crm.concurrency import (
    Conflict,
    claim,
    conflict_for,
    form_fields,
    parse_version,
    stale_move_message,
    submitted_token,
)
from crm.extensions import commit_keeping_loaded, db
from crm.htmx import fragment, is_htmx, redirect_to, render, targets, trigger
from crm.models import (
    Competitor,
    Customer,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    StageTotal,
    TagGroup,
    User,
    customer_tags,
)
from crm.opportunities.forms import (
    CompetitorAddForm,
    FilterForm,
    LostForm,
    OpportunityForm,
    RelatedForm,
)
from crm.opportunities.services import (
    StageMoveError,
    add_competitor,
    create_opportunity,
    link_related,
    lost_stage,
    move_to_stage,
    reopen_stage,
    stage_history,
    stage_periods,
    time_in_stages,
    unlink_related,
    won_stage,
)
from crm.permissions import (
    can_edit_opportunity,
    can_see_customer,
    can_see_opportunity,
    can_set_owner,
    visible_customers_clause,
    sees_everything,
    visible_opportunities_clause,
    visible_record,
)
from crm.sharing.queries import RecordUsers
from crm.stage_totals import (amount_from_cents, cents_of, stage_probability, weighted_from_units,
                               weighted_units)
from crm.search import like_escape, query_terms
from crm.urls import local_path

bp = Blueprint("opportunities", __name__, url_prefix="/opportunities")

PAGE_SIZE = 25
# Over this many matching opportunities the list's totals come in a second request (htmx,
# hx-trigger="load"; a link without JavaScript), so that the list itself stays fast.
LAZY_TOTALS_OVER = 10_000
SHOW = "opportunities/show.html"
FORM = "opportunities/form.html"
INDEX = "opportunities/index.html"


def _int(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _pipelines() -> list[Pipeline]:
    """Every pipeline with its stages (one query)."""
    return list(db.session.execute(
        db.select(Pipeline).options(joinedload(Pipeline.stages)).order_by(Pipeline.position, Pipeline.id)
    ).unique().scalars())


def _active_users() -> list[User]:
    return list(db.session.execute(
        db.select(User).where(User.active.is_(True)).order_by(User.name)).scalars())


def _lost_reasons() -> list[LostReason]:
    return list(db.session.execute(
        db.select(LostReason).where(LostReason.active.is_(True))
        .order_by(LostReason.position, LostReason.id)).scalars())


def _fetch(opportunity_id: int, *, for_stage_move: bool = False,
           with_lost_reasons: bool = False) -> tuple[Opportunity | None, list[LostReason]]:
    """The opportunity with what its page shows, in one query with its pipeline's stages
    (a pipeline's handful, joined); `for_stage_move`: only what the stage widget, the details
    and the history show (no competitors, no related deals, which otherwise come in one
    query each).

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


def _checked(opportunity: Opportunity | None, *, edit: bool = False) -> Opportunity:
    """404 when missing, 403 when not visible (or, with `edit`, not editable)."""
    if opportunity is None:
        abort(404)
    if not can_see_opportunity(current_user, opportunity):
        abort(403)
    if edit and not can_edit_opportunity(current_user, opportunity):
        abort(403)
    return opportunity


def _load(opportunity_id: int, *, for_stage_move: bool = False) -> Opportunity:
    """The opportunity with what its page shows (see _fetch), after the permission check."""
    return _checked(_fetch(opportunity_id, for_stage_move=for_stage_move)[0])


def _load_with_lost_reasons(opportunity_id: int, *, for_stage_move: bool = False,
                            edit: bool = False) -> tuple[Opportunity, list[LostReason]]:
    """The opportunity (see _fetch) and the active lost reasons, in one query."""
    opportunity, reasons = _fetch(opportunity_id, for_stage_move=for_stage_move,
                                  with_lost_reasons=True)
    return _checked(opportunity, edit=edit), reasons


def _editable(opportunity_id: int, **kwargs) -> Opportunity:
    return _checked(_fetch(opportunity_id, **kwargs)[0], edit=True)


# The list -----------------------------------------------------------------------------------

def _filters(form: FilterForm):
    """The filter values that parsed; a bad value is shown with its error and ignored."""
    form.validate()
    return {name: (None if field.errors else field.data) for name, field in form._fields.items()}


def _filtered(query, f):
    """Apply the list's filters to a select of opportunities (Customer is joined only for a
    search); only the opportunities the signed-in user may see (the list and its totals alike)."""
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
    elif _int(owner):
        query = query.where(Opportunity.owner_id == _int(owner))
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
    terms = query_terms(f["q"] or "")
    if terms:
        query = query.join(Customer, Opportunity.customer_id == Customer.id)
    for term in terms:
        pattern = f"%{like_escape(term)}%"
        query = query.where(db.or_(
            db.func.replace(db.func.lower(Opportunity.title), " ", "").like(pattern, escape="\\"),
            Customer.search_index.like(pattern, escape="\\"),
        ))
    return query


SORTS = {
    "close": lambda: (Opportunity.expected_close.is_(None), Opportunity.expected_close, Opportunity.id),
    "amount": lambda: (Opportunity.amount.desc(), Opportunity.id.desc()),
    "newest": lambda: (Opportunity.created_at.desc(), Opportunity.id.desc()),
    "title": lambda: (Opportunity.title, Opportunity.id),
}


def list_totals(f, stage_probabilities: dict[int, int]) -> list[dict]:
    """Count, amount and weighted amount of the whole filter, one row per currency (one query,
    over the index on (currency, stage_id, amount, probability_override) when unfiltered).
    Added up in whole cents and cents × percent, as the board and stage_totals do, so the
    figures are exact and round the same way everywhere (crm.stage_totals)."""
    cents = cents_of(Opportunity.amount, db.session.get_bind().dialect.name)
    # The stages' probabilities are known already: no join with the stages.
    probability = db.func.coalesce(Opportunity.probability_override,
                                   stage_probability(stage_probabilities, Opportunity.stage_id))
    query = _filtered(
        db.select(Opportunity.currency, db.func.count(), db.func.sum(cents),
                  db.func.sum(cents * probability)), f
    ).group_by(Opportunity.currency).order_by(Opportunity.currency)
    return [{"currency": currency, "count": count, "amount": amount_from_cents(amount),
             "weighted": weighted_from_units(units)}
            for currency, count, amount, units in db.session.execute(query)]


# Filters that stage_totals (counted per stage and currency) can answer by itself.
_TABLE_FILTERS = ("sort", "totals", "pipeline", "stage")


def table_totals(f, pipelines) -> list[dict] | None:
    """Count, amount and weighted amount per currency from stage_totals (kept by triggers,
    crm/stage_totals.py): for a list filtered at most by pipeline or stage, seen by someone
    who sees everything. None when other filters apply (list_totals adds those up)."""
    if any(v for k, v in f.items() if k not in _TABLE_FILTERS) or not sees_everything(current_user):
        return None
    probabilities = {s.id: s.probability or 0 for p in pipelines for s in p.stages
                     if (not f["pipeline"] or p.id == f["pipeline"]) and (not f["stage"] or s.id == f["stage"])}
    if not probabilities:
        return []
    rows = db.session.execute(
        db.select(StageTotal.currency, db.func.sum(StageTotal.count), db.func.sum(StageTotal.amount_cents),
                  db.func.sum(weighted_units(probabilities)))
        .where(StageTotal.stage_id.in_(list(probabilities)))
        .group_by(StageTotal.currency).having(db.func.sum(StageTotal.count) != 0)
        .order_by(StageTotal.currency))
    return [{"currency": currency or None, "count": int(count),
             "amount": amount_from_cents(cents), "weighted": weighted_from_units(units)}
            for currency, count, cents, units in rows]


@bp.route("")
def index():
    """Opportunities with filters, sort, pages and totals for the whole filter.

    `?customer=<id>` (the customer page's "All N opportunities") lists one customer's: the
    page names it, linked. A value that is not a customer the user may see (not a number,
    unknown, in the trash, hidden) is ignored like any bad filter value and said "not
    understood", the same for all of them: nothing tells a hidden customer from a missing one."""
    form = FilterForm(request.args)
    pipelines = _pipelines()
    users = _active_users()
    form.owner.choices = ([("", _("Everyone")), ("me", _("Mine")), ("none", _("No owner"))]
                          + [(str(u.id), u.name) for u in users])
    form.pipeline.choices = [("", _("All pipelines"))] + [(p.id, p.display_name) for p in pipelines]
    form.stage.choices = [("", _("All stages"))] + [
        (s.id, f"{s.display_name} · {p.display_name}" if len(pipelines) > 1 else s.display_name)
        for p in pipelines for s in p.stages]
    groups = list(db.session.execute(
        db.select(TagGroup).options(joinedload(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name)).unique().scalars())
    form.tag.choices = [(t.id, t.name) for g in groups for t in g.tags]
    f = _filters(form)
    customer_invalid = bool(form.customer.errors)
    sort = f["sort"] if f["sort"] in SORTS else "close"
    probabilities = {s.id: s.probability for p in pipelines for s in p.stages}
    if targets("opp-totals"):
        if f["customer"] and visible_record(current_user, Customer, f["customer"]) is None:
            f["customer"] = None  # ignored, as the page that asks for these totals did
        counted = table_totals(f, pipelines)
        totals = counted if counted is not None else list_totals(f, probabilities)
        return fragment(INDEX, "totals", totals=totals, filtered=_is_filtered(f))

    def rows_and_totals():
        query = _filtered(
            db.select(Opportunity)
            .options(joinedload(Opportunity.customer), joinedload(Opportunity.stage),
                     joinedload(Opportunity.owner)), f
        ).order_by(*SORTS[sort]())
        counted = table_totals(f, pipelines)
        # The count comes with the totals when stage_totals has them (no count over every row).
        page = db.paginate(query, page=request.args.get("page", 1, type=int), per_page=PAGE_SIZE,
                           error_out=False, count=counted is None)
        if counted is not None:
            page.total = sum(row["count"] for row in counted)
            return page, counted
        lazy = page.total > LAZY_TOTALS_OVER and not request.args.get("totals")
        return page, (None if lazy else list_totals(f, probabilities))

    page, totals = rows_and_totals()
    customer = None
    if f["customer"]:
        # The rows bring their customer, whom the user may see since they may see the row
        # (crm/permissions.py): a query of its own only when no row shows.
        customer = (page.items[0].customer if page.items
                    else visible_record(current_user, Customer, f["customer"]))
        if customer is None:  # ignored: the list again without it (only for such a value)
            f["customer"], customer_invalid = None, True
            page, totals = rows_and_totals()
    args = request.args.to_dict(flat=False)
    args.pop("page", None)
    args.pop("totals", None)
    if customer is None:
        args.pop("customer", None)  # a refused value is not carried on (as the form does not)

    def page_url(number):
        return url_for("opportunities.index", page=number, **args)

    totals_url = url_for("opportunities.index", totals=1,
                         **{k: v for k, v in request.args.to_dict(flat=False).items()
                            if k != "totals" and (k in args or k == "page")})
    # Removing the customer filter keeps the others (and goes back to the first page).
    unfiltered_url = url_for("opportunities.index",
                             **{k: v for k, v in args.items() if k != "customer"})
    return render(INDEX, "results", form=form, page=page, totals=totals, page_url=page_url,
                  totals_url=totals_url, tag_groups=groups, sort=sort, filtered=_is_filtered(f),
                  filter_customer=customer, customer_invalid=customer_invalid,
                  unfiltered_url=unfiltered_url)


def _is_filtered(f) -> bool:
    return any(v for k, v in f.items() if k not in ("sort", "totals"))


# The form -----------------------------------------------------------------------------------

def _customer_matches(q: str, limit: int = 10) -> list[Customer]:
    terms = query_terms(q)
    if not terms:
        return []
    query = db.select(Customer).where(visible_customers_clause(current_user))
    for term in terms:
        query = query.where(Customer.search_index.like(f"%{like_escape(term)}%", escape="\\"))
    return list(db.session.execute(query.order_by(Customer.name, Customer.id).limit(limit)).scalars())


@bp.route("/customer-search")
def customer_search():
    """Customers matching what was typed (name, pinyin, initials, contact, phone, email)."""
    q = request.args.get("customer_q", "")
    return fragment(FORM, "customer_results", customer_matches=_customer_matches(q), customer_q=q,
                    searched=bool(query_terms(q)), selected_customer=None)


@bp.route("/contact-options")
def contact_options():
    """The contact select for the chosen customer."""
    customer = db.session.get(Customer, _int(request.args.get("customer_id")) or 0)
    if customer is not None and not can_see_customer(current_user, customer):
        customer = None
    form = OpportunityForm(formdata=None)
    contacts = customer.contacts if customer else []
    form.contact_id.choices = [("", "—")] + [(c.id, c.name) for c in contacts]
    chosen = _int(request.args.get("contact_id"))
    ids = [c.id for c in contacts]
    # Keep the chosen contact if it is the customer's; else offer the primary one.
    form.contact_id.data = chosen if chosen in ids else (ids[0] if ids else None)
    return fragment(FORM, "contact_field", form=form)


@bp.route("/competitor-row")
def competitor_row():
    """One more empty competitor row for the form."""
    index = min(max(_int(request.args.get("index")) or 0, 0), 29)
    form = OpportunityForm(formdata=None)
    while len(form.competitors.entries) <= index:
        form.competitors.append_entry()
    return fragment(FORM, "competitor_row", entry=form.competitors.entries[index])


def _form_context(form: OpportunityForm, opportunity: Opportunity | None, customer: Customer | None):
    pipelines = _pipelines()
    users = _active_users()
    if opportunity is not None and opportunity.owner is not None and opportunity.owner not in users:
        users.append(opportunity.owner)  # a deactivated owner stays selectable until changed
    # Only managers and admins reassign: sales choose themselves (new or unowned records).
    users = [u for u in users if can_set_owner(current_user, opportunity, u.id)]
    form.set_choices(pipelines=pipelines, users=users, lost_reasons=_lost_reasons(),
                     contacts=customer.contacts if customer is not None else [])
    stage_kinds = {s.id: s.kind for p in pipelines for s in p.stages}
    stage_probabilities = {s.id: s.probability for p in pipelines for s in p.stages}
    return {"pipelines": pipelines, "stage_kinds": stage_kinds,
            "stage_probabilities": stage_probabilities}


def _chosen_customer(form: OpportunityForm, opportunity: Opportunity | None = None
                     ) -> Customer | None:
    """The customer the form names, if the user may see it (or it is the edited opportunity's
    own): an unseen one is answered like a missing one, and nothing of it is rendered."""
    cid = _int(form.customer_id.data)
    customer = db.session.get(Customer, cid) if cid else None
    if customer is None or (opportunity is not None and customer.id == opportunity.customer_id):
        return customer
    return customer if can_see_customer(current_user, customer) else None


def _validate(form: OpportunityForm, customer: Customer | None, pipelines) -> Stage | None:
    """Cross-field checks; return the chosen stage when everything holds."""
    ok = form.validate_on_submit()
    if customer is None:
        if form.customer_id.data:
            form.customer_id.errors = [_("This customer does not exist.")]
        else:
            form.customer_id.errors = [_("Choose the customer.")]
        ok = False
    elif not can_see_customer(current_user, customer):
        form.customer_id.errors = [_("This customer does not exist.")]
        ok = False
    if customer is not None and form.contact_id.data:
        if form.contact_id.data not in {c.id for c in customer.contacts}:
            form.contact_id.errors = list(form.contact_id.errors) + [
                _("This contact is not one of the customer's.")]
            ok = False
    stages = {s.id: s for p in pipelines for s in p.stages}
    stage = stages.get(form.stage_id.data)
    if stage is not None and form.pipeline_id.data and stage.pipeline_id != form.pipeline_id.data:
        form.stage_id.errors = list(form.stage_id.errors) + [_("This stage belongs to another pipeline.")]
        ok = False
    if stage is not None and stage.kind == "lost" and not form.lost_reason_id.data:
        form.lost_reason_id.errors = list(form.lost_reason_id.errors) + [
            _("Choose why the opportunity was lost.")]
        ok = False
    return stage if ok else None


def _opportunity_fields(form: OpportunityForm) -> dict:
    return {
        "contact_id": form.contact_id.data or None,
        "amount": form.amount.data if form.amount.data is not None else Decimal("0"),
        "currency": form.currency.data,
        "expected_close": form.expected_close.data,
        "probability_override": form.probability_override.data,
        "source": (form.source.data or "").strip() or None,
        "needs": (form.needs.data or "").strip() or None,
        "budget": form.budget.data,
        "description": (form.description.data or "").strip() or None,
    }


def _form_action(form: OpportunityForm) -> str | None:
    """The no-JavaScript helper buttons: find a customer, add a competitor row."""
    action = request.form.get("action")
    if action == "find_customer":
        return action
    if action == "add_competitor":
        if len(form.competitors.entries) < form.competitors.max_entries:
            form.competitors.append_entry()
        return action
    return None


def _render_form(form, opportunity, customer, context, status=200, matches=None, searched=False):
    return render(FORM, None, status=status, form=form, opportunity=opportunity,
                  selected_customer=customer, customer_matches=matches or [],
                  customer_q=form.customer_q.data or "", searched=searched, **context)


@bp.route("/new", methods=["GET", "POST"])
def create():
    """A new opportunity; ?customer_id= preselects the customer (from the customer page)."""
    if request.method == "GET":
        form = OpportunityForm(formdata=None)
        customer = db.session.get(Customer, _int(request.args.get("customer_id")) or 0)
        if customer is not None and not can_see_customer(current_user, customer):
            customer = None
        if customer is not None:
            form.customer_id.data = str(customer.id)
            form.contact_id.data = customer.primary_contact.id if customer.primary_contact else None
        form.owner_id.data = current_user.id
        context = _form_context(form, None, customer)
        pipeline = next((p for p in context["pipelines"]
                         if p.id == _int(request.args.get("pipeline_id"))), None)
        pipeline = pipeline or (context["pipelines"][0] if context["pipelines"] else None)
        if pipeline is not None:
            form.pipeline_id.data = pipeline.id
            first_open = next((s for s in pipeline.stages if s.kind == "open"), None)
            form.stage_id.data = first_open.id if first_open else None
        return _render_form(form, None, customer, context)

    form = OpportunityForm()
    customer = _chosen_customer(form)
    context = _form_context(form, None, customer)
    action = _form_action(form)
    if action is not None:
        matches = _customer_matches(form.customer_q.data or "") if action == "find_customer" else None
        return _render_form(form, None, customer, context, matches=matches,
                            searched=action == "find_customer")
    stage = _validate(form, customer, context["pipelines"])
    if stage is None:
        return _render_form(form, None, customer, context, status=422)
    owner_id = form.owner_id.data
    try:
        opportunity = create_opportunity(
            title=form.title.data, customer=customer, stage=stage, user=current_user,
            owner=owner_id, lost_reason=form.lost_reason_id.data, lost_note=form.lost_note.data,
            competitors=form.competitor_rows(), **_opportunity_fields(form))
    except StageMoveError as error:
        db.session.rollback()
        getattr(form, error.field or "stage_id").errors = [str(error)]
        customer = _chosen_customer(form)
        return _render_form(form, None, customer, _form_context(form, None, customer), status=422)
    db.session.commit()
    flash(_("Opportunity %(title)s was created.", title=opportunity.title), "success")
    return redirect_to(url_for("opportunities.show", opportunity_id=opportunity.id))


@bp.route("/<int:opportunity_id>/edit", methods=["GET", "POST"])
def update(opportunity_id: int):
    """Edit an opportunity; a changed stage is a stage move like any other (kept in history)."""
    opportunity = _editable(opportunity_id)
    if request.method == "GET":
        form = OpportunityForm(formdata=None, obj=opportunity)
        form.competitors.entries = []
        form.competitors.last_index = -1
        for competitor in opportunity.competitors:
            form.competitors.append_entry({"name": competitor.name, "notes": competitor.notes or ""})
        form.competitors.append_entry()
        form.customer_id.data = str(opportunity.customer_id)
        form.version.data = str(opportunity.version)
        context = _form_context(form, opportunity, opportunity.customer)
        return _render_form(form, opportunity, opportunity.customer, context)

    form = OpportunityForm()
    customer = _chosen_customer(form, opportunity)
    context = _form_context(form, opportunity, customer)
    action = _form_action(form)
    if action is not None:
        matches = _customer_matches(form.customer_q.data or "") if action == "find_customer" else None
        return _render_form(form, opportunity, customer, context, matches=matches,
                            searched=action == "find_customer")
    stage = _validate(form, customer, context["pipelines"])
    if stage is None:
        return _render_form(form, opportunity, customer, context, status=422)
    try:
        claim(opportunity, submitted_token())  # the version the form was loaded with
    except Conflict:
        db.session.rollback()
        context["conflict"] = _edit_conflict(form, opportunity, stage)
        return _render_form(form, opportunity, customer, context, status=409)

    opportunity.title = form.title.data.strip()
    opportunity.customer = customer
    opportunity.customer_id = customer.id
    for name, value in _opportunity_fields(form).items():
        setattr(opportunity, name, value)
    opportunity.owner_id = form.owner_id.data
    if stage.pipeline_id != opportunity.pipeline_id:
        opportunity.pipeline_id = stage.pipeline_id  # moving to another pipeline
        opportunity.pipeline = stage.pipeline
    try:
        change = move_to_stage(opportunity, stage, current_user, lost_reason=form.lost_reason_id.data,
                               lost_note=form.lost_note.data)
    except StageMoveError as error:
        db.session.rollback()
        opportunity = _editable(opportunity_id)
        getattr(form, error.field or "stage_id").errors = [str(error)]
        return _render_form(form, opportunity, customer,
                            _form_context(form, opportunity, customer), status=422)
    if change is None:
        if stage.kind == "lost":  # still lost: the reason and note may be corrected
            reason = db.session.get(LostReason, form.lost_reason_id.data or 0)
            if reason is not None and reason.active:
                opportunity.lost_reason = reason
            opportunity.lost_note = (form.lost_note.data or "").strip() or None
    opportunity.competitors.clear()
    for name, notes in form.competitor_rows():
        add_competitor(opportunity, name, notes)
    db.session.commit()
    flash(_("Opportunity %(title)s was saved.", title=opportunity.title), "success")
    return redirect_to(url_for("opportunities.show", opportunity_id=opportunity.id))


def _edit_conflict(form: OpportunityForm, opportunity: Opportunity, stage: Stage):
    """What a stale form (someone else saved first) shows: each field whose saved value
    differs from the submitted one, the competitors as a list of names."""
    fields = form_fields(form, opportunity)
    if stage.kind != "lost" and opportunity.status != "lost":
        fields = [name for name in fields if name not in ("lost_reason_id", "lost_note")]
    return conflict_for(
        form, opportunity, fields,
        submitted={"competitors": [name for name, _notes in form.competitor_rows()]},
        stored={"competitors": lambda: [c.name for c in opportunity.competitors]},
        labels={"competitors": _("Competitors")},
        discard_url=url_for("opportunities.update", opportunity_id=opportunity.id))


# The page -----------------------------------------------------------------------------------

def _stage_fragments_context(opportunity: Opportunity, *,
                             lost_reasons: list[LostReason] | None = None, **extra) -> dict:
    """What the stage widget, the details and the stage history need (not the whole page);
    `lost_reasons` when they were read with the opportunity (_load_with_lost_reasons)."""
    changes = stage_history(opportunity.id)
    context = {
        "opportunity": opportunity,
        "periods": stage_periods(changes),
        "stage_totals": time_in_stages(changes),
        "can_edit": can_edit_opportunity(current_user, opportunity),
        "lost_reasons": lost_reasons if lost_reasons is not None else _lost_reasons(),
        "won_stage": won_stage(opportunity),
        "lost_stage": lost_stage(opportunity),
        "reopen_stage": reopen_stage(opportunity) if opportunity.status != "open" else None,
        "panel_customer_id": opportunity.customer_id,
        "panel_opportunity_id": opportunity.id,
        "panel_tasks": [],
        "format_duration": format_duration,
    }
    context.update(extra)
    return context


def _page_context(opportunity: Opportunity, *, lost_reasons: list[LostReason] | None = None,
                  **extra) -> dict:
    """What the opportunity page and its fragments need; `lost_reasons` when they were read
    with the opportunity (_load_with_lost_reasons)."""
    from crm.notes.forms import NoteForm
    from crm.notes.queries import timeline

    changes = stage_history(opportunity.id)
    periods = stage_periods(changes)
    panel_tasks, done_tasks = [], None
    if "tasks.index" in current_app.view_functions:
        from crm.tasks.services import open_and_done_tasks
        # The task panel's open tasks and the timeline's done ones in one query.
        panel_tasks, done_tasks = open_and_done_tasks(opportunity_id=opportunity.id)
    # The history is read once, for the stage history and the timeline.
    items = timeline(opportunity_id=opportunity.id, stage_changes=changes, done_tasks=done_tasks)
    position = {p.change.id: i for i, p in enumerate(periods)}
    for item in items:
        if item.kind == "stage" and position.get(item.obj.id, 0) > 0:
            # How long it had been in the stage it left (the period before this change).
            item.duration = format_duration(periods[position[item.obj.id] - 1].duration)
    context = {
        "opportunity": opportunity,
        "periods": periods,
        "stage_totals": time_in_stages(changes),
        "timeline_items": items,
        "note_form": NoteForm(formdata=None, customer_id=opportunity.customer_id,
                              opportunity_id=opportunity.id),
        "can_edit": can_edit_opportunity(current_user, opportunity),
        "lost_reasons": lost_reasons if lost_reasons is not None else _lost_reasons(),
        "won_stage": won_stage(opportunity),
        "lost_stage": lost_stage(opportunity),
        "reopen_stage": reopen_stage(opportunity) if opportunity.status != "open" else None,
        "competitor_form": CompetitorAddForm(formdata=None),
        "related_form": RelatedForm(formdata=None),
        # Linked opportunities the user may not see are not listed (visible_to_viewer: _fetch).
        "visible_related_ids": {o.id for o in opportunity.related if o.visible_to_viewer},
        "panel_customer_id": opportunity.customer_id,
        "panel_opportunity_id": opportunity.id,
        "panel_tasks": panel_tasks,
        "format_duration": format_duration,
        # One users query (when the page shows them) for the sharing panel and the task
        # panel's assignees.
        "record_users": RecordUsers("opportunity", opportunity),
    }
    context.update(extra)
    return context


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


# HX-Target -> the block of the page that answers it.
PAGE_BLOCKS = {"stage-widget": "stage_widget", "opp-details": "details", "stage-history": "stage_history",
               "competitors": "competitors", "related": "related"}


@bp.route("/<int:opportunity_id>")
def show(opportunity_id: int):
    """The opportunity page; an htmx request aimed at one of its sections gets that section."""
    opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id)
    block = PAGE_BLOCKS.get(request.htmx.target or "") if is_htmx() else None
    related_q = request.args.get("related_q", "")  # the link search, without JavaScript
    return render(SHOW, block, **_page_context(
        opportunity, lost_reasons=lost_reasons, related_q=related_q,
        related_matches=_related_matches(opportunity, related_q),
        searched=bool(query_terms(related_q))))


def show_page(opportunity_id: int, *, status: int = 200, **extra):
    """The whole opportunity page, after the permission check; `extra` replaces parts of its
    context, e.g. a refused form (with what was typed and its errors) posted without JavaScript."""
    opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id)
    return render(SHOW, None, status=status,
                  **_page_context(opportunity, lost_reasons=lost_reasons, **extra))


def _local_referrer() -> str | None:
    """The page the request came from, when it is one of ours (never another site)."""
    return local_path(request.referrer)


def _lost_form(stage: Stage | None, error: str | None = None) -> LostForm:
    form = LostForm(formdata=None, stage_id=stage.id if stage else "")
    form.lost_reason_id.choices = [("", "—")] + [(r.id, r.display_name) for r in _lost_reasons()]
    form.lost_reason_id.data = _int(request.form.get("lost_reason_id"))
    form.lost_note.data = request.form.get("lost_note", "")
    if error and "lost_reason_id" in request.form:  # the first time it is a question, not an error
        form.lost_reason_id.errors = [error]
    return form


@bp.route("/<int:opportunity_id>/stage", methods=["POST"])
def change_stage(opportunity_id: int):
    """Move to the posted `stage_id` (with `lost_reason_id` for a lost stage).

    htmx callers get the updated widget (or the board's card when `context=board`); others a
    303 back to the page they came from.
    """
    board = request.form.get("context") == "board"
    # The page's fragments (and the board's card) need neither competitors nor related deals;
    # the page's also need the lost reasons (read with the opportunity).
    lost_reasons = None
    if is_htmx() and not board:
        opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id, for_stage_move=True,
                                                            edit=True)
    else:
        opportunity = _editable(opportunity_id, for_stage_move=is_htmx())
    stage = db.session.get(Stage, _int(request.form.get("stage_id")) or 0)
    try:
        if stage is None:
            raise StageMoveError(_("Choose a stage."), field="stage_id")
        # The version the card or widget was rendered with; without one (old clients, the
        # API) the move applies to the opportunity as it is now.
        claim(opportunity, parse_version(request.form.get("version")))
        from_stage_id = opportunity.stage_id
        move_to_stage(opportunity, stage, current_user,
                      lost_reason=request.form.get("lost_reason_id"),
                      lost_note=request.form.get("lost_note"))
    except StageMoveError as error:
        db.session.rollback()
        return _refused_move(opportunity_id, stage, error, board)
    except Conflict:
        db.session.rollback()
        return _stale_move(opportunity_id, board)
    if is_htmx() and board:
        db.session.commit()
        from crm.board.views import board_move_response
        return board_move_response(opportunity, from_stage_id)
    if is_htmx():
        # What was loaded stays as it was saved (the move set every column and relationship
        # it changed, and claim() the version), so the three fragments are rendered from it
        # rather than from the whole page's context loaded again.
        commit_keeping_loaded()
        context = _stage_fragments_context(opportunity, oob=True, lost_reasons=lost_reasons)
        response = fragment(SHOW, "stage_widget", "details", "stage_history", **context)
        if stage.playbook_items and "tasks.index" in current_app.view_functions:
            from crm.tasks.services import open_tasks_for
            context["panel_tasks"] = open_tasks_for(opportunity_id=opportunity.id)
            _append_task_panel(response, context)
        return response
    db.session.commit()
    flash(_("%(title)s is now in %(stage)s.", title=opportunity.title, stage=stage.display_name),
          "success")
    return redirect(_local_referrer() or url_for("opportunities.show", opportunity_id=opportunity_id), 303)


def _stale_move(opportunity_id: int, board: bool):
    """409: someone else changed the opportunity since the card or widget was shown. Nothing
    moves; the card (in its real column) or the widget shows it as it is now, and says why.
    Without JavaScript that is the page again: the board the card's form came from when it
    shows the card, else the opportunity page."""
    opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id)
    message = stale_move_message(opportunity)
    if is_htmx() and board:
        from crm.board.views import board_move_response
        response = board_move_response(opportunity, None, every_head=True)
        response.status_code = 409
        return trigger(response, {"crm:toast": message})
    if is_htmx():
        context = _page_context(opportunity, oob=True, stage_error=message,
                                lost_reasons=lost_reasons)
        return fragment(SHOW, "stage_widget", "details", "stage_history", status=409, **context)
    if board:
        # Without JavaScript: the board page again, the card in its real column saying why.
        from crm.board.views import refused_move_page
        response = refused_move_page(opportunity, message, status=409)
        if response is not None:
            return response
    return render(SHOW, None, status=409, **_page_context(opportunity, stage_error=message,
                                                         lost_reasons=lost_reasons))


def _append_task_panel(response, context) -> None:
    """The tasks panel, out of band: entering the stage may have created playbook tasks."""
    from jinja2_fragments.flask import render_block
    try:
        panel = render_block("tasks/panel.html", "task_panel", **context)
    except Exception:  # the tasks area's template is not ours; never fail a saved move for it
        current_app.logger.exception("Could not render the tasks panel")
        return
    panel = panel.replace('id="task-panel"', 'id="task-panel" hx-swap-oob="true"', 1)
    response.set_data(response.get_data(as_text=True) + panel)


def _refused_move(opportunity_id: int, stage: Stage | None, error: StageMoveError, board: bool):
    """A move the rules refused: ask for the lost reason inline, or say what is wrong. Without
    JavaScript, 422 with the page the form came from: the board with the message on the card
    (when that page shows it), else the opportunity page with the message beside its stage
    select, which keeps the stage asked for."""
    message = str(error)
    opportunity = _load(opportunity_id)
    needs_reason = error.field == "lost_reason_id" and stage is not None
    if is_htmx() and board:
        if needs_reason:
            from crm.board.views import board_lost_reason_response
            return board_lost_reason_response(opportunity, stage, message)
        response = current_app.make_response((message, 422))
        response.headers["HX-Reswap"] = "none"
        return trigger(response, {"crm:toast": message})
    if needs_reason:
        context = _page_context(opportunity, lost_form=_lost_form(stage, message), pending_stage=stage)
        if is_htmx():
            return fragment(SHOW, "stage_widget", status=422, **context)
        return render(SHOW, None, status=422, **context)
    if is_htmx():
        return fragment(SHOW, "stage_widget", status=422, **_page_context(opportunity, stage_error=message))
    # Only a stage of its pipeline can stay chosen in the select (the others are not in it).
    chosen = stage.id if stage is not None and stage.pipeline_id == opportunity.pipeline_id else None
    if board:
        from crm.board.views import refused_move_page
        response = refused_move_page(opportunity, message, status=422, chosen_stage_id=chosen)
        if response is not None:
            return response
    return render(SHOW, None, status=422, **_page_context(
        opportunity, stage_field_error=message, chosen_stage_id=chosen))


# Competitors and related opportunities, inline on the page ------------------------------------

@bp.route("/<int:opportunity_id>/competitors", methods=["POST"])
def add_competitor_view(opportunity_id: int):
    """Add a competitor (竞争对手) from the page."""
    opportunity = _editable(opportunity_id)
    form = CompetitorAddForm()
    if not form.validate_on_submit():
        return _section(opportunity, "competitors", status=422, competitor_form=form)
    add_competitor(opportunity, form.name.data, form.notes.data)
    db.session.commit()
    return _section(_load(opportunity_id), "competitors")


@bp.route("/<int:opportunity_id>/competitors/<int:competitor_id>/delete", methods=["POST"])
def remove_competitor(opportunity_id: int, competitor_id: int):
    """Remove a competitor from the opportunity."""
    opportunity = _editable(opportunity_id)
    competitor = db.get_or_404(Competitor, competitor_id)
    if competitor.opportunity_id != opportunity.id:
        abort(404)
    db.session.delete(competitor)
    db.session.commit()
    return _section(_load(opportunity_id), "competitors")


@bp.route("/<int:opportunity_id>/related-search")
def related_search(opportunity_id: int):
    """Other opportunities matching what was typed, to link."""
    opportunity = _load(opportunity_id)
    q = request.args.get("related_q", "")
    return fragment(SHOW, "related_results", opportunity=opportunity,
                    related_matches=_related_matches(opportunity, q), related_q=q,
                    searched=bool(query_terms(q)))


def _related_matches(opportunity: Opportunity, q: str) -> list[Opportunity]:
    """Up to ten other opportunities whose title or customer matches, not yet linked."""
    terms = query_terms(q)
    if not terms:
        return []
    linked = [o.id for o in opportunity.related] + [opportunity.id]
    query = (db.select(Opportunity).join(Customer, Opportunity.customer_id == Customer.id)
             .options(joinedload(Opportunity.customer))
             .where(Opportunity.id.not_in(linked), visible_opportunities_clause(current_user)))
    for term in terms:
        pattern = f"%{like_escape(term)}%"
        query = query.where(db.or_(
            db.func.replace(db.func.lower(Opportunity.title), " ", "").like(pattern, escape="\\"),
            Customer.search_index.like(pattern, escape="\\")))
    return list(db.session.execute(query.order_by(Opportunity.title, Opportunity.id).limit(10)).scalars())


@bp.route("/<int:opportunity_id>/related", methods=["POST"])
def link(opportunity_id: int):
    """Link another opportunity (both ways)."""
    opportunity = _editable(opportunity_id)
    form = RelatedForm()
    other = db.session.get(Opportunity, form.related_id.data or 0) if form.validate_on_submit() else None
    if other is not None and not can_see_opportunity(current_user, other):
        other = None  # one I may not see is as good as missing
    if other is None or other.id == opportunity.id:
        if not form.related_id.errors:
            form.related_id.errors = [_("Choose another opportunity.")]
        return _section(opportunity, "related", status=422, related_form=form)
    link_related(opportunity, other)
    db.session.commit()
    return _section(_load(opportunity_id), "related")


@bp.route("/<int:opportunity_id>/related/<int:related_id>/delete", methods=["POST"])
def unlink(opportunity_id: int, related_id: int):
    """Remove the link between two opportunities (both ways)."""
    opportunity = _editable(opportunity_id)
    other = db.get_or_404(Opportunity, related_id)
    unlink_related(opportunity, other)
    db.session.commit()
    return _section(_load(opportunity_id), "related")


def _section(opportunity, block: str, status: int = 200, **extra):
    """An htmx caller gets the section back; others go back to the page."""
    if is_htmx():
        return fragment(SHOW, block, status=status, **_page_context(opportunity, **extra))
    if status >= 400:
        return render(SHOW, None, status=status, **_page_context(opportunity, **extra))
    return redirect(url_for("opportunities.show", opportunity_id=opportunity.id) + f"#{block}", 303)


@bp.route("/<int:opportunity_id>/delete", methods=["GET", "POST"])
def delete(opportunity_id: int):
    """Move an opportunity with its notes and tasks to the trash (its owner, managers, admins).
    GET asks for confirmation (the page without JavaScript; htmx confirms in the browser)."""
    from crm.responses import confirm_move, remember_undo
    from crm.trash.services import trash
    opportunity = _editable(opportunity_id)
    back = url_for("opportunities.show", opportunity_id=opportunity.id)
    if request.method == "GET":
        return confirm_move(opportunity, back=back,
                            action=url_for("opportunities.delete", opportunity_id=opportunity.id))
    customer = opportunity.customer
    remember_undo(trash(opportunity, current_user))
    db.session.commit()
    if customer is not None and can_see_customer(current_user, customer) \
            and "customers.show" in current_app.view_functions:
        return redirect_to(url_for("customers.show", customer_id=customer.id))
    return redirect_to(url_for("opportunities.index"))
