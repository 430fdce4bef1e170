"""Opportunity routes (HTTP only): the list, the form, the page and its inline sections, and
the stage-change route everyone uses, the board included (it answers a move made from the
board with the board's pieces, built by crm.board.queries). Reads come from
crm.opportunities.queries, writes go through crm.opportunities.services."""
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.board import cards as board_cards
from crm.concurrency import (Conflict, claim, conflict_for, form_fields, parse_version,
                             stale_move_message, submitted_token)
from crm.extensions import commit_keeping_loaded, db
from crm.fields.forms import conflict_parts, custom_values, prepare, with_custom_fields
from crm.fields.queries import filter_pairs, filter_widgets, list_columns, sort_field
from crm.fields.services import apply_values
from crm.htmx import (add_oob, block_for, current_url, fragment, is_htmx, oob_block, redirect_to,
                      render, reswap, targets, trigger)
from crm.models import Customer, Opportunity, Stage
from crm.opportunities import queries
from crm.opportunities.forms import (CompetitorAddForm, FilterForm, LostForm, OpportunityForm,
                                     RelatedForm)
from crm.opportunities.services import (StageMoveError, add_competitor, create_opportunity,
                                        delete_competitor, link_related, move_to_stage,
                                        unlink_related, update_opportunity)
from crm.permissions import (can_edit_opportunity, can_see_customer, can_see_opportunity, checked,
                             visible_record)
from crm.responses import confirm_move, remember_undo
from crm.search import query_terms
from crm.tasks.queries import open_tasks_for
from crm.trash.services import trash
from crm.urls import local_path
from crm.validators import int_or_none

bp = Blueprint("opportunities", __name__, url_prefix="/opportunities")

SHOW = "opportunities/show.html"
FORM = "opportunities/form.html"
INDEX = "opportunities/index.html"

# HX-Target -> the block of the page that answers it.
PAGE_BLOCKS = {"stage-widget": "stage_widget", "opp-details": "details", "stage-history": "stage_history",
               "competitors": "competitors", "related": "related"}


def _checked(opportunity: Opportunity | None, *, edit: bool = False) -> Opportunity:
    """404 when missing, 403 when not visible (or, with `edit`, not editable)."""
    return checked(opportunity, can_see_opportunity, can_edit_opportunity, edit=edit)


def _load(opportunity_id: int, *, for_stage_move: bool = False, edit: bool = False) -> Opportunity:
    """The opportunity with what its page shows (queries.fetch), after the permission check."""
    return _checked(queries.fetch(opportunity_id, for_stage_move=for_stage_move)[0], edit=edit)


def _load_with_lost_reasons(opportunity_id: int, *, for_stage_move: bool = False, edit: bool = False):
    """The opportunity (queries.fetch) and the active lost reasons, in one query."""
    opportunity, reasons = queries.fetch(opportunity_id, for_stage_move=for_stage_move,
                                         with_lost_reasons=True)
    return _checked(opportunity, edit=edit), reasons


def _editable(opportunity_id: int, **kwargs) -> Opportunity:
    return _load(opportunity_id, edit=True, **kwargs)


# The list -----------------------------------------------------------------------------------

@bp.route("")
def index():
    """Opportunities with filters, sort, pages and totals for the whole filter.

    `?customer=<id>` (the customer page's "All N opportunities") lists one customer's: the
    page names it, linked. A value that is not a customer the user may see (not a number,
    unknown, in the trash, hidden) is ignored like any bad filter value and said "not
    understood", the same for all of them: nothing tells a hidden customer from a missing one."""
    form = FilterForm(request.args)
    pipelines = queries.pipelines()
    users = queries.active_users()
    groups = queries.tag_groups()
    form.set_choices(pipelines=pipelines, users=users, tag_groups=groups)
    f = form.values()
    f["custom"] = filter_pairs("opportunity", request.args)  # cf_<key> filters (crm.fields)
    customer_invalid = bool(form.customer.errors)
    sort = f["sort"] if f["sort"] in queries.SORTS or sort_field("opportunity", f["sort"] or "") \
        else "close"
    if targets("opp-totals"):
        if f["customer"] and visible_record(current_user, Customer, f["customer"]) is None:
            f["customer"] = None  # ignored, as the page that asks for these totals did
        return fragment(INDEX, "totals", totals=queries.totals(f, pipelines),
                        filtered=queries.is_filtered(f))

    def list_page():
        return queries.list_page(f, sort, pipelines, request.args.get("page", 1, type=int),
                                 all_totals=bool(request.args.get("totals")))

    page, totals = list_page()
    customer = None
    if f["customer"]:
        customer = queries.filter_customer(page, f["customer"])
        if customer is None:  # ignored: the list again without it (only for such a value)
            f["customer"], customer_invalid = None, True
            page, totals = list_page()
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
    def cf_sort_url(value):
        return url_for("opportunities.index", **{**{k: v for k, v in args.items() if k != "sort"},
                                                 "sort": value})

    return render(INDEX, "results", form=form, page=page, totals=totals, page_url=page_url,
                  cf_columns=list_columns("opportunity"), cf_sort_url=cf_sort_url,
                  cf_filters=filter_widgets("opportunity", f["custom"]),
                  totals_url=totals_url, tag_groups=groups, sort=sort,
                  filtered=queries.is_filtered(f), filter_customer=customer,
                  customer_invalid=customer_invalid, unfiltered_url=unfiltered_url)


