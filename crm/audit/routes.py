"""A record's history (the History section of the customer and opportunity pages) and the
admins' global audit log."""
from datetime import datetime, time, timedelta, timezone
from urllib.parse import urlencode

from flask import Blueprint, abort, request, url_for
from flask_babel import get_timezone
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from crm import permissions
from crm.audit.display import action_name, entity_name, field_name, value_text
from crm.audit.forms import LogFilterForm
from crm.audit.services import PER_PAGE, history_page
from crm.extensions import db
from crm.htmx import render, targets
from crm.models import AuditEntry, Contact, Customer, Opportunity, User
from crm.permissions import admin_required
from crm.search import like_escape

bp = Blueprint("audit", __name__)

HISTORY = "audit/history.html"
LOG = "audit/log.html"
LOG_PER_PAGE = 50


def _can_see_opportunity(user, opportunity) -> bool:
    check = getattr(permissions, "can_see_opportunity", None)
    if check is not None:
        return check(user, opportunity)
    return permissions.can_see_customer(user, opportunity.customer)


def _record_or_abort(entity: str, entity_id: int):
    """The record whose history is asked for, after the same check as its own page."""
    if entity == "customers":
        record = db.session.get(Customer, entity_id)
        allowed = record is not None and permissions.can_see_customer(current_user, record)
    elif entity == "opportunities":
        record = db.session.get(Opportunity, entity_id)
        allowed = record is not None and _can_see_opportunity(current_user, record)
    elif entity == "contacts":
        record = db.session.get(Contact, entity_id)
        allowed = record is not None and permissions.can_see_customer(current_user, record.customer)
    else:
        abort(404)
    if record is None:
        abort(404)
    if not allowed:
        abort(403)
    return record


def record_url(entity: str, entity_id: int) -> str | None:
    """The page of an audited record, when it has one."""
    if entity == "customers":
        return url_for("customers.show", customer_id=entity_id)
    if entity == "opportunities" and "opportunities.show" in _view_functions():
        return url_for("opportunities.show", opportunity_id=entity_id)
    return None


def _view_functions():
    from flask import current_app
    return current_app.view_functions


def _helpers() -> dict:
    return {"action_name": action_name, "entity_name": entity_name, "field_name": field_name,
            "value_text": value_text, "record_url": record_url}


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
               "back_url": record_url(entity, entity_id), **_helpers()}
    return render(HISTORY, "history" if targets(container) else None, **context)


def _local_day_start(day) -> datetime:
    """Midnight of `day` in the user's time zone, in UTC."""
    return datetime.combine(day, time.min).replace(tzinfo=get_timezone()).astimezone(timezone.utc)


def log_select(form: LogFilterForm):
    """The entries the filters let through, newest first, with their users."""
    stmt = select(AuditEntry).options(joinedload(AuditEntry.user))
    if form.user.data:
        stmt = stmt.where(AuditEntry.user_id == form.user.data)
    if form.entity.data:
        stmt = stmt.where(AuditEntry.entity == form.entity.data)
    if form.action.data:
        stmt = stmt.where(AuditEntry.action == form.action.data)
    if form.date_from.data:
        stmt = stmt.where(AuditEntry.at >= _local_day_start(form.date_from.data))
    if form.date_to.data:
        stmt = stmt.where(AuditEntry.at < _local_day_start(form.date_to.data + timedelta(days=1)))
    q = (form.q.data or "").strip()
    if q:
        text = func.lower(AuditEntry.label).like(f"%{like_escape(q.lower())}%", escape="\\")
        number = q.lstrip("#")
        if number.isdigit() and len(number) < 10:
            text = or_(text, AuditEntry.entity_id == int(number))
        stmt = stmt.where(text)
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


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
    pagination = db.paginate(log_select(form), page=page, per_page=LOG_PER_PAGE,
                             error_out=False, count=True)
    args = [(key, value) for key, value in request.args.items(multi=True)
            if key != "page" and value != ""]

    def page_url(number: int) -> str:
        return url_for("audit.log") + "?" + urlencode(args + ([("page", number)] if number > 1 else []))

    response = render(LOG, "results" if targets("audit-results") else None, form=form,
                      pagination=pagination, page_url=page_url, **_helpers())
    if targets("audit-results"):
        response.headers["HX-Push-Url"] = page_url(page)
    return response


__all__ = ["history", "log", "PER_PAGE"]
