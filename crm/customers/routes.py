"""Customers (客户), over HTTP: the list with search, filters, segments and bulk tagging; the
customer form; the customer page with its tags and inline contacts. Reads come from
crm.customers.queries, rules and writes from crm.customers.services."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from crm.concurrency import Conflict, claim, conflict_for, form_fields, submitted_token
from crm.customers import queries, services
from crm.customers.duplicates import customer_of_token, visible_duplicates
from crm.customers.forms import ContactForm, CustomerForm, NewCustomerForm, SegmentForm
from crm.customers.queries import CustomerFilter, list_url
from crm.customers.services import CONTACT_FIELDS, CUSTOMER_FIELDS
from crm.extensions import db
from crm.fields.forms import conflict_parts, custom_values, prepare, with_custom_fields
from crm.htmx import fragment, is_htmx, push_url, redirect_to, render, retarget, targets
from crm.models import Contact, Customer, Segment, Tag
from crm.permissions import can_change_segment, can_see_customer
from crm.pools.queries import levels as pool_levels
from crm.responses import remember_undo, with_undo_toast
from crm.rules import RuleError
from crm.tags.services import would_replace
from crm.trash.services import trash
from crm.urls import local_path
from crm.validators import int_or_none, unique_field_ids

bp = Blueprint("customers", __name__, url_prefix="/customers")

LIST = "customers/index.html"
SHOW = "customers/show.html"
FORM = "customers/form.html"
CONTACT_PAGE = "customers/contact_form.html"
SHARE_REQUEST = "customers/_share_request.html"


def _form_values(form, names) -> dict:
    return {name: getattr(form, name).data for name in names}


# --- The list ------------------------------------------------------------------------------


@bp.route("")
def index():
    """Every customer: search as you type, filters, sort, pages; the results alone for htmx."""
    filters = CustomerFilter.from_args(request.args)
    if targets("customer-results"):
        response = fragment(LIST, "results", **queries.results_context(filters))
        # The pushed URL is the clean one: no empty fields, no default values.
        return push_url(response, list_url(filters.query_string()))
    return render(LIST, **queries.list_context(filters))


@bp.route("/bulk-tags", methods=["POST"])
def bulk_tags():
    """Add or remove one tag on every selected customer I may edit. Refused (no tag, no
    customer selected): htmx gets the results with the message on top; without JavaScript
    the list page the form came from (same filters and page) comes back, 422, the customers
    still checked, the tag still chosen and the message beside the controls."""
    filters = CustomerFilter.from_query_string(request.form.get("back", ""))
    action = request.form.get("action")
    tag = db.session.get(Tag, int_or_none(request.form.get("tag_id")) or -1)
    ids = [i for i in map(int_or_none, request.form.getlist("customer_id")) if i is not None]
    notice, notice_kind, error_field = None, "success", None
    try:
        changed, skipped = services.tag_selected(current_user, ids, tag, action)
    except RuleError as error:
        notice, notice_kind, error_field = str(error), "error", error.field
    else:
        db.session.commit()
        if action == "add":
            notice = ngettext("Tag %(tag)s added to %(num)d customer.",
                              "Tag %(tag)s added to %(num)d customers.", changed, tag=tag.name)
        else:
            notice = ngettext("Tag %(tag)s removed from %(num)d customer.",
                              "Tag %(tag)s removed from %(num)d customers.", changed, tag=tag.name)
        if skipped:
            notice += " " + ngettext("%(num)d customer was skipped: you may not edit it.",
                                     "%(num)d customers were skipped: you may not edit them.",
                                     skipped)
            notice_kind = "warning"
    chosen_tag_id = tag.id if error_field is not None and tag is not None else None
    if is_htmx():
        status = 422 if notice_kind == "error" else 200
        return fragment(LIST, "results", status=status,
                        **queries.results_context(filters, notice=notice, notice_kind=notice_kind,
                                                  selected_ids=ids if notice_kind == "error" else [],
                                                  chosen_tag_id=chosen_tag_id))
    if error_field is not None:
        return render(LIST, status=422, **queries.list_context(
            filters, selected_ids=ids, chosen_tag_id=chosen_tag_id, bulk_error=notice,
            bulk_error_field=error_field))
    flash(notice, notice_kind if notice_kind != "warning" else "error")
    return redirect(list_url(filters.query_string()), 303)


# --- Segments ------------------------------------------------------------------------------


@bp.route("/segments", methods=["POST"])
def create_segment():
    """Save the list's current filter under a name."""
    form = SegmentForm()
    filters = CustomerFilter.from_query_string(form.query.data or "")
    if form.validate_on_submit():
        segment = services.save_segment(current_user, form.name.data, form.query.data or "")
        db.session.commit()
        if is_htmx():
            fresh = SegmentForm(formdata=None, query=filters.segment_query)
            return fragment(LIST, "segment_form", "segments", filters=filters, segment_form=fresh,
                            segments=queries.my_segments(current_user), saved=segment, oob=True)
        flash(_("Segment %(name)s was saved.", name=segment.name), "success")
        return redirect(list_url(segment.query), 303)
    if is_htmx():
        return fragment(LIST, "segment_form", status=422, filters=filters, segment_form=form)
    return render(LIST, status=422, **queries.list_context(filters, segment_form=form))


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
def delete_segment(segment_id: int):
    """Delete one of my segments (never someone else's)."""
    segment = db.get_or_404(Segment, segment_id)
    if not can_change_segment(current_user, segment):
        abort(403)
    name = segment.name
    services.delete_segment(segment)
    db.session.commit()
    if is_htmx():
        return fragment(LIST, "segments", segments=queries.my_segments(current_user))
    flash(_("Segment %(name)s was deleted.", name=name), "success")
    return redirect(url_for("customers.index"), 303)