# The form -----------------------------------------------------------------------------------

@bp.route("/customer-search")
def customer_search():
    """Customers matching what was typed (name, pinyin, initials, contact, phone, email)."""
    q = request.args.get("customer_q", "")
    return fragment(FORM, "customer_results", customer_matches=queries.customer_matches(q),
                    customer_q=q, searched=bool(query_terms(q)), selected_customer=None)


@bp.route("/contact-options")
def contact_options():
    """The contact select for the chosen customer."""
    customer = queries.seen_customer(int_or_none(request.args.get("customer_id")))
    form = OpportunityForm(formdata=None)
    contacts = customer.contacts if customer else []
    form.contact_id.choices = [("", "—")] + [(c.id, c.name) for c in contacts]
    chosen = int_or_none(request.args.get("contact_id"))
    ids = [c.id for c in contacts]
    # Keep the chosen contact if it is the customer's; else offer the primary one.
    form.contact_id.data = chosen if chosen in ids else (ids[0] if ids else None)
    return fragment(FORM, "contact_field", form=form)


@bp.route("/competitor-row")
def competitor_row():
    """One more empty competitor row for the form."""
    index = min(max(int_or_none(request.args.get("index")) or 0, 0), 29)
    form = OpportunityForm(formdata=None)
    while len(form.competitors.entries) <= index:
        form.competitors.append_entry()
    return fragment(FORM, "competitor_row", entry=form.competitors.entries[index])


def _opportunity_form(opportunity: Opportunity | None = None, **kwargs) -> OpportunityForm:
    """The opportunity form with the opportunities' custom inputs (crm.fields.forms)."""
    form = with_custom_fields(OpportunityForm, "opportunity")(**kwargs)
    prepare(form, opportunity)
    return form


def _render_form(form, opportunity, customer, context, status=200, matches=None, searched=False):
    return render(FORM, None, status=status, form=form, opportunity=opportunity,
                  selected_customer=customer, customer_matches=matches or [],
                  customer_q=form.customer_q.data or "", searched=searched, **context)


def _posted_form(opportunity: Opportunity | None):
    """The posted form, its customer and context, and either the page to answer with (a
    no-JavaScript helper button: find a customer, add a competitor row; or 422 with the
    form's errors) or the stage chosen when everything holds."""
    form = _opportunity_form()
    customer = queries.chosen_customer(form, opportunity)
    context = queries.form_context(form, opportunity, customer)
    action = request.form.get("action")
    if action == "add_competitor" and len(form.competitors.entries) < form.competitors.max_entries:
        form.competitors.append_entry()
    if action in ("find_customer", "add_competitor"):
        finding = action == "find_customer"
        matches = queries.customer_matches(form.customer_q.data or "") if finding else None
        page = _render_form(form, opportunity, customer, context, matches=matches, searched=finding)
        return form, customer, context, page, None
    stage = form.validate_with(customer, context["pipelines"], current_user)
    if stage is None:
        return form, customer, context, _render_form(form, opportunity, customer, context, status=422), None
    return form, customer, context, None, stage


def _refused_form(form: OpportunityForm, opportunity: Opportunity | None, customer: Customer | None,
                  error: StageMoveError):
    """422: the form again with the rules' refusal beside the field it names."""
    getattr(form, error.field or "stage_id").errors = [str(error)]
    return _render_form(form, opportunity, customer,
                        queries.form_context(form, opportunity, customer), status=422)


