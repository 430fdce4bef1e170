"""The task list's export (crm/exports/): the tasks /tasks lists for the same query string
(whose: crm.tasks.listing; of which record: ?customer= / ?opportunity=), every one of its
sections without their row limits: open tasks (overdue, today, upcoming, no due date) and
done ones (of the last DONE_DAYS days; of a record, all), as crm.tasks.queries.task_sections
selects them. A related customer or opportunity the user may not see is left empty, as the
list hides it.

Columns, in this order (keys as the task form names its fields): title, due_at, done,
done_at, assignee, opportunity, customer, created_at; then custom fields."""
from datetime import timedelta

from flask import g
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from crm.exports.columns import Column, ExportSource
from crm.extensions import db
from crm.models import Task, utcnow
from crm.permissions import current_viewer
from crm.tasks.listing import listing
from crm.tasks.queries import DONE_DAYS, _scope, hide_related


def _opportunity(task):
    if task.opportunity is None or getattr(task, "hide_opportunity", False):
        return None
    return task.opportunity.title


def _customer(task):
    if task.customer is None or getattr(task, "hide_customer", False):
        return None
    return task.customer.name


def columns() -> list[Column]:
    return [
        Column("title", _l("Title"), lambda t: t.title),
        Column("due_at", _l("Due"), lambda t: t.due_at, "datetime"),
        Column("done", _l("Done"), lambda t: t.done, "bool"),
        Column("done_at", _l("Done at"), lambda t: t.done_at, "datetime"),
        Column("assignee", _l("Assignee"), lambda t: t.assignee.name if t.assignee else None),
        Column("opportunity", _l("Opportunity"), _opportunity),
        Column("customer", _l("Customer"), _customer),
        Column("created_at", _l("Created"), lambda t: t.created_at, "datetime"),
    ]


# The record filter of the export being read (ids() sets it for load()).
_RECORD_KEY = "_crm_task_export_record"


def ids(args):
    """The tasks /tasks shows for this query string, as ids: open ones by due date (undated
    last), then done ones, newest first."""
    chosen = listing(args)  # 403 / 404 as the page, for another's tasks
    record = chosen["record"]
    of_record = _scope(**record.ids) if record.active else []
    stmt = db.select(Task.id)
    if chosen["assignee_id"] is not None:
        stmt = stmt.where(Task.assignee_id == chosen["assignee_id"])
    done = (Task.done.is_(True) if of_record else
            db.and_(Task.done.is_(True), Task.done_at >= utcnow() - timedelta(days=DONE_DAYS)))
    _remember_record(record)
    open_due = db.case((Task.done.is_(False), Task.due_at))  # done tasks: newest first
    return (stmt.where(*of_record, db.or_(Task.done.is_(False), done))
            .order_by(Task.done, open_due.is_(None), open_due, Task.done_at.desc(), Task.id))


def _remember_record(record) -> None:
    setattr(g, _RECORD_KEY, record)


def load(task_ids: list[int]) -> list[Task]:
    """A chunk of tasks with their assignee, opportunity and customer (one query), and which
    related records are hidden from the user (two more, none for who sees everything)."""
    rows = db.session.execute(
        db.select(Task).where(Task.id.in_(task_ids)).options(
            joinedload(Task.assignee), joinedload(Task.opportunity), joinedload(Task.customer))
    ).scalars().all()
    by_id = {task.id: task for task in rows}
    tasks = [by_id[i] for i in task_ids if i in by_id]
    record = g.get(_RECORD_KEY)
    viewer = current_viewer()
    # As task_sections: the tasks of one record I may see show it; another customer (an
    # opportunity moved since) is hidden.
    of_record = record is not None and record.active
    hide_related(viewer, tasks, record.ids.get("customer_id") if of_record else None,
                 of_record=of_record)
    return tasks


SOURCE = ExportSource(name="tasks", record_type="task", label=_l("Tasks"),
                      columns=columns, ids=ids, load=load)
