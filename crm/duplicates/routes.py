"""Duplicates (查重) and merge (合并) over HTTP: the likely pairs of a record type (for
contacts, optionally of one customer, with its contacts to pick any two from), the likely
duplicate hint on a customer's page, the side-by-side merge view, the merge, and undoing it.
Rules in crm.duplicates.services."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from crm.duplicates import queries, services
from crm.extensions import db
from crm.fields.queries import definitions
from crm.htmx import redirect_to, render
from crm.jobs.runner import enqueue
from crm.jobs.services import create_job
from crm.models import Customer, Merge
from crm.permissions import can_see_customer
from crm.rules import RuleError
from crm.validators import int_or_none

bp = Blueprint("duplicates", __name__, url_prefix="/duplicates")


def _kind(type_name: str):
    kind = services.kind_named(type_name)
    if kind is None:
        abort(404)
    return kind


def _can_see(kind, record) -> bool:
    return kind.can_see(current_user, record)


def _customer(raw_id):
    """The customer a URL names, or 404 (missing, in the trash, or not visible)."""
    customer_id = int_or_none(raw_id)
    customer = db.session.get(Customer, customer_id) if customer_id is not None else None
    if customer is None or customer.deleted_at is not None \
            or not can_see_customer(current_user, customer):
        abort(404)
    return customer


def _records(kind, raw_ids) -> list:
    ids = list(dict.fromkeys(i for i in (int_or_none(v) for v in raw_ids) if i is not None))
    records = [db.session.get(kind.model, i) for i in ids[:10]]
    if any(r is None or r.deleted_at is not None for r in records):
        abort(404)
    if any(not _can_see(kind, r) for r in records):
        abort(403)
    if any(not kind.can_edit(current_user, r) for r in records):
        abort(403)
    return records


@bp.route("/<type_name>")
def index(type_name):
    """The likely duplicate pairs among the records I may see, highest score first. Contacts
    with ?customer=<id>: that customer's (and its contacts to merge any two of)."""
    _kind(type_name)
    customer = None
    if type_name == "contact" and request.args.get("customer"):
        customer = _customer(request.args.get("customer"))
    return render("duplicates/index.html", kinds=services.KINDS,
                  **queries.pairs_context(type_name, current_user, customer=customer))


@bp.route("/customer/<int:customer_id>/hint")
def customer_hint(customer_id):
    """The customer page's "likely duplicate" hint (loaded by the page with htmx): the
    customers the refresh paired with it that I may see, each with a link to merge them."""
    customer = _customer(customer_id)
    return render("duplicates/_hint.html", customer=customer,
                  hints=queries.customer_hints(customer, current_user))


def _custom_fields(kind) -> list:
    """The custom fields of the kind the user may see (restricted ones only for managers)."""
    return definitions(kind.custom_entity, current_user)


def _merge_page(kind, records, *, error=None, status=200, choices=None):
    locale = str(get_locale() or "en")
    custom = [(f.key, f.label(locale)) for f in _custom_fields(kind)
              if any((r.custom or {}).get(f.key) not in (None, "", []) for r in records)]
    return render("duplicates/merge.html", kind=kind.name, records=records,
                  fields=kind.fields, labels=services.LABELS, shown=services.shown,
                  error=error, choices=choices or {}, custom_fields=custom, status=status)


@bp.route("/<type_name>/refresh", methods=["POST"])
def refresh(type_name):
    """Refresh the likely pairs now, as a background job: its page shows the progress."""
    kind = _kind(type_name)
    job = create_job("duplicates", current_user, {"entity": kind.name})
    db.session.commit()
    enqueue(job)
    return redirect_to(url_for("jobs.show", job_id=job.id))


@bp.route("/<type_name>/merge", methods=["GET", "POST"])
def merge(type_name):
    """GET: the records side by side, one choice per field. POST: merge them."""
    kind = _kind(type_name)
    records = _records(kind, request.values.getlist("ids"))
    if len(records) < 2:
        if request.values.get("customer") and kind.name == "contact":  # the contacts' chooser
            flash(_("Choose two or more contacts to merge."), "error")
            return redirect(url_for("duplicates.index", type_name="contact",
                                    customer=request.values.get("customer")))
        abort(404)
    if request.method == "GET":
        return _merge_page(kind, records)
    survivor_id = int_or_none(request.form.get("survivor"))
    survivor = next((r for r in records if r.id == survivor_id), None)
    if survivor is None:
        return _merge_page(kind, records, error=_("Choose the record to keep."), status=422,
                           choices=request.form)
    versions = {r.id: int_or_none(request.form.get(f"version_{r.id}")) for r in records}
    choices = {f: request.form.get(f"field_{f}") for f in kind.fields}
    custom = {f.key: request.form.get(f"custom_{f.key}") for f in _custom_fields(kind)}
    try:
        done = services.merge(kind, survivor, [r for r in records if r is not survivor],
                              choices, versions, current_user, custom_choices=custom)
    except RuleError as error:
        db.session.rollback()
        records = [db.session.get(kind.model, r.id) for r in records]
        return _merge_page(kind, records, error=str(error), status=409, choices=request.form)
    db.session.commit()
    flash(_("Merged into %(name)s. You can undo this from the duplicates page for 30 days.",
            name=done.label), "success")
    return redirect(url_for("duplicates.index", type_name=kind.name, merged=done.id))


@bp.route("/merges/<int:merge_id>/undo", methods=["POST"])
def undo(merge_id):
    """Undo a merge: the merged records come back with what moved."""
    record = db.session.get(Merge, merge_id)
    if record is None:
        abort(404)
    kind = services.kind_named(record.entity)
    survivor = db.session.get(kind.model, record.survivor_id)
    if survivor is None or not _can_see(kind, survivor) or not kind.can_edit(current_user, survivor):
        abort(403)
    try:
        services.undo(record, current_user)
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("duplicates.index", type_name=kind.name))
    db.session.commit()
    flash(_("The merge was undone."), "success")
    return redirect(url_for("duplicates.index", type_name=kind.name))