# --- Creating and editing --------------------------------------------------------------------


def _customer_values(form: CustomerForm, customer: Customer | None) -> dict:
    """What the form sets. The owner: the one chosen, else (no owner select on the form) the
    current one, or on a new customer its creator; choosing "Nobody" leaves it unassigned."""
    values = _form_values(form, CUSTOMER_FIELDS + ("level_id",))
    if "owner_id" not in request.form:
        values["owner_id"] = customer.owner_id if customer else current_user.id
    if "level_id" not in request.form:  # a form without the level select keeps it
        values.pop("level_id")
    return values


def _owner_allowed(form: CustomerForm, customer: Customer | None) -> bool:
    """A refused owner is an error on the field."""
    try:
        services.check_owner(current_user, customer, _customer_values(form, customer)["owner_id"])
    except RuleError as error:
        form.owner_id.errors = list(form.owner_id.errors) + [str(error)]
        return False
    return True


def _tags_allowed(form: NewCustomerForm) -> bool:
    """Tags that may not go together (two of a single-choice group) are an error on the tags."""
    try:
        services.check_tags(form.chosen_tags)
    except RuleError as error:
        form.tag_ids.errors = list(form.tag_ids.errors) + [str(error)]
        return False
    return True


def _refused(form, error: RuleError) -> None:
    """A RuleError shown beside the field it names (else above the form)."""
    target = form._fields.get(error.field) if error.field else None
    if target is not None:
        target.errors = list(target.errors) + [str(error)]
    else:
        form.form_errors.append(str(error))


@bp.route("/new", methods=["GET", "POST"])
def create():
    """A new customer, with its first contact and its tags when they are given, saved in one
    commit (any refusal: nothing is saved, 422 with everything typed); possible duplicates, of
    the customer and of its contact, are shown before it is saved."""
    form = with_custom_fields(NewCustomerForm, "customer")(
        owners=queries.allowed_owners(), tag_groups=queries.tag_groups_with_tags(),
        levels=pool_levels())
    prepare(form)
    if request.method == "GET":
        form.owner_id.data = current_user.id
        if request.args.get("name"):
            form.name.data = request.args["name"].strip()[:200]
    duplicates, hidden_duplicates = [], []
    if form.is_submitted():
        valid = form.validate()
        valid = _tags_allowed(form) and valid
        if valid and _owner_allowed(form, None):
            contact = form.contact_fields
            if request.form.get("confirm_duplicate") != "1":
                duplicates, hidden_duplicates = visible_duplicates(
                    name=form.name.data, phone=form.phone.data, email=form.email.data,
                    contact_phone=contact and contact["phone"],
                    contact_email=contact and contact["email"])
            if not duplicates and not hidden_duplicates:
                try:
                    customer = services.create_customer(
                        current_user, _customer_values(form, None), contact=contact,
                        tags=form.chosen_tags, custom=custom_values(form))
                except RuleError as error:
                    db.session.rollback()
                    _refused(form, error)
                else:
                    db.session.commit()
                    flash(_("Customer %(name)s was created.", name=customer.name), "success")
                    return redirect_to(url_for("customers.show", customer_id=customer.id))
    status = 422 if form.errors else 200
    return render(FORM, status=status, hidden_duplicates=hidden_duplicates,
                  **queries.form_context(form, duplicates=duplicates))


