"""Template filters: dates, times, numbers and money in the user's locale and time zone."""
from datetime import date, datetime

from flask_babel import format_decimal, get_locale, to_user_timezone
from flask_login import current_user
from markupsafe import Markup

from crm import l10n
from crm.extensions import db


def money(amount, currency: str = "CNY") -> str:
    if amount is None:
        return ""
    return l10n.money(amount, currency or "CNY")


def number(value) -> str:
    if value is None:
        return ""
    return format_decimal(value)


def dt(value: datetime | None, fmt: str = "medium") -> str:
    """A UTC datetime shown in the user's time zone and language."""
    if value is None:
        return ""
    return l10n.format_moment(value, fmt)


def d(value: date | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # the day it is in the user's zone
        return l10n.format_day(to_user_timezone(value).date(), fmt)
    return l10n.format_day(value, fmt)


def dt_input(value: datetime | None) -> str:
    """The value of a datetime-local input, in the user's zone."""
    if value is None:
        return ""
    return to_user_timezone(value).strftime("%Y-%m-%dT%H:%M")


def nl2br(text: str | None) -> Markup:
    from markupsafe import escape
    return Markup("<br>").join(escape(text or "").splitlines())


def init_formatting(app) -> None:
    app.jinja_env.filters.update(money=money, number=number, dt=dt, d=d, dt_input=dt_input,
                                 nl2br=nl2br)
    _install_overdue_listeners()
    l10n.install_jinja_gettext(app)
    # A global as well as a context value, so that macros imported without context (which
    # Jinja imports once per template, not once per use) can ask it too.
    app.jinja_env.globals["has_endpoint"] = has_endpoint
    from crm.urls import IdUrl
    app.jinja_env.globals["id_url"] = IdUrl

    @app.context_processor
    def layout_context():
        """What the layout needs on every page: locale, and my overdue task count."""
        return {
            "current_locale": current_locale(),
            "overdue_count": LazyValue(overdue_task_count),
            "has_endpoint": has_endpoint,
        }


def current_locale() -> str:
    """'zh_CN' or 'en' (Babel spells the Chinese locale zh_Hans_CN)."""
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def has_endpoint(name: str) -> bool:
    from flask import current_app
    return name in current_app.view_functions


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
    from flask import g
    remembered = g.get(_OVERDUE_KEY)
    if remembered is not None and remembered[0] == current_user.id:
        return remembered[1]
    from crm.models import Task, utcnow
    return db.session.execute(
        db.select(db.func.count()).select_from(Task).where(
            Task.assignee_id == current_user.id, Task.done.is_(False), Task.due_at < utcnow()
        )
    ).scalar_one()


# The overdue badge is on every page: its count comes with the signed-in user (a scalar
# subquery of the user loader's query, no statement of its own). Any write in the request
# (a flush or a commit: a task ticked off, added, moved to the trash...) forgets it, so a badge
# rendered after a change (the out-of-band badge of the task routes) is counted again.
_OVERDUE_KEY = "_crm_overdue_count"


def overdue_count_of(user_id_column, now=None):
    """The overdue count of the user in `user_id_column`, as a scalar subquery (from the
    (assignee_id, done, due_at) index of tasks; tasks in the trash are left out as everywhere).
    `now`: the moment (a value or a bind parameter), by default the current one."""
    from crm.models import Task, utcnow
    return (db.select(db.func.count()).select_from(Task)
            .where(Task.assignee_id == user_id_column, Task.done.is_(False),
                   Task.due_at < (utcnow() if now is None else now))
            .correlate_except(Task).scalar_subquery().label("overdue_count"))


def remember_overdue_count(user_id: int, count: int) -> None:
    """Keep the count read with the user for this request's badge."""
    from flask import g, has_app_context
    if has_app_context():
        setattr(g, _OVERDUE_KEY, (user_id, count))


def _forget_overdue_count(*_args) -> None:
    from flask import g, has_app_context
    if has_app_context():
        g.pop(_OVERDUE_KEY, None)


def _install_overdue_listeners() -> None:
    """Forget the remembered count after any flush or commit of any session (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    for name in ("after_flush", "after_commit"):
        if not event.contains(Session, name, _forget_overdue_count):
            event.listen(Session, name, _forget_overdue_count)
