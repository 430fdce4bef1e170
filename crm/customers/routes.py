"""Customers (客户): the list with search, filters and segments; the customer page with its
profile, tags, contacts, follow-ups, opportunities and tasks; bulk tagging."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.orm import contains_eager, joinedload

from crm.concurrency import Conflict, claim, conflict_for, submitted_token
from crm.customers.forms import ContactForm, CustomerForm, SegmentForm
from crm.customers.services import (
    CustomerFilter, bulk_tag, customer_page, customers_for_bulk, delete_contact, distinct_values,
    add_tag, find_duplicates, industries_and_regions, my_segments, owner_choices, remove_tag, save_contact, save_segment,
    tag_groups_with_tags, tags_by_group)
from crm.extensions import db
from crm.htmx import fragment, is_htmx, redirect_to, render, targets
from crm.models import Contact, Customer, Opportunity, Segment, Tag, TagGroup, customer_tags
from crm.permissions import (can_edit_customer, can_see_customer, can_set_owner,
                             visible_ids, visible_opportunities_clause)
from crm.sharing.queries import RecordUsers
from crm.validators import unique_field_ids

bp = Blueprint("customers", __name__, url_prefix="/customers")

LIST = "customers/index.html"
SHOW = "customers/show.html"
FORM = "customers/form.html"
CONTACT_PAGE = "customers/contact_form.html"
# The customer page lists this many opportunities; "All N opportunities" leads to the rest.
OPPORTUNITIES_SHOWN = 20


def _list_url(query: str = "") -> str:
    return url_for("customers.index") + (f"?{query}" if query else "")


def _customer_or_404(customer_id: int, *, edit: bool = False) -> Customer:
    """The customer, after the permission check (403) that every view and fragment makes."""
    customer = db.get_or_404(Customer, customer_id)
    if not can_see_customer(current_user, customer):
        abort(403)
    if edit and not can_edit_customer(current_user, customer):
        abort(403)
    return customer


def _int_list(values) -> list[int]:
    result = []
    for value in values:
        try:
            result.append(int(value))
        except (TypeError, ValueError):
            continue
    return result


# --- The list ------------------------------------------------------------------------------


def _results_context(filters: CustomerFilter, **extra) -> dict:
    pagination = customer_page(filters)
    segment_form = extra.pop("segment_form", None) or SegmentForm(
        formdata=None, query=filters.segment_query)
    return {
        "filters": filters,
        "pagination": pagination,
        "customers": pagination.items,
        "tag_groups": tag_groups_with_tags(),
        "segment_form": segment_form,
        "page_url": lambda page: _list_url(filters.query_string(page=page)),
        **extra,
    }


def _list_page(filters: CustomerFilter, status: int = 200, **extra):
    context = _results_context(filters, **extra)
    industries, regions = industries_and_regions()
    context.update(
        owners=owner_choices(),
        industries=industries,
        regions=regions,
        segments=my_segments(current_user),
    )
    return render(LIST, status=status, **context)


@bp.route("")
def index():
    """Every customer: search as you type, filters, sort, pages; the results alone for htmx."""
    filters = CustomerFilter.from_args(request.args)
    if targets("customer-results"):
        response = fragment(LIST, "results", **_results_context(filters))
        # The pushed URL is the clean one: no empty fields, no default values.
        response.headers["HX-Push-Url"] = _list_url(filters.query_string())
        return response
    return _list_page(filters)


@bp.route("/bulk-tags", methods=["POST"])
def bulk_tags():
    """Add or remove one tag on every selected customer I may edit. Refused (no tag, no
    customer selected): htmx gets the results with the message on top; without JavaScript
    the list page the form came from (same filters and page) comes back, 422, the customers
    still checked, the tag still chosen and the message beside the controls."""
    back = request.form.get("back", "")
    filters = CustomerFilter.from_query_string(back)
    action = request.form.get("action")
    tag = db.session.get(Tag, request.form.get("tag_id", type=int) or -1)
    ids = _int_list(request.form.getlist("customer_id"))
    notice, notice_kind, error_field = None, "success", None
    if action not in ("add", "remove") or tag is None:
        notice, notice_kind, error_field = _("Choose a tag, then Add or Remove."), "error", "tag_id"
    elif not ids:
        notice, notice_kind, error_field = _("Select at least one customer."), "error", "customer_id"
    else:
        # Those I may not see are not selected at all, like ids that do not exist; of the
        # others only those I may edit are changed, the rest counted as skipped.
        selected = customers_for_bulk(ids, current_user)
        editable = [c for c in selected if can_edit_customer(current_user, c)]
        skipped = len(selected) - len(editable)
        changed = bulk_tag(editable, tag, action)
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
                        **_results_context(filters, notice=notice, notice_kind=notice_kind,
                                           selected_ids=ids if notice_kind == "error" else [],
                                           chosen_tag_id=chosen_tag_id))
    if error_field is not None:
        return _list_page(filters, status=422, selected_ids=ids, chosen_tag_id=chosen_tag_id,
                          bulk_error=notice, bulk_error_field=error_field)
    flash(notice, notice_kind if notice_kind != "warning" else "error")
    return redirect(_list_url(filters.query_string()), 303)


# --- Segments ------------------------------------------------------------------------------


@bp.route("/segments", methods=["POST"])
def create_segment():
    """Save the list's current filter under a name."""
    form = SegmentForm()
    filters = CustomerFilter.from_query_string(form.query.data or "")
    if form.validate_on_submit():
        segment = save_segment(current_user, form.name.data, form.query.data or "")
        db.session.commit()
        if is_htmx():
            fresh = SegmentForm(formdata=None, query=filters.segment_query)
            return fragment(LIST, "segment_form", "segments", filters=filters, segment_form=fresh,
                            segments=my_segments(current_user), saved=segment, oob=True)
        flash(_("Segment %(name)s was saved.", name=segment.name), "success")
        return redirect(_list_url(segment.query), 303)
    if is_htmx():
        return fragment(LIST, "segment_form", status=422, filters=filters, segment_form=form)
    return _list_page(filters, status=422, segment_form=form)


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
def delete_segment(segment_id: int):
    """Delete one of my segments (never someone else's)."""
    segment = db.get_or_404(Segment, segment_id)
    if segment.user_id != current_user.id:
        abort(403)
    name = segment.name
    db.session.delete(segment)
    db.session.commit()
    if is_htmx():
        return fragment(LIST, "segments", segments=my_segments(current_user))
    flash(_("Segment %(name)s was deleted.", name=name), "success")
    return redirect(url_for("customers.index"), 303)