@bp.route("/new", methods=["GET", "POST"])
def create():
    """A new opportunity; ?customer_id= preselects the customer (from the customer page)."""
    if request.method == "GET":
        form = _opportunity_form(formdata=None)
        customer = queries.seen_customer(int_or_none(request.args.get("customer_id")))
        if customer is not None:
            form.customer_id.data = str(customer.id)
            form.contact_id.data = customer.primary_contact.id if customer.primary_contact else None
        form.owner_id.data = current_user.id
        context = queries.form_context(form, None, customer)
        pipeline = next((p for p in context["pipelines"]
                         if p.id == int_or_none(request.args.get("pipeline_id"))), None)
        pipeline = pipeline or (context["pipelines"][0] if context["pipelines"] else None)
        if pipeline is not None:
            form.pipeline_id.data = pipeline.id
            first_open = next((s for s in pipeline.stages if s.kind == "open"), None)
            form.stage_id.data = first_open.id if first_open else None
        return _render_form(form, None, customer, context)

    form, customer, context, page, stage = _posted_form(None)
    if page is not None:
        return page
    try:
        opportunity = create_opportunity(
            title=form.title.data, customer=customer, stage=stage, user=current_user,
            owner=form.owner_id.data, lost_reason=form.lost_reason_id.data,
            lost_note=form.lost_note.data, competitors=form.competitor_rows(),
            custom={key: value for key, value in custom_values(form).items()
                    if value not in (None, [], "")}, **form.fields())
    except StageMoveError as error:
        db.session.rollback()
        return _refused_form(form, None, queries.chosen_customer(form), error)
    db.session.commit()
    flash(_("Opportunity %(title)s was created.", title=opportunity.title), "success")
    return redirect_to(url_for("opportunities.show", opportunity_id=opportunity.id))


@bp.route("/<int:opportunity_id>/edit", methods=["GET", "POST"])
def update(opportunity_id: int):
    """Edit an opportunity; a changed stage is a stage move like any other (kept in history)."""
    opportunity = _editable(opportunity_id)
    if request.method == "GET":
        form = _opportunity_form(opportunity, formdata=None, obj=opportunity)
        form.competitors.entries = []
        form.competitors.last_index = -1
        for competitor in opportunity.competitors:
            form.competitors.append_entry({"name": competitor.name, "notes": competitor.notes or ""})
        form.competitors.append_entry()
        form.customer_id.data = str(opportunity.customer_id)
        form.version.data = str(opportunity.version)
        context = queries.form_context(form, opportunity, opportunity.customer)
        return _render_form(form, opportunity, opportunity.customer, context)

    form, customer, context, page, stage = _posted_form(opportunity)
    if page is not None:
        return page
    try:
        claim(opportunity, submitted_token())  # the version the form was loaded with
    except Conflict:
        db.session.rollback()
        context["conflict"] = _edit_conflict(form, opportunity, stage)
        return _render_form(form, opportunity, customer, context, status=409)
    try:
        update_opportunity(opportunity, current_user, title=form.title.data, customer=customer,
                           stage=stage, owner_id=form.owner_id.data,
                           lost_reason=form.lost_reason_id.data, lost_note=form.lost_note.data,
                           competitors=form.competitor_rows(), **form.fields())
        apply_values(opportunity, "opportunity", custom_values(form), current_user)
    except StageMoveError as error:
        db.session.rollback()
        return _refused_form(form, _editable(opportunity_id), customer, error)
    db.session.commit()
    flash(_("Opportunity %(title)s was saved.", title=opportunity.title), "success")
    return redirect_to(url_for("opportunities.show", opportunity_id=opportunity.id))


def _edit_conflict(form: OpportunityForm, opportunity: Opportunity, stage: Stage):
    """What a stale form (someone else saved first) shows: each field whose saved value
    differs from the submitted one, the competitors as a list of names."""
    fields = form_fields(form, opportunity)
    if stage.kind != "lost" and opportunity.status != "lost":
        fields = [name for name in fields if name not in ("lost_reason_id", "lost_note")]
    custom = conflict_parts(form, opportunity) or {"names": [], "submitted": {}, "stored": {},
                                                   "labels": {}}
    return conflict_for(
        form, opportunity, fields + custom["names"],
        submitted={"competitors": [name for name, _notes in form.competitor_rows()],
                   **custom["submitted"]},
        stored={"competitors": lambda: [c.name for c in opportunity.competitors], **custom["stored"]},
        labels={"competitors": _("Competitors"), **custom["labels"]},
        discard_url=url_for("opportunities.update", opportunity_id=opportunity.id))


# The page -----------------------------------------------------------------------------------