@bp.route("/duplicates")
def duplicates():
    """Possible duplicates of what is being typed into the customer form (a fragment): the
    customer's name, phone and email, and a new customer's first contact's phone and email."""
    found, hidden = visible_duplicates(
        name=request.args.get("name"), phone=request.args.get("phone"),
        email=request.args.get("email"), exclude_id=int_or_none(request.args.get("exclude")),
        contact_phone=request.args.get("contact-phone"),
        contact_email=request.args.get("contact-email"))
    return fragment(FORM, "duplicates", duplicates=found, hidden_duplicates=hidden, live=True)


@bp.route("/<int:customer_id>/edit", methods=["GET", "POST"])
def update(customer_id: int):
    """Change a customer's profile."""
    customer = queries.customer_or_404(customer_id, edit=True)
    form = with_custom_fields(CustomerForm, "customer")(
        obj=customer, owners=queries.allowed_owners(customer), levels=pool_levels())
    prepare(form, customer)
    if form.validate_on_submit() and _owner_allowed(form, customer):
        try:
            claim(customer, submitted_token())
        except Conflict:
            db.session.rollback()
            conflict = conflict_for(form, customer, discard_url=url_for(
                "customers.update", customer_id=customer.id), **_custom_conflict(form, customer))
            return render(FORM, status=409, conflict=conflict,
                          **queries.form_context(form, customer=customer))
        services.save_customer(current_user, customer, _customer_values(form, customer),
                               custom_values(form))
        db.session.commit()
        flash(_("Customer %(name)s was saved.", name=customer.name), "success")
        return redirect_to(url_for("customers.show", customer_id=customer.id))
    status = 422 if form.errors else 200
    return render(FORM, status=status, **queries.form_context(form, customer=customer))


def _custom_conflict(form, record) -> dict:
    """conflict_for's arguments for the custom inputs too (crm.fields.forms.conflict_parts)."""
    parts = conflict_parts(form, record)
    if not parts:
        return {}
    return {"fields": form_fields(form, record) + parts["names"], "submitted": parts["submitted"],
            "stored": parts["stored"], "labels": parts["labels"]}


@bp.route("/<int:customer_id>/delete", methods=["POST"])
def delete(customer_id: int):
    """Move a customer to the trash with its contacts, notes, opportunities and tasks."""
    customer = queries.customer_or_404(customer_id, edit=True)
    remember_undo(trash(customer, current_user))
    db.session.commit()
    return redirect_to(url_for("customers.index"))


# --- The customer page -----------------------------------------------------------------------


@bp.route("/<int:customer_id>")
def show(customer_id: int):
    """The customer page: profile and tags, contacts, follow-ups, opportunities, tasks."""
    return show_page(customer_id)


def show_page(customer_id: int, *, status: int = 200, **overrides):
    """The whole customer page, after the permission check; `overrides` replace parts of its
    context, e.g. a refused form (with what was typed and its errors) posted without JavaScript."""
    customer = queries.customer_or_404(customer_id)
    return render(SHOW, status=status, **queries.page_context(customer, **overrides))


@bp.route("/<int:customer_id>/tags", methods=["POST"])
def update_tags(customer_id: int):
    """Add or remove a tag on this customer (a single-choice group keeps one tag). `restore`:
    tags to put back as well (the Undo of an addition that replaced another tag). htmx gets
    the tags block saying what was saved, with its Undo."""
    customer = queries.customer_or_404(customer_id, edit=True)
    tag = db.session.get(Tag, int_or_none(request.form.get("tag_id")) or -1)
    if tag is None:
        abort(400)
    restore = [t for t in (db.session.get(Tag, int_or_none(value) or -1)
                           for value in request.form.getlist("restore")) if t is not None]
    replaced: list[Tag] = []
    if request.form.get("action") == "remove":
        action = "remove"
        changed = services.remove_tag(customer, tag)
    else:
        action = "add"
        replaced = would_replace(customer, tag)
        changed = services.add_tag(customer, tag)
    for other in restore:
        changed = services.add_tag(customer, other) or changed
    if changed:
        db.session.commit()
    if is_htmx():
        saved = {"tag": tag, "action": action, "replaced": replaced, "undo": bool(changed)}
        return fragment(SHOW, "tags", **queries.tags_context(customer, picker_open=True,
                                                             saved=saved))
    return redirect(url_for("customers.show", customer_id=customer.id) + "#tags", 303)


# --- Contacts (inline) ----------------------------------------------------------------------


def _contacts_response(customer: Customer, *, status: int = 200, **context):
    if is_htmx():
        return fragment(SHOW, "contacts", status=status,
                        **queries.contacts_context(customer, **context))
    if status >= 400:
        return render(SHOW, status=status, **queries.page_context(customer, **context))
    return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts", 303)