# --- Creating and editing --------------------------------------------------------------------


def _form_context(form, customer=None, duplicates=None):
    return {
        "form": form,
        "customer": customer,
        "duplicates": duplicates or [],
        "industries": distinct_values(Customer.industry),
        "regions": distinct_values(Customer.region),
        "sources": distinct_values(Customer.source),
    }


def _allowed_owners(customer: Customer | None = None):
    """The owners the signed-in user may choose: anyone for managers; for sales themselves
    (on a new or unowned record) and the current owner, who stays."""
    return [user for user in owner_choices(include_id=customer.owner_id if customer else None)
            if can_set_owner(current_user, customer, user.id)]


def _owner_allowed(form: CustomerForm, customer: Customer | None) -> bool:
    """Only managers and admins reassign; a refused owner is an error on the field."""
    wanted = form.owner_id.data if "owner_id" in request.form else (
        customer.owner_id if customer else current_user.id)
    if can_set_owner(current_user, customer, wanted):
        return True
    form.owner_id.errors = list(form.owner_id.errors) + [
        _("Only managers and admins can give a customer to someone else.")]
    return False


def _split_duplicates(found, *, name=None, phone=None, email=None):
    """The duplicates I may see, and for those I may not, only what they share with the input
    (never their name or a link)."""
    from crm.customers.services import _digits
    from crm.search import normalise
    visible = visible_ids(current_user, Customer, [c.id for c in found])
    hidden = []
    for other in found:
        if other.id in visible:
            continue
        if phone and len(_digits(phone)) >= 5 and _digits(other.phone).endswith(_digits(phone)[-8:]):
            message = _("A customer you cannot see already uses this phone number.")
        elif email and (other.email or "").lower() == email.strip().lower():
            message = _("A customer you cannot see already uses this email.")
        elif name and normalise(name) and normalise(name) in normalise(other.name or ""):
            message = _("A customer you cannot see already has this name.")
        else:
            message = _("A customer you cannot see has a similar name, or a contact with this "
                        "phone number or email.")
        if message not in hidden:
            hidden.append(message)
    return [c for c in found if c.id in visible], hidden


