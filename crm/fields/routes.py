"""Custom fields over HTTP: the admin's definitions (/admin/fields?type=customer|contact|
opportunity|lead: list, create, edit with the options of choice fields, reorder, delete to the
trash, restore, purge) and the inline edit of one field on a record's page (a self-replacing
fragment, with the record's version check: crm.concurrency; a lead's too, a converted lead
read-only)."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.concurrency import Conflict, claim, conflict_for, submitted_token, token_of
from crm.extensions import db
from crm.fields import queries, services
from crm.fields.forms import FieldForm, InlineForm, conflict_parts, custom_values, prepare, with_custom_fields
from crm.htmx import fragment, is_htmx, redirect_to, render
from crm.models import RECORD_TYPES, Contact, Customer, Lead, Opportunity
from crm.permissions import (admin_required, can_edit_contact, can_edit_customer, can_edit_lead,
                             can_edit_opportunity, can_see_contact, can_see_customer, can_see_field,
                             can_see_lead, can_see_opportunity, checked)
from crm.rules import RuleError, apply_rule_error
from crm.validators import int_or_none

bp = Blueprint("fields", __name__)

INDEX = "fields/index.html"
FORM = "fields/form.html"
CONFIRM = "fields/confirm_delete.html"
ITEM = "fields/item.html"


def _record_type(value: str | None) -> str:
    return value if value in RECORD_TYPES else "customer"


def _back(record_type: str):
    """Back to the fields of this record type, or to the trash page when the form came from it."""
    if request.form.get("next") == "trash":
        return redirect_to(url_for("trash.index"))
    return redirect_to(url_for("fields.index", type=record_type))


# --- definitions (admins) ---------------------------------------------------------------------

@bp.route("/admin/fields")
@admin_required
def index():
    """The fields of one record type, in order, and those in the trash."""
    record_type = _record_type(request.args.get("type"))
    return render(INDEX, record_type=record_type, record_types=RECORD_TYPES,
                  fields=queries.admin_fields(record_type),
                  trashed=queries.trashed_fields(record_type),
                  retention=services.RETENTION_DAYS)


def _options_posted() -> list[dict]:
    """The options editor's rows: opt_id, opt_label_zh, opt_label_en, opt_colour, opt_position,
    opt_retired (its value: the row's index), in the order of their positions."""
    ids = request.form.getlist("opt_id")
    zh, en = request.form.getlist("opt_label_zh"), request.form.getlist("opt_label_en")
    colours, positions = request.form.getlist("opt_colour"), request.form.getlist("opt_position")
    retired = set(request.form.getlist("opt_retired"))
    rows = []
    for i in range(min(len(zh), len(en), 200)):
        rows.append({"id": int_or_none(ids[i]) if i < len(ids) else None,
                     "label_zh": zh[i].strip(), "label_en": en[i].strip(),
                     "colour": colours[i] if i < len(colours) else "",
                     "retired": str(i) in retired,
                     "position": int_or_none(positions[i] if i < len(positions) else "") or (1000 + i)})
    rows.sort(key=lambda row: row["position"])
    return rows


def _save(record_type: str, field):
    form = FieldForm(obj=field) if field is not None else FieldForm()
    if form.validate_on_submit():
        values = {name: form[name].data for name in services.DEFINITION_FIELDS}
        values.update(type=form.type.data, key=form.key.data)
        try:
            field = services.save_field(record_type, field, values)
            services.save_options(field, _options_posted())
            db.session.flush()
            services.sync_index(field)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Field %(label)s was saved.", label=field.label(queries.locale_id())), "success")
            return _back(record_type)
    if field is not None and request.method == "POST":
        db.session.refresh(field)
    return render(FORM, status=422 if form.errors or form.form_errors else 200, form=form,
                  field=field, record_type=record_type,
                  has_values=bool(field is not None and queries.value_count(field)))


@bp.route("/admin/fields/new", methods=["GET", "POST"])
@admin_required
def create():
    """A new field of the record type ?type=."""
    return _save(_record_type(request.args.get("type")), None)


@bp.route("/admin/fields/<int:field_id>/edit", methods=["GET", "POST"])
@admin_required
def update(field_id: int):
    """Change a field: labels, key (until it holds data), type (when every value converts),
    flags, and the options of a choice field."""
    field = queries.field_or_none(field_id) or abort(404)
    return _save(field.record_type, field)


@bp.route("/admin/fields/<int:field_id>/move", methods=["POST"])
@admin_required
def move(field_id: int):
    field = queries.field_or_none(field_id) or abort(404)
    services.move(field, -1 if request.form.get("direction") == "up" else 1)
    db.session.commit()
    return _back(field.record_type)


@bp.route("/admin/fields/<int:field_id>/delete", methods=["GET", "POST"])
@admin_required
def delete(field_id: int):
    """Delete a field: a field that holds data asks first, with the count; it goes to the trash."""
    field = queries.field_or_none(field_id) or abort(404)
    count = queries.value_count(field)
    if request.method == "GET" or (count and request.form.get("confirm") != "1"):
        return render(CONFIRM, field=field, count=count, retention=services.RETENTION_DAYS)
    services.trash_field(field)
    db.session.commit()
    flash(_("Field %(label)s was moved to the trash. You can restore it for 30 days.",
            label=field.label(queries.locale_id())), "success")
    return _back(field.record_type)


@bp.route("/admin/fields/<int:field_id>/restore", methods=["POST"])
@admin_required
def restore(field_id: int):
    field = queries.field_or_none(field_id, deleted=True) or abort(404)
    try:
        services.restore_field(field)
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Field %(label)s was restored.", label=field.label(queries.locale_id())), "success")
    return _back(field.record_type)


@bp.route("/admin/fields/<int:field_id>/purge", methods=["POST"])
@admin_required
def purge(field_id: int):
    field = queries.field_or_none(field_id, deleted=True) or abort(404)
    record_type, label = field.record_type, field.label(queries.locale_id())
    services.purge_field(field)
    db.session.commit()
    flash(_("Field %(label)s was deleted for good.", label=label), "success")
    return _back(record_type)


# --- one field of a record, in place ------------------------------------------------------------

def _can_change_lead(user, lead) -> bool:
    """Whoever may edit the lead, while it is not converted (a converted lead is read-only)."""
    return can_edit_lead(user, lead) and not lead.read_only


RECORDS = {"customer": (Customer, can_see_customer, can_edit_customer),
           "contact": (Contact, can_see_contact, can_edit_contact),
           "opportunity": (Opportunity, can_see_opportunity, can_edit_opportunity),
           "lead": (Lead, can_see_lead, _can_change_lead)}
AREAS = {"customer": "customers", "opportunity": "opportunities", "lead": "leads"}


def _record_url(record_type: str, record, *, edit: bool) -> str:
    """Where a browser without htmx goes: the record's edit form, or its page after a save
    (a contact's are its customer's)."""
    if record_type == "contact":
        if edit:
            return url_for("customers.update_contact", customer_id=record.customer_id, contact_id=record.id)
        return url_for("customers.show", customer_id=record.customer_id) + f"#contact-{record.id}"
    return url_for(f"{AREAS[record_type]}.{'update' if edit else 'show'}", **{f"{record_type}_id": record.id})


def _record_and_field(record_type: str, record_id: int, key: str, *, edit: bool):
    """The record (404 / 403 as its pages answer) and the field (404 when unknown, or hidden
    from the user: a restricted field is one that does not exist for a salesperson)."""
    if record_type not in RECORDS:
        abort(404)
    model, can_see, can_edit = RECORDS[record_type]
    if record_type == "lead":
        record = _lead(record_id, edit=edit)
    else:
        record = checked(db.session.get(model, record_id), can_see, can_edit, edit=edit)
    field = next((f for f in queries.definitions(record_type) if f.key == key), None)
    if field is None or not can_see_field(current_user, field):
        abort(404)
    return record, field


def _lead(lead_id: int, *, edit: bool):
    """A lead as its pages answer: 404 when deleted or not visible, 403 when I may not edit
    it, 409 when it is converted (read-only)."""
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None or not can_see_lead(current_user, lead):
        abort(404)
    if edit and not can_edit_lead(current_user, lead):
        abort(403)
    if edit and lead.read_only:
        abort(409)
    return lead


def item_context(record_type: str, record, field, **extra) -> dict:
    shown = next(s for s in queries.shown_values(record_type, record) if s.field.id == field.id)
    _model, _see, can_edit = RECORDS[record_type]
    return {"record_type": record_type, "record": record, "item": shown,
            "can_edit": can_edit(current_user, record), **extra}


def _inline_form(record_type: str, record, field, formdata=True):
    form_class = with_custom_fields(InlineForm, record_type, definitions=[field])
    form = form_class() if formdata else form_class(formdata=None)
    prepare(form, record if not formdata else None)
    if not formdata:
        form.version.data = token_of(record)
    return form


@bp.route("/fields/<record_type>/<int:record_id>/<key>")
def item(record_type: str, record_id: int, key: str):
    """One field of a record as its page shows it (the inline editor's Cancel)."""
    record, field = _record_and_field(record_type, record_id, key, edit=False)
    return fragment(ITEM, "item", **item_context(record_type, record, field))


@bp.route("/fields/<record_type>/<int:record_id>/<key>/edit")
def edit(record_type: str, record_id: int, key: str):
    """The inline editor of one field, carrying the record's version as it is now."""
    record, field = _record_and_field(record_type, record_id, key, edit=True)
    if not is_htmx():
        return redirect(_record_url(record_type, record, edit=True))
    return fragment(ITEM, "editor", **item_context(
        record_type, record, field, form=_inline_form(record_type, record, field, formdata=False)))


@bp.route("/fields/<record_type>/<int:record_id>/<key>", methods=["POST"])
def save(record_type: str, record_id: int, key: str):
    """Save one field in place. Refused input: the editor again, 422, with the message. Someone
    saved the record since the editor opened: 409, both values (the conflict panel)."""
    record, field = _record_and_field(record_type, record_id, key, edit=True)
    form = _inline_form(record_type, record, field)
    if not form.validate_on_submit():
        return fragment(ITEM, "editor", status=422, **item_context(record_type, record, field, form=form))
    try:
        claim(record, submitted_token())
    except Conflict:
        db.session.rollback()
        parts = conflict_parts(form, record)
        conflict = conflict_for(form, record, fields=parts["names"], submitted=parts["submitted"],
                                stored=parts["stored"], labels=parts["labels"])
        return fragment(ITEM, "editor", status=409, **item_context(
            record_type, record, field, form=form, conflict=conflict))
    services.apply_values(record, record_type, custom_values(form), current_user)
    db.session.commit()
    if not is_htmx():
        return redirect(_record_url(record_type, record, edit=False), 303)
    return fragment(ITEM, "item", **item_context(record_type, record, field, saved=True))
