"""Reads of tasks: the navigation's overdue badge, on every page.

The badge's count comes with the signed-in user (a scalar subquery of the user loader's
statement, no statement of its own). Any write in the request (a flush or a commit: a task
ticked off, added, moved to the trash...) forgets it, so a badge rendered after a change (the
out-of-band badge of the task routes) is counted again."""
from flask import g, has_app_context
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm.extensions import db
from crm.models import Task, utcnow

_OVERDUE_KEY = "_crm_overdue_count"


class LazyValue:
    """A value computed at most once, and only if a template uses it."""

    def __init__(self, compute):
        self._compute = compute
        self._done = False
        self._value = None

    @property
    def value(self):
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value

    def __bool__(self):
        return bool(self.value)

    def __str__(self):
        return str(self.value)

    def __int__(self):
        return int(self.value)

    def __eq__(self, other):
        return self.value == other

    def __html__(self):
        return str(self.value)


def overdue_task_count() -> int:
    """How many of my open tasks are past due: the figure the user loader read with the user
    (see overdue_count_of), or one indexed count when that is gone or was never read."""
    if not current_user.is_authenticated:
        return 0
    remembered = g.get(_OVERDUE_KEY)
    if remembered is not None and remembered[0] == current_user.id:
        return remembered[1]
    return db.session.execute(
        db.select(db.func.count()).select_from(Task).where(
            Task.assignee_id == current_user.id, Task.done.is_(False), Task.due_at < utcnow()
        )
    ).scalar_one()


def overdue_count_of(user_id_column, now=None):
    """The overdue count of the user in `user_id_column`, as a scalar subquery (from the
    (assignee_id, done, due_at) index of tasks; tasks in the trash are left out as everywhere).
    `now`: the moment (a value or a bind parameter), by default the current one."""
    return (db.select(db.func.count()).select_from(Task)
            .where(Task.assignee_id == user_id_column, Task.done.is_(False),
                   Task.due_at < (utcnow() if now is None else now))
            .correlate_except(Task).scalar_subquery().label("overdue_count"))


def remember_overdue_count(user_id: int, count: int) -> None:
    """Keep the count read with the user for this request's badge."""
    if has_app_context():
        setattr(g, _OVERDUE_KEY, (user_id, count))


def _forget_overdue_count(*_args) -> None:
    if has_app_context():
        g.pop(_OVERDUE_KEY, None)


def init_overdue_badge(app) -> None:
    """The layout's `overdue_count`, and forgetting the remembered count after any flush or
    commit of any session (idempotent: tests build many apps)."""
    for name in ("after_flush", "after_commit"):
        if not event.contains(Session, name, _forget_overdue_count):
            event.listen(Session, name, _forget_overdue_count)

    @app.context_processor
    def overdue_context():
        return {"overdue_count": LazyValue(overdue_task_count)}
