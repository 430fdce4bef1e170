"""What a /tasks query string asks for: whose tasks (the assignee, with its permission
check) and of which record (?customer=<id> / ?opportunity=<id>). Read by the /tasks page and
by its export (crm/tasks/exports.py), so that both list the same tasks."""
from dataclasses import dataclass

from flask import abort
from flask_login import current_user

from crm.extensions import db
from crm.models import Customer, Opportunity, User
from crm.permissions import visible_record
from crm.validators import int_or_none


@dataclass
class RecordFilter:
    """`?customer=<id>` or `?opportunity=<id>` on /tasks (a task panel's "All N open tasks"):
    the record whose tasks to list, when it exists and the user may see it. `refused`: a
    value was given that is not such a record (not a number, unknown, in the trash, hidden),
    ignored and said "not understood", the same for all of them."""
    customer: Customer | None = None
    opportunity: Opportunity | None = None
    refused: bool = False

    @property
    def active(self) -> bool:
        return self.customer is not None or self.opportunity is not None

    @property
    def args(self) -> dict:
        """The filter as /tasks query arguments, for the links that keep it."""
        if self.opportunity is not None:
            return {"opportunity": self.opportunity.id}
        if self.customer is not None:
            return {"customer": self.customer.id}
        return {}

    @property
    def ids(self) -> dict:
        """The filter as task_sections' arguments (an opportunity's with its customer)."""
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


def record_filter(args) -> RecordFilter:
    """The record filter of a /tasks query string (an opportunity's before a customer's)."""
    refused = False
    for name, model in (("opportunity", Opportunity), ("customer", Customer)):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        record_id = _record_id(raw)
        record = (visible_record(current_user, model, record_id)
                  if record_id is not None else None)
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
