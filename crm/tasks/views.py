"""The rows of /tasks worked out in Python, for templates/tasks/_macros.html's `task_rows`.

/tasks shows a hundred rows or more; a row macro that called a method, a filter, url_for and
half a dozen `_()` per row spent most of the page's time in Jinja's call machinery. Here
each row's values are computed once (TaskRow) and what the rows share once per page
(TaskList: the labels, the CSRF token, the links); the macro only prints attributes.

Plain text (titles, names, dates) is left to the template's autoescaping; the labels are
Markup as Jinja's newstyle gettext makes them in an autoescaped template (the translation
as markup, the values escaped into it), so the HTML is the same as the template's own _().
"""
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from crm.l10n import dt
from crm.tasks.services import SECTIONS, can_edit_task
from crm.urls import IdUrl


def _markup(translated: str, **values) -> Markup:
    """A translation as {{ _(msgid, **values) }} prints it in an autoescaped template."""
    return Markup(translated) % values


class TaskRow:
    """One task as its row shows it (see _macros.html's task_rows)."""

    __slots__ = ("id", "done", "overdue", "css", "toggle_url", "edit_url", "check_label",
                 "title", "done_pill", "due_iso", "due", "assignee", "opportunity",
                 "opportunity_url", "customer", "customer_url")


class TaskList:
    """The rows of a task list and what they share: `rows[name]` per section of `sections`
    (a crm.tasks.services.TaskSections), or `row(task)` for one row (the toggle's fragment).

    `now` decides the overdue marks, `show_assignee` whether rows name their assignee,
    `user` (the signed-in user) which rows get the tick-off form and the Edit link."""

    def __init__(self, now, show_assignee: bool, user, sections=None):
        self.now = now
        self.show_assignee = show_assignee
        self.user = user
        self.csrf = generate_csrf()
        self.edit = _markup(_("Edit"))
        self.mark_done = _markup(_("Mark done"))
        self.reopen = _markup(_("Reopen"))
        self.due_title = _markup(_("Due"))
        self.no_due = _markup(_("No due date"))
        self.overdue = _markup(_("Overdue"))
        self.assignee_title = _markup(_("Assignee"))
        self._done = _markup(_("Done"))
        # Filled in per row with the title or the time (Markup % escapes the value).
        self._done_when = Markup(_("Done %(when)s"))
        self._mark_title_done = Markup(_("Mark “%(title)s” done"))
        self._reopen_title = Markup(_("Reopen “%(title)s”"))
        self._toggle_url = IdUrl("tasks.toggle", "task_id")
        self._edit_url = IdUrl("tasks.update", "task_id")
        self._opportunity_url = IdUrl("opportunities.show", "opportunity_id")
        self._customer_url = IdUrl("customers.show", "customer_id")
        self.rows = ({name: [self.row(task) for task in sections.rows(name)] for name in SECTIONS}
                     if sections is not None else {})

    def row(self, task) -> TaskRow:
        row = TaskRow()
        row.id = task.id
        row.done = done = task.done
        due_at = task.due_at
        row.overdue = overdue = task.is_overdue(self.now)
        row.css = (" overdue" if overdue else "") + (" done" if done else "")
        row.title = task.title
        if can_edit_task(self.user, task):
            row.toggle_url = self._toggle_url(task.id)
            row.edit_url = self._edit_url(task.id)
            row.check_label = (self._reopen_title if done else self._mark_title_done) % {"title": task.title}
        else:
            row.toggle_url = row.edit_url = row.check_label = None
        if done:
            row.done_pill = (self._done_when % {"when": dt(task.done_at, "short")}
                             if task.done_at else self._done)
        else:
            row.done_pill = None
        if due_at:
            row.due_iso, row.due = due_at.isoformat(), dt(due_at, "short")
        else:
            row.due_iso = row.due = None
        assignee = task.assignee if self.show_assignee else None
        row.assignee = assignee.name if assignee else None
        opportunity = task.opportunity
        # (getattr: a task that crm.permissions.mark_hidden_related has not seen hides nothing)
        if opportunity and not getattr(task, "hide_opportunity", False):
            row.opportunity = opportunity.title
            row.opportunity_url = self._opportunity_url(opportunity.id) if self._opportunity_url else None
        else:
            row.opportunity = row.opportunity_url = None
        customer = task.customer
        if customer and not getattr(task, "hide_customer", False):
            row.customer = customer.name
            row.customer_url = self._customer_url(customer.id) if self._customer_url else None
        else:
            row.customer = row.customer_url = None
        return row
