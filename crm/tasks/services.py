"""Writes of tasks (任务) and their rules: adding, changing, ticking off and reopening a task.

Nothing here commits: the caller decides when the unit of work ends. The reads (lists,
sections, the task panel, the form's choices) are in crm.tasks.queries; who may edit a task
is crm.permissions.can_edit_task.
"""
from datetime import datetime, timezone

from crm.extensions import db
from crm.models import Lead, Opportunity, Task, User, utcnow
from crm.tasks.queries import user_zone

def user_time_to_utc(value: datetime | None, tz=None) -> datetime | None:
    """A naive datetime typed in the user's zone (datetime-local input), as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=user_zone(tz))
    return value.astimezone(timezone.utc)


def _relate(task: Task, customer_id: int | None, opportunity: Opportunity | None) -> None:
    """A task related to an opportunity is also its customer's; else to `customer_id` or
    nothing."""
    if opportunity is not None:
        customer_id = opportunity.customer_id
    task.customer_id = customer_id
    task.opportunity = opportunity
    task.opportunity_id = opportunity.id if opportunity else None


def create_task(*, title: str, due_at: datetime | None, assignee: User, created_by: User | None,
                customer_id: int | None = None, opportunity: Opportunity | None = None,
                lead: Lead | None = None) -> Task:
    """A new open task (the session holds it, nothing is flushed).

    Rules: the title is kept without its surrounding spaces; a task related to an
    opportunity also records the opportunity's customer (so the customer's page lists it);
    a task on a lead has no customer until the lead is converted (crm.leads.convert moves it).
    """
    task = Task(title=title.strip(), due_at=due_at, assignee=assignee,
                assignee_id=assignee.id, created_by_id=created_by.id if created_by else None,
                done=False)
    if lead is not None:
        task.lead = lead
    else:
        _relate(task, customer_id, opportunity)
    db.session.add(task)
    return task


def update_task(task: Task, *, title: str, due_at: datetime | None, assignee: User,
                customer_id: int | None, opportunity: Opportunity | None) -> Task:
    """Change a task's title, due time, assignee and related record, with create_task's
    rules (the opportunity decides the customer)."""
    task.title = title.strip()
    task.due_at = due_at
    task.assignee = assignee
    _relate(task, customer_id, opportunity)
    return task


def set_done(task: Task, done: bool, now: datetime | None = None) -> Task:
    """Tick a task off or reopen it.

    Rules: ticking off sets done_at to now and counts as activity on its opportunity
    (last_activity_at); reopening clears done_at; asking for the state it is in changes
    nothing.
    """
    now = now or utcnow()
    if done and not task.done:
        task.done = True
        task.done_at = now
        if task.opportunity is not None:
            task.opportunity.last_activity_at = now
    elif not done and task.done:
        task.done = False
        task.done_at = None
    return task
