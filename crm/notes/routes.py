"""Follow-up notes over HTTP: adding, editing and deleting them inline (htmx), with plain-form
fallbacks, on a customer's, an opportunity's or a lead's page (one timeline component). Reads
come from crm.notes.queries, writes from crm.notes.services. On a lead the score block comes
back out of band with every change (the note changed its score)."""
from datetime import datetime

from flask import Blueprint, abort, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.concurrency import Conflict, claim, conflict_for, submitted_token, token_of
from crm.extensions import commit_keeping_loaded, db
from crm.htmx import add_oob, fragment, is_htmx, oob_block, render, retarget
from crm.l10n import dt_input
from crm.models import Note
from crm.notes.forms import NoteForm
from crm.notes.queries import lead_target, note_or_404, note_targets
from crm.notes.services import add_note, lead_of, update_note, user_time_to_utc
from crm.permissions import can_edit_lead, can_edit_note
from crm.responses import record_page, remember_undo, undo_placeholder
from crm.rules import RuleError, apply_rule_error
from crm.leads.services import note_changed
from crm.trash.services import trash
from crm.validators import int_or_none, unique_field_ids

bp = Blueprint("notes", __name__, url_prefix="/notes")
# The timeline's Edit and Delete show for the notes the user may change.
bp.add_app_template_global(can_edit_note, "can_edit_note")

TEMPLATE = "notes/timeline.html"
EDIT_TEMPLATE = "notes/edit.html"
LEAD_PAGE = "leads/show.html"


def _resolve_targets(form: NoteForm):
    """The customer, contact and opportunity the note is for; 404 when the form names none,
    or one that does not exist, or one I may not see (the same answer: see note_targets)."""
    found = note_targets(current_user, customer_id=int_or_none(form.customer_id.data),
                         contact_id=int_or_none(form.contact_id.data),
                         opportunity_id=int_or_none(form.opportunity_id.data))
    if found is None:
        abort(404)
    return found


def _back_url(customer, opportunity, lead=None):
    """The page the note belongs to: its lead's (while it is a lead's), else its
    opportunity's, else its customer's."""
    if lead is not None:
        return url_for("leads.show", lead_id=lead.id)
    if opportunity is not None:
        return url_for("opportunities.show", opportunity_id=opportunity.id)
    return url_for("customers.show", customer_id=customer.id)


def _note_page(note: Note) -> str:
    return _back_url(note.customer, note.opportunity, lead_of(note))


def _page_with_note_form(customer, opportunity, form: NoteForm, lead=None):
    """A note refused without JavaScript: the page its form lives on (see _back_url) again, 422,
    with what was typed kept and each error beside its field. Nothing was saved."""
    if lead is not None:
        return record_page("lead", lead.id, status=422, note_form=form)
    if opportunity is not None:
        return record_page("opportunity", opportunity.id, status=422, note_form=form)
    return record_page("customer", customer.id, status=422, note_form=form)


def _with_lead_score(response, lead):
    """A lead's note changed its score: the lead page's score block, out of band."""
    if lead is None:
        return response
    if isinstance(response, str):
        response = make_response(response)
    return add_oob(response, oob_block(LEAD_PAGE, "score", lead=lead))


@bp.route("", methods=["POST"])
def create():
    """Add a note; htmx gets the new timeline entry and a fresh form, others a redirect (or,
    when the note is refused, its page again with the form and its errors). A note on a lead
    (`lead_id`): only who may edit the lead adds one (403 otherwise; 404 when they may not see
    it), and the score block comes back out of band."""
    form = NoteForm()
    lead = customer = contact = opportunity = None
    lead_id = int_or_none(form.lead_id.data)
    if lead_id is not None:
        lead = lead_target(current_user, lead_id)
        if lead is None:
            abort(404)
        if not can_edit_lead(current_user, lead):
            abort(403)
        record = lead
    else:
        customer, contact, opportunity = _resolve_targets(form)
        record = opportunity if opportunity is not None else customer
    note = None
    if form.validate_on_submit():
        try:
            note = add_note(author=current_user, kind=form.kind.data, body=form.body.data,
                            happened_at=form.happened_at.data, customer=customer,
                            contact=contact, opportunity=opportunity, lead=lead,
                            next_contact_at=form.next_contact_at.data)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
    if note is None:
        if is_htmx():
            return retarget(fragment(TEMPLATE, "note_form", status=422, note_form=form,
                                     next_contact=record.next_contact_at), "#note-form")
        return _page_with_note_form(customer, opportunity, form, lead)
    if lead is not None:
        # The lead, its new score and the note render as saved: no reload after the commit.
        commit_keeping_loaded()
    else:
        db.session.commit()
    if is_htmx():
        fresh = NoteForm(formdata=None, customer_id=customer.id if customer else "",
                         opportunity_id=opportunity.id if opportunity else "",
                         contact_id=contact.id if contact else "", lead_id=lead.id if lead else "")
        return _with_lead_score(fragment(TEMPLATE, "note_item", "note_form", note=note,
                                         note_form=fresh, oob=True,
                                         next_contact=record.next_contact_at), lead)
    flash(_("The note was added."), "success")
    return redirect(_back_url(customer, opportunity, lead), 303)