@bp.route("/<int:opportunity_id>")
def show(opportunity_id: int):
    """The opportunity page; an htmx request aimed at one of its sections gets that section."""
    opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id)
    related_q = request.args.get("related_q", "")  # the link search, without JavaScript
    return render(SHOW, block_for(PAGE_BLOCKS), **queries.page_context(
        opportunity, lost_reasons=lost_reasons, related_q=related_q,
        related_matches=queries.related_matches(opportunity, related_q),
        searched=bool(query_terms(related_q))))


def show_page(opportunity_id: int, *, status: int = 200, **extra):
    """The whole opportunity page, after the permission check; `extra` replaces parts of its
    context, e.g. a refused form (with what was typed and its errors) posted without JavaScript."""
    opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id)
    return render(SHOW, None, status=status,
                  **queries.page_context(opportunity, lost_reasons=lost_reasons, **extra))


def _lost_form(stage: Stage | None, error: str | None = None) -> LostForm:
    form = LostForm(formdata=None, stage_id=stage.id if stage else "")
    form.lost_reason_id.choices = [("", "—")] + [(r.id, r.display_name) for r in queries.lost_reasons()]
    form.lost_reason_id.data = int_or_none(request.form.get("lost_reason_id"))
    form.lost_note.data = request.form.get("lost_note", "")
    if error and "lost_reason_id" in request.form:  # the first time it is a question, not an error
        form.lost_reason_id.errors = [error]
    return form


# The stage route ------------------------------------------------------------------------------

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
    stage = db.session.get(Stage, int_or_none(request.form.get("stage_id")) or 0)
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
        return _board_move(opportunity, from_stage_id)
    if is_htmx():
        # What was loaded stays as it was saved (the move set every column and relationship
        # it changed, and claim() the version), so the three fragments are rendered from it
        # rather than from the whole page's context loaded again.
        commit_keeping_loaded()
        context = queries.stage_fragments_context(opportunity, oob=True, lost_reasons=lost_reasons)
        response = fragment(SHOW, "stage_widget", "details", "stage_history", **context)
        if stage.playbook_items:
            # The tasks panel, out of band: entering the stage created its playbook tasks.
            context["panel_tasks"] = open_tasks_for(opportunity_id=opportunity.id)
            add_oob(response, oob_block("tasks/panel.html", "task_panel", panel_oob=True, **context))
        return response
    db.session.commit()
    flash(_("%(title)s is now in %(stage)s.", title=opportunity.title, stage=stage.display_name),
          "success")
    return redirect(local_path(request.referrer)
                    or url_for("opportunities.show", opportunity_id=opportunity_id), 303)


def _board_move(opportunity: Opportunity, from_stage_id: int | None, *, every_head: bool = False,
                status: int = 200):
    """The board's answer to a move of its card: the card, and out of band the heads of the
    columns it changed and the board's totals (crm.board.queries.moved_card_context)."""
    context = board_cards.moved_card_context(opportunity, from_stage_id, current_url(),
                                               every_head=every_head)
    return fragment(board_cards.TEMPLATE, "card", "moved_heads", "board_totals", status=status,
                    **context)


def _board_page_with_error(opportunity: Opportunity, message: str, *, status: int,
                           chosen_stage_id: int | None = None):
    """A move from the board refused without JavaScript (422: the rules; 409: someone else
    changed the opportunity meanwhile): the board page the card's form came from (its `next`,
    else the Referer) again with `status`, the message on that card and its select on the
    stage asked for. None when there is no such page or it does not show the card."""
    origin = local_path(request.form.get("next")) or local_path(request.referrer)
    page = board_cards.page_with_card_error(origin, opportunity, message, chosen_stage_id) \
        if origin is not None else None
    if page is None:
        return None
    template, context = page
    return render(template, None, status=status, **context)


def _stale_move(opportunity_id: int, board: bool):
    """409: someone else changed the opportunity since the card or widget was shown. Nothing
    moves; the card (in its real column) or the widget shows it as it is now, and says why.
    Without JavaScript that is the page again: the board the card's form came from when it
    shows the card (on the stage it is really in), else the opportunity page."""
    opportunity, lost_reasons = _load_with_lost_reasons(opportunity_id)
    message = stale_move_message(opportunity)
    if is_htmx() and board:
        response = _board_move(opportunity, None, every_head=True, status=409)
        return trigger(response, {"crm:toast": message})
    if is_htmx():
        context = queries.page_context(opportunity, oob=True, stage_error=message,
                                       lost_reasons=lost_reasons)
        return fragment(SHOW, "stage_widget", "details", "stage_history", status=409, **context)
    if board:
        response = _board_page_with_error(opportunity, message, status=409)
        if response is not None:
            return response
    return render(SHOW, None, status=409, **queries.page_context(
        opportunity, stage_error=message, lost_reasons=lost_reasons))