def _contact_form_response(customer: Customer, contact: Contact, form: ContactForm, *,
                           status: int, **context):
    """The contact's edit form: for htmx in place of the contact (a refusal answers for the
    whole row), else on a page of its own."""
    response = render(CONTACT_PAGE, "contact_edit", status=status, customer=customer,
                      contact=contact, edit_form=form, inline=is_htmx(), **context)
    if is_htmx() and status >= 400:
        retarget(response, f"#contact-{contact.id}")
    return response


@bp.route("/<int:customer_id>/contacts", methods=["GET", "POST"])
def contacts(customer_id: int):
    """The contacts list (fragment), or add a contact to it."""
    if request.method == "GET":
        customer = queries.customer_or_404(customer_id)
        if not is_htmx():
            return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts")
        return fragment(SHOW, "contacts", **queries.contacts_context(customer))
    customer = queries.customer_or_404(customer_id, edit=True)
    form = with_custom_fields(ContactForm, "contact")()
    prepare(form)
    if not form.validate_on_submit():
        return _contacts_response(customer, status=422, contact_form=form, adding=True)
    contact = services.save_contact(customer, Contact(), primary=form.is_primary.data,
                                    custom=custom_values(form), user=current_user,
                                    **_form_values(form, CONTACT_FIELDS))
    db.session.commit()
    if not is_htmx():
        flash(_("Contact %(name)s was added.", name=contact.name), "success")
    return _contacts_response(customer, added_id=contact.id)


@bp.route("/<int:customer_id>/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
def update_contact(customer_id: int, contact_id: int):
    """Edit a contact in place (or on its own page without JavaScript)."""
    customer = queries.customer_or_404(customer_id, edit=True)
    contact = queries.contact_or_404(customer, contact_id)
    form = with_custom_fields(ContactForm, "contact")(obj=contact)
    prepare(form, contact)
    form = unique_field_ids(form, f"contact-{contact.id}-")
    if form.validate_on_submit():
        try:
            claim(contact, submitted_token())
        except Conflict:
            db.session.rollback()
            # 409: someone else saved the contact first; the form again with both values.
            conflict = conflict_for(
                form, contact,
                discard_url=url_for("customers.show", customer_id=customer.id) + "#contacts",
                discard_hx={"hx-get": url_for("customers.contacts", customer_id=customer.id),
                            "hx-target": "#contacts", "hx-swap": "outerHTML"},
                **_custom_conflict(form, contact))
            return _contact_form_response(customer, contact, form, status=409, conflict=conflict)
        services.save_contact(customer, contact, primary=form.is_primary.data,
                              custom=custom_values(form), user=current_user,
                              **_form_values(form, CONTACT_FIELDS))
        db.session.commit()
        if not is_htmx():
            flash(_("Contact %(name)s was saved.", name=contact.name), "success")
        return _contacts_response(customer)
    return _contact_form_response(customer, contact, form, status=422 if form.errors else 200)


@bp.route("/<int:customer_id>/contacts/<int:contact_id>/delete", methods=["POST"])
def delete_contact_view(customer_id: int, contact_id: int):
    """Move a contact to the trash (the next contact becomes the primary one)."""
    customer = queries.customer_or_404(customer_id, edit=True)
    contact = queries.contact_or_404(customer, contact_id)
    result = trash(contact, current_user)
    db.session.commit()
    if not is_htmx():
        remember_undo(result)
        return _contacts_response(customer)
    return with_undo_toast(_contacts_response(customer), result)


# --- Asking for a customer I may not see (查重) ----------------------------------------------

@bp.route("/share-requests", methods=["POST"])
def request_share():
    """Ask the owner of a customer I may not see, found by my search or the duplicate check,
    to share it with me (a task for them). The form names the customer by a signed token."""
    customer = customer_of_token(request.form.get("share_token"))
    if customer is None:
        abort(404)
    if can_see_customer(current_user, customer):
        return redirect_to(url_for("customers.show", customer_id=customer.id))
    try:
        asked, added = services.request_share(
            current_user, customer, request.form.get("q") or request.form.get("name", ""))
    except RuleError as error:
        message, category = str(error), "error"
    else:
        db.session.commit()
        message, category = (
            _("Asked %(name)s to share it with you.", name=asked.name) if added
            else _("You already asked %(name)s to share it.", name=asked.name)), "success"
    if is_htmx():
        return fragment(SHARE_REQUEST, "answer", message=message, category=category)
    flash(message, category)
    # From the customer form (its fields came along): back to it with the name typed.
    back = local_path(request.form.get("next")) or url_for(
        "customers.create", name=request.form.get("name") or None)
    return redirect_to(back)