def _fill(customer: Customer, form: CustomerForm) -> None:
    for name in ("kind", "name", "industry", "region", "city", "size", "source", "phone", "email",
                 "website", "address", "owner_id", "description"):
        setattr(customer, name, getattr(form, name).data)
    customer.rebuild_search_index()


@bp.route("/new", methods=["GET", "POST"])
def create():
    """A new customer; possible duplicates are shown before it is saved."""
    form = CustomerForm(owners=_allowed_owners())
    if request.method == "GET":
        form.owner_id.data = current_user.id
        if request.args.get("name"):
            form.name.data = request.args["name"].strip()[:200]
    duplicates, hidden_duplicates = [], []
    if form.validate_on_submit() and _owner_allowed(form, None):
        if request.form.get("confirm_duplicate") != "1":
            duplicates, hidden_duplicates = _split_duplicates(
                find_duplicates(name=form.name.data, phone=form.phone.data, email=form.email.data),
                name=form.name.data, phone=form.phone.data, email=form.email.data)
        if not duplicates and not hidden_duplicates:
            customer = Customer(created_by_id=current_user.id)
            _fill(customer, form)
            if "owner_id" not in request.form:
                # The owner defaults to the creator; choosing "Nobody" leaves it unassigned.
                customer.owner_id = current_user.id
            db.session.add(customer)
            db.session.commit()
            flash(_("Customer %(name)s was created.", name=customer.name), "success")
            return redirect_to(url_for("customers.show", customer_id=customer.id))
    status = 422 if form.errors else 200
    return render(FORM, status=status, hidden_duplicates=hidden_duplicates,
                  **_form_context(form, duplicates=duplicates))


@bp.route("/duplicates")
def duplicates():
    """Possible duplicates of what is being typed into the customer form (a fragment)."""
    found = find_duplicates(name=request.args.get("name"), phone=request.args.get("phone"),
                            email=request.args.get("email"),
                            exclude_id=request.args.get("exclude", type=int))
    found, hidden = _split_duplicates(found, name=request.args.get("name"),
                                      phone=request.args.get("phone"),
                                      email=request.args.get("email"))
    return fragment(FORM, "duplicates", duplicates=found, hidden_duplicates=hidden, live=True)


@bp.route("/<int:customer_id>/edit", methods=["GET", "POST"])
def update(customer_id: int):
    """Change a customer's profile."""
    customer = _customer_or_404(customer_id, edit=True)
    form = CustomerForm(obj=customer, owners=_allowed_owners(customer))
    if form.validate_on_submit() and _owner_allowed(form, customer):
        try:
            claim(customer, submitted_token())
        except Conflict:
            db.session.rollback()
            conflict = conflict_for(form, customer, discard_url=url_for(
                "customers.update", customer_id=customer.id))
            return render(FORM, status=409, conflict=conflict,
                          **_form_context(form, customer=customer))
        _fill(customer, form)
        db.session.commit()
        flash(_("Customer %(name)s was saved.", name=customer.name), "success")
        return redirect_to(url_for("customers.show", customer_id=customer.id))
    status = 422 if form.errors else 200
    return render(FORM, status=status, **_form_context(form, customer=customer))


@bp.route("/<int:customer_id>/delete", methods=["POST"])
def delete(customer_id: int):
    """Move a customer to the trash with its contacts, notes, opportunities and tasks."""
    from crm.responses import remember_undo
    from crm.trash.services import trash
    customer = _customer_or_404(customer_id, edit=True)
    remember_undo(trash(customer, current_user))
    db.session.commit()
    return redirect_to(url_for("customers.index"))


# --- The customer page -----------------------------------------------------------------------


def _load_customer(customer_id: int, *, edit: bool = False) -> Customer:
    """The customer with its owner, creator and contacts (a customer's handful, joined: one
    query), after the permission check. Its tags come with the tag picker (_tags_context)."""
    customer = db.session.execute(
        db.select(Customer).where(Customer.id == customer_id).options(
            joinedload(Customer.owner), joinedload(Customer.created_by),
            joinedload(Customer.contacts))
    ).unique().scalar_one_or_none()
    if customer is None:
        abort(404)
    if not can_see_customer(current_user, customer):
        abort(403)
    if edit and not can_edit_customer(current_user, customer):
        abort(403)
    return customer


