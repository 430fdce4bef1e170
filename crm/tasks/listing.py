"""What a /tasks query string asks for: whose tasks (the assignee, with its permission
check) and of which record (?customer=<id> / ?opportunity=<id> / ?lead=<id>). Read by the /tasks page and
by its export (crm/tasks/exports.py), so that both list the same tasks."""
from dataclasses import dataclass

from flask import abort
from flask_login import current_user

from crm.extensions import db
from crm.models import Customer, Lead, Opportunity, User
from crm.permissions import visible_leads_clause, visible_record
from crm.validators import int_or_none


@dataclass
class RecordFilter:
    """`?customer=<id>`, `?opportunity=<id>` or `?lead=<id>` on /tasks (a task panel's "All N open tasks"):
    the record whose tasks to list, when it exists and the user may see it. `refused`: a
    value was given that is not such a record (not a number, unknown, in the trash, hidden),
    ignored and said "not understood", the same for all of them."""
    customer: Customer | None = None
    opportunity: Opportunity | None = None
    lead: Lead | None = None
    refused: bool = False

    @property
    def active(self) -> bool:
        return self.customer is not None or self.opportunity is not None or self.lead is not None

    @property
    def args(self) -> dict:
        """The filter as /tasks query arguments, for the links that keep it."""
        if self.lead is not None:
            return {"lead": self.lead.id}
        if self.opportunity is not None:
            return {"opportunity": self.opportunity.id}
        if self.customer is not None:
            return {"customer": self.customer.id}
        return {}

    @property
    def ids(self) -> dict:
        """The filter as task_sections' arguments (an opportunity's with its customer)."""
        if self.lead is not None:
            return {"lead_id": self.lead.id}
        if self.opportunity is not None:
            return {"opportunity_id": self.opportunity.id,
                    "customer_id": self.opportunity.customer_id}
        if self.customer is not None:
            return {"customer_id": self.customer.id}
        return {}


def _record_id(raw: str) -> int | None:
    """A positive id that fits the database's integer columns, else None."""
    value = int_or_none(raw.strip())
    return value if value is not None and 0 < value <= 2**31 - 1 else None


def _visible_lead(lead_id: int) -> Lead | None:
    """The lead with this id if it exists (outside the trash) and I may see it: one query."""
    return db.session.execute(db.select(Lead).where(
        Lead.id == lead_id, Lead.deleted_at.is_(None), visible_leads_clause(current_user))
    ).scalar_one_or_none()


def record_filter(args) -> RecordFilter:
    """The record filter of a /tasks query string (a lead's, then an opportunity's, then a
    customer's)."""
    refused = False
    for name, model in (("lead", Lead), ("opportunity", Opportunity), ("customer", Customer)):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        record_id = _record_id(raw)
        if record_id is None:
            record = None
        elif model is Lead:
            record = _visible_lead(record_id)
        else:
            record = visible_record(current_user, model, record_id)
        if record is not None:
            return RecordFilter(**{name: record}, refused=refused)
        refused = True
    return RecordFilter(refused=refused)


def view_filter(args, record: RecordFilter | None = None) -> tuple[int | None, str]:
    """Whose tasks to show: (assignee id or None for everyone, the filter's value).

    Sales see only their own: asking for someone else's (or everyone's) is a 403. The tasks
    of a record the user may see (`record`, see RecordFilter) are everyone's by default, for
    sales too: its page shows them all (crm.tasks.services._scope leaves out those of a
    customer's opportunities they may not see).
    """
    record = record or RecordFilter()
    raw = (args.get("assignee") or default_assignee(record)).strip()
    if raw == "me":
        return current_user.id, "me"
    if raw == "all":
        if not current_user.is_manager and not record.active:
            if record.refused:
                return current_user.id, "me"  # only the refused record would have allowed it
            abort(403)
        return None, "all"
    user_id = int_or_none(raw)
    if user_id is None:
        abort(404)
    if user_id == current_user.id:
        return user_id, "me"
    if not current_user.is_manager:
        abort(403)
    if db.session.get(User, user_id) is None:
        abort(404)
    return user_id, str(user_id)


def default_assignee(record: RecordFilter) -> str:
    return "all" if record.active else "me"


def listing(args) -> dict:
    """What a /tasks query string asks for: whose tasks and of which record (the /tasks page's
    _page_context arguments)."""
    record = record_filter(args)
    assignee_id, selected = view_filter(args, record)
    return {"assignee_id": assignee_id, "selected": selected, "record": record}