@bp.route("/<int:note_id>")
def show(note_id: int):
    """One timeline entry (used to cancel an edit)."""
    return fragment(TEMPLATE, "note_item", note=note_or_404(note_id))


@bp.route("/<int:note_id>/edit", methods=["GET", "POST"])
def update(note_id: int):
    """Edit a note; only its author or an admin may. htmx swaps the form in place of the note
    (and the saved note back); without JavaScript the form is a page of its own, which a
    refused save (422) or a conflict (409) answers again with what was typed."""
    note = note_or_404(note_id, edit=True)
    form = NoteForm(obj=note) if request.method == "GET" else NoteForm()
    if request.method == "GET":
        form.happened_at.data = datetime.strptime(dt_input(note.happened_at), "%Y-%m-%dT%H:%M")
    if request.method == "POST" and form.validate_on_submit():
        try:
            claim(note, submitted_token())  # notes have no version: updated_at is the token
        except Conflict:
            db.session.rollback()
            return _note_conflict(note, form)
        lead = lead_of(note)
        try:
            update_note(note, kind=form.kind.data, body=form.body.data,
                        happened_at=form.happened_at.data, user=current_user)
        except RuleError:  # the lead was converted meanwhile: read-only
            db.session.rollback()
            abort(409)
        db.session.commit()
        if is_htmx():
            return _with_lead_score(fragment(TEMPLATE, "note_item", note=note), lead)
        return redirect(_note_page(note), 303)
    status = 422 if form.errors else 200
    return _edit_form(note, form, status=status,
                      version_token=submitted_token() if request.method == "POST" else token_of(note))


def _edit_form(note: Note, form: NoteForm, *, status: int, **context):
    """The edit form: for htmx the `note_edit` block alone (it takes the note's place), else
    the note's edit page (notes/edit.html) around it."""
    customer, opportunity, lead = note.customer, note.opportunity, lead_of(note)
    # Ids of their own: inline, this form shares the page with the add-note form.
    unique_field_ids(form, f"note-{note.id}-")
    back_label = (lead.name if lead is not None else opportunity.title if opportunity is not None
                  else customer.name)
    return render(EDIT_TEMPLATE, "note_edit", status=status, note=note, edit_form=form,
                  inline=is_htmx(), back_url=_note_page(note),
                  back_label=back_label, **context)


def _note_conflict(note: Note, form: NoteForm):
    """409: the note was saved by someone else since the form was opened; both versions."""
    typed = user_time_to_utc(form.happened_at.data) if form.happened_at.data else None
    conflict = conflict_for(
        form, note, ["kind", "body", "happened_at"],
        submitted={"happened_at": typed},
        # The form holds minutes; an empty time keeps the stored one.
        stored={"happened_at": lambda: typed if typed is None else (
            note.happened_at.replace(second=0, microsecond=0))},
        discard_url=_note_page(note),
        discard_hx={"hx-get": url_for("notes.show", note_id=note.id),
                    "hx-target": f"#note-{note.id}", "hx-swap": "outerHTML"} if is_htmx() else None)
    return _edit_form(note, form, status=409, conflict=conflict, version_token=conflict.token)


@bp.route("/<int:note_id>/delete", methods=["POST"])
def delete(note_id: int):
    """Move a note to the trash; only its author or an admin may. htmx gets, in its place, a
    line with Undo."""
    note = note_or_404(note_id, edit=True)
    back, lead = _note_page(note), lead_of(note)
    result = trash(note, current_user)
    if lead is not None:
        note_changed(lead)  # its last contact and score without the note, same transaction
    db.session.commit()
    if is_htmx():
        return _with_lead_score(undo_placeholder(result, f"note-{note_id}"), lead)
    remember_undo(result)
    return redirect(back, 303)