def _tag_picker(customer: Customer) -> tuple[list[TagGroup], list[Tag]]:
    """Every tag group with its tags (the picker), and which of them the customer has, in
    one query: the groups and tags (the workspace's, a configuration) with a LEFT JOIN on the
    customer's customer_tags rows (by their primary key). The customer's tags come in the
    picker's order: by group, then by name."""
    rows = db.session.execute(
        db.select(TagGroup, Tag, customer_tags.c.tag_id)
        .outerjoin(TagGroup.tags)
        .outerjoin(customer_tags, db.and_(customer_tags.c.customer_id == customer.id,
                                          customer_tags.c.tag_id == Tag.id))
        .options(contains_eager(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name, Tag.name)
    ).unique().all()
    groups = list(dict.fromkeys(group for group, _tag, _on in rows))
    return groups, [tag for _group, tag, on in rows if on is not None]


def _tags_context(customer: Customer, *, picker_open: bool = False) -> dict:
    tag_groups, tags = _tag_picker(customer)
    return {
        "customer": customer,
        "can_edit": can_edit_customer(current_user, customer),
        "grouped_tags": tags_by_group(tags),
        "customer_tag_ids": {tag.id for tag in tags},
        "tag_groups": tag_groups,
        "picker_open": picker_open,
    }


def _contacts_context(customer: Customer, contact_form=None, **extra) -> dict:
    return {
        "customer": customer,
        "can_edit": can_edit_customer(current_user, customer),
        "contact_form": unique_field_ids(contact_form or ContactForm(formdata=None), "new-contact-"),
        **extra,
    }


def _show_context(customer: Customer, **overrides) -> dict:
    from crm.notes.forms import NoteForm
    from crm.notes.services import timeline

    # The first OPPORTUNITIES_SHOWN (open ones first, then the most recent) and, in the same
    # statement, how many there are (an uncorrelated count, run once): a big account's page
    # stays short and costs no extra statement. (A count(*) OVER () took 3x as long at 100,000.)
    visible = (Opportunity.customer_id == customer.id, visible_opportunities_clause(current_user))
    total = db.select(db.func.count()).select_from(Opportunity).where(*visible).correlate(None)
    rows = db.session.execute(
        db.select(Opportunity, total.scalar_subquery()).where(*visible)
        .options(joinedload(Opportunity.stage), joinedload(Opportunity.owner))
        .order_by(Opportunity.status != "open", Opportunity.created_at.desc(), Opportunity.id.desc())
        .limit(OPPORTUNITIES_SHOWN)
    ).all()
    opportunities = [opportunity for opportunity, _total in rows]
    opportunities_total = rows[0][1] if rows else 0
    panel_tasks, done_tasks = [], None
    if "tasks.index" in current_app.view_functions:
        from crm.tasks.services import open_and_done_tasks
        # The task panel's open tasks and the timeline's done ones in one query.
        panel_tasks, done_tasks = open_and_done_tasks(customer_id=customer.id)
    context = {
        **_tags_context(customer),
        **_contacts_context(customer),
        "timeline_items": timeline(customer_id=customer.id, done_tasks=done_tasks),
        "note_form": NoteForm(formdata=None, customer_id=customer.id),
        "opportunities": opportunities,
        "opportunities_total": opportunities_total,
        "panel_customer_id": customer.id,
        "panel_opportunity_id": None,
        "panel_tasks": panel_tasks,
        # One users query for the sharing panel and the task panel's assignees.
        "record_users": RecordUsers("customer", customer),
    }
    context.update(overrides)
    return context


@bp.route("/<int:customer_id>")
def show(customer_id: int):
    """The customer page: profile and tags, contacts, follow-ups, opportunities, tasks."""
    return show_page(customer_id)


def show_page(customer_id: int, *, status: int = 200, **overrides):
    """The whole customer page, after the permission check; `overrides` replace parts of its
    context, e.g. a refused form (with what was typed and its errors) posted without JavaScript."""
    customer = _load_customer(customer_id)
    return render(SHOW, status=status, **_show_context(customer, **overrides))


# --- Tags on one customer ---------------------------------------------------------------------


@bp.route("/<int:customer_id>/tags", methods=["POST"])
def update_tags(customer_id: int):
    """Add or remove a tag on this customer (a single-choice group keeps one tag)."""
    customer = _load_customer(customer_id, edit=True)
    tag = db.session.get(Tag, request.form.get("tag_id", type=int) or -1)
    if tag is None:
        abort(400)
    if request.form.get("action") == "remove":
        changed = remove_tag(customer, tag)
    else:
        changed = add_tag(customer, tag)
    if changed:
        db.session.commit()
    if is_htmx():
        return fragment(SHOW, "tags", **_tags_context(customer, picker_open=True))
    return redirect(url_for("customers.show", customer_id=customer.id) + "#tags", 303)


# --- Contacts (inline) ----------------------------------------------------------------------


def _contacts_response(customer: Customer, *, status: int = 200, **context):
    if is_htmx():
        return fragment(SHOW, "contacts", status=status, **_contacts_context(customer, **context))
    if status >= 400:
        return render(SHOW, status=status, **_show_context(customer, **context))
    return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts", 303)


def _contact_of(customer: Customer, contact_id: int) -> Contact:
    contact = db.get_or_404(Contact, contact_id)
    if contact.customer_id != customer.id:
        abort(404)
    return contact


def _fill_contact(contact: Contact, form: ContactForm) -> None:
    contact.name = form.name.data
    contact.title = form.title.data
    contact.phone = form.phone.data
    contact.email = form.email.data


@bp.route("/<int:customer_id>/contacts", methods=["GET", "POST"])
def contacts(customer_id: int):
    """The contacts list (fragment), or add a contact to it."""
    if request.method == "GET":
        customer = _load_customer(customer_id)
        if not is_htmx():
            return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts")
        return fragment(SHOW, "contacts", **_contacts_context(customer))
    customer = _load_customer(customer_id, edit=True)
    form = ContactForm()
    if not form.validate_on_submit():
        return _contacts_response(customer, status=422, contact_form=form, adding=True)
    contact = Contact()
    _fill_contact(contact, form)
    save_contact(customer, contact, primary=form.is_primary.data)
    db.session.commit()
    if not is_htmx():
        flash(_("Contact %(name)s was added.", name=contact.name), "success")
    return _contacts_response(customer, added_id=contact.id)


@bp.route("/<int:customer_id>/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
def update_contact(customer_id: int, contact_id: int):
    """Edit a contact in place (or on its own page without JavaScript)."""
    customer = _load_customer(customer_id, edit=True)
    contact = _contact_of(customer, contact_id)
    form = unique_field_ids(ContactForm(obj=contact), f"contact-{contact.id}-")
    if form.validate_on_submit():
        try:
            claim(contact, submitted_token())
        except Conflict:
            db.session.rollback()
            return _contact_conflict(customer, contact, form)
        _fill_contact(contact, form)
        save_contact(customer, contact, primary=form.is_primary.data)
        db.session.commit()
        if not is_htmx():
            flash(_("Contact %(name)s was saved.", name=contact.name), "success")
        return _contacts_response(customer)
    status = 422 if form.errors else 200
    context = {"customer": customer, "contact": contact, "edit_form": form}
    if is_htmx():
        response = fragment(CONTACT_PAGE, "contact_edit", status=status, **context)
        if status == 422:
            response.headers["HX-Retarget"] = f"#contact-{contact.id}"
            response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render(CONTACT_PAGE, status=status, **context)


def _contact_conflict(customer: Customer, contact: Contact, form: ContactForm):
    """409: someone else saved the contact first; the form again with both values."""
    conflict = conflict_for(
        form, contact,
        discard_url=url_for("customers.show", customer_id=customer.id) + "#contacts",
        discard_hx={"hx-get": url_for("customers.contacts", customer_id=customer.id),
                    "hx-target": "#contacts", "hx-swap": "outerHTML"})
    context = {"customer": customer, "contact": contact, "edit_form": form, "conflict": conflict}
    if is_htmx():
        response = fragment(CONTACT_PAGE, "contact_edit", status=409, **context)
        response.headers["HX-Retarget"] = f"#contact-{contact.id}"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render(CONTACT_PAGE, status=409, **context)


@bp.route("/<int:customer_id>/contacts/<int:contact_id>/delete", methods=["POST"])
def delete_contact_view(customer_id: int, contact_id: int):
    """Move a contact to the trash (the next contact becomes the primary one)."""
    from crm.responses import remember_undo, with_undo_toast
    from crm.trash.services import trash
    customer = _load_customer(customer_id, edit=True)
    contact = _contact_of(customer, contact_id)
    result = trash(contact, current_user)
    db.session.commit()
    if not is_htmx():
        remember_undo(result)
        return _contacts_response(customer)
    return with_undo_toast(_contacts_response(customer), result)
