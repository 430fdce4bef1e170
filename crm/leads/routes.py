"""Leads (线索), over HTTP: the list sorted by intent score with its filters and bulk actions;
the lead form; the lead page (score breakdown, BANT, behaviour tags, follow-ups, status,
disqualify and reopen); conversion; the scoring rules (/admin/scoring). Reads come from
crm.leads.queries, rules and writes from crm.leads.services, crm.leads.convert."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.concurrency import Conflict, claim, conflict_for, submitted_token, token_of
from crm.extensions import db
from crm.fields.forms import custom_values, prepare, with_custom_fields
from crm.fields.queries import shown_values
from crm.fields.services import apply_values
from crm.htmx import fragment, is_htmx, redirect_to, render, targets
from crm.jobs.runner import enqueue
from crm.jobs.services import create_job
from crm.leads import convert as lead_convert
from crm.leads import queries, services
from crm.pools.queries import levels as pool_levels
from crm.leads.forms import INLINE_FIELDS, DisqualifyForm, LeadForm, ScoringRuleForm, inline_form
from crm.models import BANT_KEYS, NOTE_KINDS, OPEN_STATUSES, DisqualifyReason, Lead, LeadSource, Pipeline, ScoringRule, Stage, Tag, User, Customer
from crm.permissions import (can_convert_lead, can_edit_lead, can_manage_scoring, can_see_customer,
                             can_see_lead)
from crm.rules import RuleError, apply_rule_error
from crm.notes.forms import NoteForm
from crm.notes.queries import timeline
from crm.tasks.queries import open_and_done_tasks
from crm.trash.services import trash
from crm.validators import int_or_none

bp = Blueprint("leads", __name__)

LIST = "leads/index.html"
SHOW = "leads/show.html"
FORM = "leads/form.html"
CONVERT = "leads/convert.html"
SCORING = "leads/scoring.html"


def _lead_or_404(lead_id: int, *, edit: bool = False) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None:
        abort(404)
    if not can_see_lead(current_user, lead):
        abort(404)
    if edit and not can_edit_lead(current_user, lead):
        abort(403)
    return lead


def _list_context(filters, **extra):
    page = queries.list_page(current_user, filters)
    return {"leads": page.leads, "total": page.total, "capped": page.capped,
            "has_next": page.has_next, "filters": filters, "sources": queries.sources(),
            "owners": queries.owners(), "tags": queries.behaviour_tags(), "levels": pool_levels(),
            "statuses": queries.STATUS_NAMES, "open_statuses": OPEN_STATUSES,
            "page_size": queries.PAGE_SIZE, **extra}


@bp.route("/leads")
def index():
    """Leads I may see, highest intent score first; the results alone for htmx."""
    filters = queries.LeadFilter.from_args(request.args)
    if targets("lead-results"):
        return fragment(LIST, "results", **_list_context(filters))
    return render(LIST, **_list_context(filters))


@bp.route("/leads/bulk", methods=["POST"])
def bulk():
    """Assign, tag or change the status of every selected lead I may edit."""
    ids = [i for i in map(int_or_none, request.form.getlist("lead_id")) if i is not None]
    action = request.form.get("action")
    leads = list(db.session.execute(db.select(Lead).where(Lead.id.in_(ids))).scalars()) if ids else []
    changed = 0
    try:
        if not leads:
            raise RuleError(_("Select at least one lead."))
        for lead in leads:
            if not can_edit_lead(current_user, lead) or lead.status == "converted":
                continue
            if action == "assign":
                owner = db.session.get(User, int_or_none(request.form.get("owner_id")) or -1)
                if owner is None:
                    raise RuleError(_("Choose whom to assign the leads to."))
                services.assign(current_user, lead, owner)
            elif action == "tag":
                tag = db.session.get(Tag, int_or_none(request.form.get("tag_id")) or -1)
                if tag is None:
                    raise RuleError(_("Choose a tag."))
                if tag not in lead.tags:
                    services.set_tags(current_user, lead, [*lead.tags, tag])
            elif action == "status":
                services.set_status(current_user, lead, request.form.get("status") or "")
            else:
                raise RuleError(_("Choose an action."))
            changed += 1
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("leads.index"), 303)
    db.session.commit()
    flash(_("%(num)d leads changed.", num=changed), "success")
    return redirect(url_for("leads.index"), 303)


def _lead_form(lead=None, **kwargs):
    """The lead form with a cf_<key> input per lead custom field I may see (crm/fields)."""
    form = with_custom_fields(LeadForm, "lead")(sources=queries.sources(), owners=queries.owners(),
                                                levels=pool_levels(), obj=lead, **kwargs)
    prepare(form, lead)
    return form


@bp.route("/leads/new", methods=["GET", "POST"])
def create():
    """A new lead, owned by its creator unless another owner is chosen."""
    form = _lead_form()
    if request.method == "GET":
        form.owner_id.data = current_user.id
    if form.validate_on_submit():
        values = {k: form[k].data for k in services.FORM_FIELDS}
        try:
            lead = services.save_lead(current_user, None, values)
            apply_values(lead, "lead", custom_values(form), current_user)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Lead %(name)s was saved.", name=lead.name), "success")
            return redirect(url_for("leads.show", lead_id=lead.id), 303)
    return render(FORM, status=422 if form.is_submitted() else 200, form=form, lead=None)


@bp.route("/leads/<int:lead_id>/edit", methods=["GET", "POST"])
def update(lead_id: int):
    """Edit a lead with the conflict rule (the version it was loaded with)."""
    lead = _lead_or_404(lead_id, edit=True)
    if lead.read_only:
        abort(409)
    form = _lead_form(lead)
    if request.method == "GET":
        form.version.data = lead.version
    conflict = False
    if form.validate_on_submit():
        values = {k: form[k].data for k in services.FORM_FIELDS}
        try:
            claim(lead, submitted_token())
            services.save_lead(current_user, lead, values)
            apply_values(lead, "lead", custom_values(form), current_user)
        except Conflict:
            db.session.rollback()
            lead = _lead_or_404(lead_id, edit=True)
            form.version.data = lead.version
            form.form_errors.append(_("Someone else saved this lead after you opened it. "
                                      "Check the values and save again."))
            return render(FORM, status=409, form=form, lead=lead, conflict=True)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
        else:
            db.session.commit()
            return redirect(url_for("leads.show", lead_id=lead.id), 303)
    return render(FORM, status=422 if form.is_submitted() else 200, form=form, lead=lead,
                  conflict=conflict)


def _show_context(lead, **extra):
    reasons = queries.reasons()
    disqualify = extra.pop("disqualify_form", None) or DisqualifyForm(formdata=None)
    disqualify.reason_id.choices = [(None, "—")] + [(r.id, r.label) for r in reasons]
    can_edit = can_edit_lead(current_user, lead) and not lead.read_only
    # The follow-ups and tasks as customers have them (notes/timeline.html, tasks/panel.html):
    # the task panel's open tasks and the timeline's done ones in one query.
    panel_tasks, done_tasks = open_and_done_tasks(lead_id=lead.id)
    return {"lead": lead,
            "timeline_items": timeline(lead_id=lead.id, done_tasks=done_tasks),
            "next_contact": lead.next_contact_at,
            "note_form": extra.pop("note_form", None) or NoteForm(formdata=None, lead_id=lead.id),
            "notes_read_only": not can_edit, "panel_read_only": not can_edit,
            "panel_tasks": panel_tasks, "panel_lead_id": lead.id,
            "panel_customer_id": None, "panel_opportunity_id": None,
            "custom_shown": shown_values("lead", lead, current_user),
            "disqualify_form": disqualify, "tags": queries.behaviour_tags(),
            "statuses": queries.STATUS_NAMES, "open_statuses": OPEN_STATUSES,
            "bant_keys": BANT_KEYS, "can_edit": can_edit, "inline_fields": _inline_fields(),
            "can_convert": can_convert_lead(current_user, lead),
            "reason_label": queries.label(lead.disqualify_reason, queries.REASON_NAMES)
            if lead.disqualify_reason else None, **extra}


@bp.route("/leads/<int:lead_id>")
def show(lead_id: int):
    """The lead page: score and breakdown, timeline and tasks, BANT, tags, status."""
    lead = _lead_or_404(lead_id)
    if targets("lead-score"):
        return fragment(SHOW, "score", lead=lead)
    return render(SHOW, **_show_context(lead))


def show_page(lead_id: int, *, status: int = 200, **overrides):
    """The whole lead page after the permission check, `overrides` replacing parts of its
    context (a follow-up refused without JavaScript: crm.responses.record_page)."""
    lead = _lead_or_404(lead_id)
    return render(SHOW, status=status, **_show_context(lead, **overrides))


# --- One field in place (htmx; without JavaScript the full form, /leads/<id>/edit) -----------

FIELD = "leads/_field.html"


def _inline_fields():
    """(name, label) of the fields the lead page edits in place, labelled as the full form."""
    labels = LeadForm.__dict__
    return [(name, labels[name].args[0]) for name in INLINE_FIELDS]


def _field_or_404(name: str) -> str:
    if name not in INLINE_FIELDS:
        abort(404)
    return name


def _field_context(lead, name, **extra):
    return {"lead": lead, "name": name, "label": dict(_inline_fields())[name],
            "can_edit": can_edit_lead(current_user, lead) and not lead.read_only, **extra}


@bp.route("/leads/<int:lead_id>/fields/<name>")
def field_item(lead_id: int, name: str):
    """One field as the page shows it (the editor's Cancel)."""
    lead = _lead_or_404(lead_id)
    return fragment(FIELD, "item", **_field_context(lead, _field_or_404(name)))


@bp.route("/leads/<int:lead_id>/fields/<name>/edit")
def field_edit(lead_id: int, name: str):
    """The editor of one field, carrying the lead's version as it is now; without htmx the
    full edit form."""
    lead = _lead_or_404(lead_id, edit=True)
    name = _field_or_404(name)
    if lead.read_only:
        abort(409)
    if not is_htmx():
        return redirect(url_for("leads.update", lead_id=lead.id))
    form = inline_form(name, formdata=None, data={name: getattr(lead, name),
                                                 "version": token_of(lead)})
    return fragment(FIELD, "editor", **_field_context(lead, name, form=form))


@bp.route("/leads/<int:lead_id>/fields/<name>", methods=["POST"])
def field_save(lead_id: int, name: str):
    """Save one field in place (audited, rescored, as any edit of the lead). Refused input:
    the editor again, 422, with the message. Someone saved the lead since the editor opened:
    409, both values side by side (the conflict panel), the typed value kept."""
    lead = _lead_or_404(lead_id, edit=True)
    name = _field_or_404(name)
    if lead.read_only:
        abort(409)
    form = inline_form(name)
    if not form.validate_on_submit():
        return fragment(FIELD, "editor", status=422, **_field_context(lead, name, form=form))
    try:
        claim(lead, submitted_token())
        services.save_lead(current_user, lead, {name: form[name].data or None})
    except Conflict:
        db.session.rollback()
        conflict = conflict_for(
            form, lead, [name], discard_url=url_for("leads.show", lead_id=lead.id),
            discard_hx={"hx-get": url_for("leads.field_item", lead_id=lead.id, name=name),
                        "hx-target": f"#lead-field-{name}", "hx-swap": "outerHTML"})
        return fragment(FIELD, "editor", status=409,
                        **_field_context(lead, name, form=form, conflict=conflict))
    except RuleError as error:
        db.session.rollback()
        apply_rule_error(form, error)
        return fragment(FIELD, "editor", status=422, **_field_context(lead, name, form=form))
    db.session.commit()
    if not is_htmx():
        return redirect(url_for("leads.show", lead_id=lead.id), 303)
    return fragment(FIELD, "item", **_field_context(lead, name, saved=True))


def _changed(lead, change):
    """Run one service change of the lead: committed and the page again, or the rule's
    message flashed, nothing kept, and the page with 422."""
    try:
        change()
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _after_change(lead, 422)
    db.session.commit()
    return _after_change(lead)


def _after_change(lead, status=200, **extra):
    if is_htmx():
        return render(SHOW, "main", status=status, **_show_context(lead, **extra))
    if status != 200:
        return render(SHOW, status=status, **_show_context(lead, **extra))
    return redirect(url_for("leads.show", lead_id=lead.id), 303)


@bp.route("/leads/<int:lead_id>/tags", methods=["POST"])
def set_tags(lead_id: int):
    """The lead's behaviour tags, exactly those checked; the score follows."""
    lead = _lead_or_404(lead_id, edit=True)
    ids = [i for i in map(int_or_none, request.form.getlist("tag_id")) if i is not None]
    tags = list(db.session.execute(db.select(Tag).where(Tag.id.in_(ids))).scalars()) if ids else []
    return _changed(lead, lambda: services.set_tags(current_user, lead, tags))


@bp.route("/leads/<int:lead_id>/bant", methods=["POST"])
def set_bant(lead_id: int):
    lead = _lead_or_404(lead_id, edit=True)
    return _changed(lead, lambda: services.set_bant(current_user, lead, request.form))


@bp.route("/leads/<int:lead_id>/status", methods=["POST"])
def set_status(lead_id: int):
    lead = _lead_or_404(lead_id, edit=True)
    return _changed(lead, lambda: services.set_status(current_user, lead, request.form.get("status") or ""))


@bp.route("/leads/<int:lead_id>/disqualify", methods=["POST"])
def disqualify(lead_id: int):
    """Disqualify with a reason from the admin's list; nothing is deleted."""
    lead = _lead_or_404(lead_id, edit=True)
    form = DisqualifyForm()
    form.reason_id.choices = [(None, "—")] + [(r.id, r.label) for r in queries.reasons()]
    reason = db.session.get(DisqualifyReason, form.reason_id.data or -1) if form.validate_on_submit() else None
    try:
        services.disqualify(current_user, lead, reason, form.note.data)
    except RuleError as error:
        db.session.rollback()
        apply_rule_error(form, error)
        return _after_change(lead, 422, disqualify_form=form)
    db.session.commit()
    return _after_change(lead)


@bp.route("/leads/<int:lead_id>/reopen", methods=["POST"])
def reopen(lead_id: int):
    lead = _lead_or_404(lead_id, edit=True)
    try:
        services.reopen(current_user, lead)
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _after_change(lead, 422)
    db.session.commit()
    return _after_change(lead)


@bp.route("/leads/<int:lead_id>/delete", methods=["POST"])
def delete(lead_id: int):
    """Move the lead, its notes and tasks to the trash (restorable from /trash for 30 days)."""
    lead = _lead_or_404(lead_id, edit=True)
    name = lead.name
    trash(lead, current_user)
    db.session.commit()
    flash(_("Lead %(name)s was moved to the trash.", name=name), "success")
    return redirect_to(url_for("leads.index"))


# --- Conversion ---------------------------------------------------------------------------

def _pipelines():
    return list(db.session.execute(db.select(Pipeline).order_by(Pipeline.position, Pipeline.id)).scalars())


@bp.route("/leads/<int:lead_id>/convert", methods=["GET", "POST"])
def convert(lead_id: int):
    """Convert: link a matching customer or create one, its contact and optionally an
    opportunity in the chosen stage; one transaction. Stale (converted meanwhile): 409."""
    lead = _lead_or_404(lead_id, edit=True)
    if lead.status == "converted" and request.method == "GET":
        return redirect(url_for("leads.show", lead_id=lead.id), 303)
    matches = [c for c in lead_convert.matching_customers(lead) if can_see_customer(current_user, c)]
    error = None
    if request.method == "POST":
        customer = None
        customer_id = int_or_none(request.form.get("customer_id"))
        if customer_id:
            customer = db.session.get(Customer, customer_id)
            if customer is None or not can_see_customer(current_user, customer):
                abort(404)
        stage = None
        stage_id = int_or_none(request.form.get("stage_id"))
        if stage_id:
            stage = db.session.get(Stage, stage_id)
        try:
            lead_convert.convert(current_user, lead, int_or_none(request.form.get("version")),
                                 customer=customer, stage=stage,
                                 opportunity_title=(request.form.get("title") or "").strip()[:200] or None)
        except Conflict:
            db.session.rollback()
            lead = _lead_or_404(lead_id)
            return render(CONVERT, status=409, lead=lead, matches=matches, pipelines=_pipelines(),
                          error=_("Someone else converted this lead a moment ago; nothing was created."))
        except RuleError as rule_error:
            db.session.rollback()
            error = str(rule_error)
        else:
            db.session.commit()
            flash(_("Lead %(name)s was converted.", name=lead.name), "success")
            if lead.opportunity_id:
                return redirect(url_for("opportunities.show", opportunity_id=lead.opportunity_id), 303)
            return redirect(url_for("customers.show", customer_id=lead.customer_id), 303)
    return render(CONVERT, status=422 if error else 200, lead=lead, matches=matches,
                  pipelines=_pipelines(), error=error,
                  can_convert=can_convert_lead(current_user, lead))


# --- Scoring rules --------------------------------------------------------------------------

@bp.route("/admin/scoring", methods=["GET", "POST"])
def scoring_rules():
    """Admins define the intent score's rules; a change recomputes every lead's score."""
    if not can_manage_scoring(current_user):
        abort(403)
    form = ScoringRuleForm()
    form.tag_id.choices = [(None, "—")] + [(t.id, t.name) for t in queries.behaviour_tags()]
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            kind = form.kind.data
            if kind == "tag" and not form.tag_id.data:
                form.tag_id.errors.append(_("Choose a behaviour tag."))
            elif kind == "note_kind" and form.note_kind.data not in NOTE_KINDS:
                form.note_kind.errors.append(_("Choose a kind of follow-up."))
            elif kind == "silence" and not form.days.data:
                form.days.errors.append(_("Enter the number of days."))
            else:
                db.session.add(ScoringRule(kind=kind, points=form.points.data,
                                           tag_id=form.tag_id.data if kind == "tag" else None,
                                           note_kind=form.note_kind.data if kind == "note_kind" else None,
                                           days=form.days.data if kind == "silence" else None))
                return _rescore_in_background()
    return render(SCORING, status=status, form=form, rules=queries.scoring_rules())


@bp.route("/admin/scoring/<int:rule_id>/delete", methods=["POST"])
def delete_rule(rule_id: int):
    if not can_manage_scoring(current_user):
        abort(403)
    rule = db.get_or_404(ScoringRule, rule_id)
    db.session.delete(rule)
    return _rescore_in_background()


def _rescore_in_background():
    """The rule change is committed; every lead is rescored by a job whose page shows its
    progress (crm/jobs)."""
    job = create_job("rescore-leads", current_user)
    db.session.commit()
    enqueue(job)
    return redirect_to(url_for("jobs.show", job_id=job.id))


# --- Lead sources and disqualify reasons (admin lists) -------------------------------------

LISTS = "leads/lists.html"
LIST_MODELS = {"source": (LeadSource, queries.SOURCE_NAMES),
               "reason": (DisqualifyReason, queries.REASON_NAMES)}


@bp.route("/admin/lead-lists", methods=["GET", "POST"])
def lead_lists():
    """Admins rename and add lead sources and disqualify reasons (a built-in row keeps its key,
    so a renamed one still means the same)."""
    if not can_manage_scoring(current_user):
        abort(403)
    errors = {}
    if request.method == "POST":
        which = request.form.get("list")
        if which not in LIST_MODELS:
            abort(400)
        model, _names = LIST_MODELS[which]
        name = (request.form.get("name") or "").strip()
        row_id = int_or_none(request.form.get("id"))
        if not name or len(name) > 80:
            errors[which] = _("Enter a name of at most 80 characters.")
        else:
            if row_id:
                row = db.get_or_404(model, row_id)
                row.name = name
            else:
                last = db.session.execute(db.select(db.func.max(model.position))).scalar() or 0
                db.session.add(model(name=name, position=last + 1))
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("leads.lead_lists"), 303)
    return render(LISTS, status=422 if errors else 200, errors=errors,
                  sources=queries.sources(), reasons=queries.reasons())
