"""A record's history (the History section of the customer and opportunity pages) and the
admins' global audit log: HTTP only; the reads and how entries read are in crm.audit.queries."""
from urllib.parse import urlencode

from flask import Blueprint, abort, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.audit.forms import LogFilterForm
from crm.audit.queries import entry_helpers, history_page, log_page, record_url
from crm.extensions import db
from crm.htmx import push_url, render, targets
from crm.models import Contact, Customer, Opportunity, User
from crm.permissions import admin_required, can_see_customer, can_see_opportunity

bp = Blueprint("audit", __name__)

HISTORY = "audit/history.html"
LOG = "audit/log.html"


def _record_or_abort(entity: str, entity_id: int):
    """The record whose history is asked for, after the same check as its own page."""
    if entity == "customers":
        record = db.session.get(Customer, entity_id)
        allowed = record is not None and can_see_customer(current_user, record)
    elif entity == "opportunities":
        record = db.session.get(Opportunity, entity_id)
        allowed = record is not None and can_see_opportunity(current_user, record)
    elif entity == "contacts":
        record = db.session.get(Contact, entity_id)
        allowed = record is not None and can_see_customer(current_user, record.customer)
    else:
        abort(404)
    if record is None:
        abort(404)
    if not allowed:
        abort(403)
    return record


@bp.route("/audit/<entity>/<int:entity_id>")
def history(entity: str, entity_id: int):
    """A record's history, newest first, a page at a time; the list alone for htmx."""
    record = _record_or_abort(entity, entity_id)
    page = request.args.get("page", 1, type=int) or 1
    pagination = history_page(entity, entity_id, page=page)
    container = f"audit-{entity}-{entity_id}"

    def page_url(number: int) -> str:
        return url_for("audit.history", entity=entity, entity_id=entity_id, page=number)

    context = {"record": record, "entity": entity, "entity_id": entity_id, "container": container,
               "pagination": pagination, "page_url": page_url,
               "back_url": record_url(entity, entity_id), **entry_helpers()}
    return render(HISTORY, "history" if targets(container) else None, **context)


@bp.route("/admin/audit")
@admin_required
def log():
    """Every change by everyone, filtered by user, record type, action, dates and record."""
    users = db.session.execute(select(User).order_by(User.name)).scalars().all()
    form = LogFilterForm(formdata=request.args, users=users)
    valid = form.validate()
    if not valid:
        # A broken value (a date typed by hand) is shown with its error and ignored.
        for name in form.errors:
            getattr(form, name).data = None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    pagination = log_page(form, page=page)
    args = [(key, value) for key, value in request.args.items(multi=True)
            if key != "page" and value != ""]

    def page_url(number: int) -> str:
        return url_for("audit.log") + "?" + urlencode(args + ([("page", number)] if number > 1 else []))

    in_results = targets("audit-results")
    response = render(LOG, "results" if in_results else None, form=form,
                      pagination=pagination, page_url=page_url, **entry_helpers())
    if in_results:
        # The filtered log's own URL in the address bar, to share or come back to.
        push_url(response, page_url(page))
    return response