def _refused_move(opportunity_id: int, stage: Stage | None, error: StageMoveError, board: bool):
    """A move the rules refused: ask for the lost reason inline, or say what is wrong. Without
    JavaScript, 422 with the page the form came from: the board with the message on the card
    (when that page shows it), else the opportunity page with the message beside its stage
    select, which keeps the stage asked for."""
    message = str(error)
    opportunity = _load(opportunity_id)
    needs_reason = error.field == "lost_reason_id" and stage is not None
    if is_htmx() and board:
        if needs_reason:  # the card becomes a small form asking why it was lost
            submitted = "lost_reason_id" in request.form
            return fragment(board_cards.TEMPLATE, "lost_form", status=422,
                            **board_cards.lost_form_context(opportunity, stage, current_url()),
                            reasons=queries.lost_reasons(),
                            error_message=message if (message and submitted) else None,
                            selected_reason=request.form.get("lost_reason_id", ""),
                            lost_note=request.form.get("lost_note", ""))
        response = reswap(current_app.make_response((message, 422)), "none")
        return trigger(response, {"crm:toast": message})
    if needs_reason:
        context = queries.page_context(opportunity, lost_form=_lost_form(stage, message),
                                       pending_stage=stage)
        if is_htmx():
            return fragment(SHOW, "stage_widget", status=422, **context)
        return render(SHOW, None, status=422, **context)
    if is_htmx():
        return fragment(SHOW, "stage_widget", status=422,
                        **queries.page_context(opportunity, stage_error=message))
    # Only a stage of its pipeline can stay chosen in the select (the others are not in it).
    chosen = stage.id if stage is not None and stage.pipeline_id == opportunity.pipeline_id else None
    if board:
        response = _board_page_with_error(opportunity, message, status=422, chosen_stage_id=chosen)
        if response is not None:
            return response
    return render(SHOW, None, status=422, **queries.page_context(
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
    if not delete_competitor(opportunity, competitor_id):
        abort(404)
    db.session.commit()
    return _section(_load(opportunity_id), "competitors")


@bp.route("/<int:opportunity_id>/related-search")
def related_search(opportunity_id: int):
    """Other opportunities matching what was typed, to link."""
    opportunity = _load(opportunity_id)
    q = request.args.get("related_q", "")
    return fragment(SHOW, "related_results", opportunity=opportunity,
                    related_matches=queries.related_matches(opportunity, q), related_q=q,
                    searched=bool(query_terms(q)))


@bp.route("/<int:opportunity_id>/related", methods=["POST"])
def link(opportunity_id: int):
    """Link another opportunity (both ways)."""
    opportunity = _editable(opportunity_id)
    form = RelatedForm()
    other = db.session.get(Opportunity, form.related_id.data or 0) if form.validate_on_submit() else None
    if other is not None and not can_see_opportunity(current_user, other):
        other = None  # one I may not see is as good as missing
    if not link_related(opportunity, other):  # missing, or the opportunity itself
        if not form.related_id.errors:
            form.related_id.errors = [_("Choose another opportunity.")]
        return _section(opportunity, "related", status=422, related_form=form)
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
        return fragment(SHOW, block, status=status, **queries.page_context(opportunity, **extra))
    if status >= 400:
        return render(SHOW, None, status=status, **queries.page_context(opportunity, **extra))
    return redirect(url_for("opportunities.show", opportunity_id=opportunity.id) + f"#{block}", 303)


@bp.route("/<int:opportunity_id>/delete", methods=["GET", "POST"])
def delete(opportunity_id: int):
    """Move an opportunity with its notes and tasks to the trash (its owner, managers, admins).
    GET asks for confirmation (the page without JavaScript; htmx confirms in the browser)."""
    opportunity = _editable(opportunity_id)
    back = url_for("opportunities.show", opportunity_id=opportunity.id)
    if request.method == "GET":
        return confirm_move(opportunity, back=back,
                            action=url_for("opportunities.delete", opportunity_id=opportunity.id))
    customer = opportunity.customer
    remember_undo(trash(opportunity, current_user))
    db.session.commit()
    if customer is not None and can_see_customer(current_user, customer):
        return redirect_to(url_for("customers.show", customer_id=customer.id))
    return redirect_to(url_for("opportunities.index"))
