"""Reads of tasks: the navigation's overdue badge, the sections of /tasks and the rows they
print, the task panel of customer and opportunity pages, one task, and the choices of the
task form (assignees, related records).

Times are stored in UTC. "Today" is the user's today: a task due at 01:00 in Shanghai is
due today there even though it is still yesterday in UTC.

The badge's count comes with the signed-in user (a scalar subquery of the user loader's
statement, no statement of its own). Any write in the request (a flush or a commit: a task
ticked off, added, moved to the trash...) forgets it, so a badge rendered after a change (the
out-of-band badge of the task routes) is counted again."""
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from flask import g, has_app_context
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.orm import Session, joinedload

from crm.extensions import db
from crm.l10n import dt
from crm.models import Customer, Lead, Opportunity, Task, User, utcnow
from crm.permissions import (
    can_edit_task,
    current_viewer,
    mark_hidden_related,
    sees_everything,
    visible_customers_clause,
    visible_leads_clause,
    visible_opportunities_clause,
)
from crm.search import customer_search_condition, query_terms
from crm.tasks.next_contacts import overdue_contacts_of
from crm.urls import IdUrl

DONE_DAYS = 30          # the Done section shows tasks completed in the last 30 days
SECTION_ROWS = 25       # open sections show this many rows (with the full count) ...
SECTION_LIMIT = 200     # ... or this many after "Show more"
DONE_PER_PAGE = 20
PANEL_ROWS = 20         # a customer's or opportunity's task panel shows its first 20 open tasks

SECTIONS = ("overdue", "today", "upcoming", "none", "done")

_OVERDUE_KEY = "_crm_overdue_count"


# --- The navigation's overdue badge -----------------------------------------------------------

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


def overdue_count(user_id: int, now: datetime | None = None) -> int:
    """How many open tasks of `user_id` are past due (as of `now`), with the overdue next
    contacts the user keeps (crm.tasks.next_contacts): one statement of indexed counts."""
    return db.session.execute(db.select(overdue_count_of(user_id, now))).scalar_one()


def overdue_task_count() -> int:
    """How many of my open tasks are past due: the figure the user loader read with the user
    (see overdue_count_of), or one indexed count when that is gone or was never read."""
    if not current_user.is_authenticated:
        return 0
    remembered = g.get(_OVERDUE_KEY)
    if remembered is not None and remembered[0] == current_user.id:
        return remembered[1]
    return overdue_count(current_user.id)


def overdue_count_of(user_id_column, now=None):
    """The overdue count of the user in `user_id_column`, as a scalar subquery: open tasks past
    due (from the (assignee_id, done, due_at) index of tasks; tasks in the trash are left out
    as everywhere) and the next contacts the user keeps that are due (overdue_contacts_of).
    `now`: the moment (a value or a bind parameter), by default the current one."""
    now = utcnow() if now is None else now
    tasks = (db.select(db.func.count()).select_from(Task)
             .where(Task.assignee_id == user_id_column, Task.done.is_(False), Task.due_at < now)
             .correlate_except(Task).scalar_subquery())
    return (tasks + overdue_contacts_of(user_id_column, now)).label("overdue_count")


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


# --- The user's day ---------------------------------------------------------------------------

def user_zone(tz=None) -> tzinfo:
    """The user's zone (or `tz`) as a ZoneInfo.

    Flask-Babel hands out pytz zones; attaching one with replace(tzinfo=...) gives its first
    historical offset (LMT, +08:06 for Shanghai), so convert to zoneinfo by name.
    """
    if tz is None:
        tz = get_timezone()
    if isinstance(tz, ZoneInfo):
        return tz
    name = tz if isinstance(tz, str) else getattr(tz, "zone", None) or str(tz)
    return ZoneInfo(name)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def day_bounds(now: datetime | None = None, tz=None) -> tuple[datetime, datetime]:
    """The start and end (UTC) of the user's today, in the user's zone `tz`."""
    zone = user_zone(tz)
    local_now = _aware(now or utcnow()).astimezone(zone)
    start_local = datetime.combine(local_now.date(), time.min, tzinfo=zone)
    end_local = datetime.combine(local_now.date() + timedelta(days=1), time.min, tzinfo=zone)
    return start_local.astimezone(timezone.utc), end_local.astimezone(timezone.utc)


# --- Which tasks ------------------------------------------------------------------------------

def _with_relations(query):
    return query.options(joinedload(Task.assignee), joinedload(Task.opportunity),
                         joinedload(Task.customer))


def _listed_with_relations(query):
    """As _with_relations, but of the assignee, the opportunity and the customer only what a
    list of tasks shows (the name or title, and the id to link): a page of tasks joined
    every column of three tables, most of its time spent reading and converting them."""
    return query.options(joinedload(Task.assignee).load_only(User.id, User.name),
                         joinedload(Task.opportunity).load_only(Opportunity.id, Opportunity.title),
                         joinedload(Task.customer).load_only(Customer.id, Customer.name))


def _due_order():
    # Tasks without a due date come last, on every database.
    return (Task.due_at.is_(None), Task.due_at, Task.id)


def of_customer(customer_id: int):
    """Tasks of a customer: its own and its opportunities', written so that both databases
    read them from the indexes on tasks.customer_id and tasks.opportunity_id (SQLite: a
    MULTI-INDEX OR; PostgreSQL: a BitmapOr, which it does not plan for an IN subquery)."""
    if db.session.get_bind().dialect.name == "postgresql":
        ids = db.text("ARRAY(SELECT opportunities.id FROM opportunities "
                      "WHERE opportunities.customer_id = :of_customer_id)").bindparams(
            of_customer_id=customer_id)
        in_opportunities = Task.opportunity_id == db.func.any(ids)
    else:
        in_opportunities = Task.opportunity_id.in_(
            db.select(Opportunity.id).where(Opportunity.customer_id == customer_id).correlate(None))
    return db.or_(Task.customer_id == customer_id, in_opportunities)


def _scope(customer_id: int | None = None, opportunity_id: int | None = None,
           lead_id: int | None = None) -> list:
    """WHERE conditions: the tasks of a lead, of an opportunity, or of a customer (its own and
    its opportunities', without those of its opportunities the signed-in user may not see)."""
    if lead_id is not None:
        return [Task.lead_id == lead_id]
    if opportunity_id is not None:
        return [Task.opportunity_id == opportunity_id]
    conditions = [of_customer(customer_id)]
    viewer = current_viewer()
    if not sees_everything(viewer):
        # A customer's page does not show the tasks of its opportunities I may not see.
        conditions.append(db.or_(Task.opportunity_id.is_(None), Task.opportunity_id.in_(
            db.select(Opportunity.id).where(visible_opportunities_clause(viewer)).correlate(None))))
    return conditions


# --- The task panel of a customer or an opportunity -------------------------------------------

class OpenTasks(list):
    """The first open tasks of a record, as its task panel shows them, with `total`: how many
    open tasks it has in all (a list, so callers that only iterate need not know)."""

    def __init__(self, tasks=(), total: int | None = None):
        super().__init__(tasks)
        self.total = len(self) if total is None else total


def _open_total(scope):
    """How many open tasks match `scope`, as a scalar subquery run once for a statement
    (uncorrelated: not per row)."""
    return (db.select(db.func.count()).select_from(Task).where(Task.done.is_(False), *scope)
            .correlate(None).scalar_subquery())


def _record_visible(customer_id: int | None, opportunity_id: int | None,
                    lead_id: int | None = None):
    """WHERE condition: the record of a task panel (its lead, its opportunity, else its
    customer) is one the signed-in user may see; None when they see everything. An
    uncorrelated EXISTS on the record's primary key, run once for the statement."""
    viewer = current_viewer()
    if lead_id is not None:
        return (db.select(Lead.id).where(Lead.id == lead_id, visible_leads_clause(viewer))
                .correlate(None).exists())
    if sees_everything(viewer):
        return None
    if opportunity_id is not None:
        record = db.select(Opportunity.id).where(Opportunity.id == opportunity_id,
                                                 visible_opportunities_clause(viewer))
    else:
        record = db.select(Customer.id).where(Customer.id == customer_id,
                                              visible_customers_clause(viewer))
    return record.correlate(None).exists()


def open_tasks_for(customer_id: int | None = None, opportunity_id: int | None = None,
                   limit: int = PANEL_ROWS, lead_id: int | None = None) -> OpenTasks:
    """The first `limit` open tasks of an opportunity, or of a customer (its own and its
    opportunities'), by due date (overdue first, undated last), the assignee loaded with
    them, and their total (OpenTasks.total): one query, whatever their number.

    The record comes from a form (the task panel's) as often as from its page: one the
    signed-in user may not see has no tasks for them, as one that does not exist (checked in
    the same statement). A lead's (`lead_id`): the tasks on the lead."""
    if customer_id is None and opportunity_id is None and lead_id is None:
        return OpenTasks()
    scope = _scope(customer_id, opportunity_id, lead_id)
    query = _with_relations(db.select(Task, _open_total(scope))).where(
        Task.done.is_(False), *scope)
    visible = _record_visible(customer_id, opportunity_id, lead_id)
    if visible is not None:
        query = query.where(visible)
    rows = db.session.execute(query.order_by(*_due_order()).limit(limit)).all()
    return OpenTasks([task for task, _total in rows], rows[0][1] if rows else 0)


def open_and_done_tasks(customer_id: int | None = None, opportunity_id: int | None = None,
                        done_limit: int = 100, open_limit: int = PANEL_ROWS,
                        lead_id: int | None = None) -> tuple[OpenTasks, list[Task]]:
    """What a customer's or an opportunity's page shows of its tasks, in one query: the first
    `open_limit` open ones (the task panel, by due date, as open_tasks_for), their total on
    the list's `total` (an OpenTasks), and the latest `done_limit` done ones (the timeline,
    newest first). Each part selects its ids with its own order and LIMIT, from the indexes
    on customer_id / opportunity_id; a UNION ALL joins them. The total of open tasks rides
    in the same statement (an uncorrelated count, run once), so a big account's page costs
    the same statements as a small one's. A lead's page passes `lead_id`."""
    if customer_id is None and opportunity_id is None and lead_id is None:
        return OpenTasks(), []
    scope = _scope(customer_id, opportunity_id, lead_id)
    open_ids = (db.select(Task.id).where(Task.done.is_(False), *scope)
                .order_by(*_due_order()).limit(open_limit))
    done_ids = (db.select(Task.id).where(Task.done.is_(True), *scope)
                .order_by(Task.done_at.desc()).limit(done_limit))
    rows = db.session.execute(
        _with_relations(db.select(Task, _open_total(scope)))
        .where(Task.id.in_(db.union_all(open_ids.subquery().select(),
                                        done_ids.subquery().select())))
        .order_by(Task.done, *_due_order())
    ).all()
    open_tasks = OpenTasks([task for task, _total in rows if not task.done],
                           rows[0][1] if rows else 0)
    done_tasks = sorted((task for task, _total in rows if task.done),
                        key=lambda task: task.done_at or task.created_at, reverse=True)
    return open_tasks, done_tasks


# --- The sections of /tasks -------------------------------------------------------------------

@dataclass
class TaskSections:
    """The /tasks page: rows per section (limited) and the full count per section."""
    overdue: list = field(default_factory=list)
    today: list = field(default_factory=list)
    upcoming: list = field(default_factory=list)
    none: list = field(default_factory=list)
    done: object = None  # a Pagination of recently done tasks
    counts: dict = field(default_factory=dict)

    def rows(self, name: str):
        return self.done.items if name == "done" else getattr(self, name)


def task_sections(assignee_id: int | None, now: datetime | None = None, tz=None,
                  done_page: int = 1, more=(), customer_id: int | None = None,
                  opportunity_id: int | None = None, lead_id: int | None = None) -> TaskSections:
    """A user's tasks (or everyone's when assignee_id is None) split into sections in the
    user's zone; a fixed number of queries whatever the number of tasks.

    Overdue means past its due time, even earlier today; today means due later today in the
    user's zone; upcoming means due after the user's midnight; none: no due date.

    Open sections show SECTION_ROWS rows, those named in `more` SECTION_LIMIT; the rows of
    all four come in one query (a UNION ALL of one LIMITed select per section, each read
    from the (assignee_id, done, due_at) index), the counts and the done total in another.

    With `customer_id`, `opportunity_id` or `lead_id` (the caller checked the user may see that record;
    with `opportunity_id`, `customer_id` is its customer, as the task panel has them) only
    the tasks of that record count, as its task panel has them (a customer's: its own and
    those of its opportunities the user may see); then Done lists all its done tasks, not
    only the last DONE_DAYS days'.
    """
    now = _aware(now or utcnow())
    _, end_of_today = day_bounds(now, tz)
    done_since = now - timedelta(days=DONE_DAYS)
    of_record = (_scope(customer_id, opportunity_id, lead_id)
                 if (customer_id, opportunity_id, lead_id) != (None, None, None) else [])

    def scoped(query):
        if assignee_id is not None:
            query = query.where(Task.assignee_id == assignee_id)
        return query.where(*of_record) if of_record else query

    conditions = {
        "overdue": Task.due_at < now,
        "today": db.and_(Task.due_at >= now, Task.due_at < end_of_today),
        "upcoming": Task.due_at >= end_of_today,
        "none": Task.due_at.is_(None),
    }
    sections = TaskSections()
    ids_q = scoped(db.select(Task.id).where(Task.done.is_(False)))
    # Each branch in the order its index range reads (due_at, then id; id alone when there is
    # no due date), which within a branch is _due_order(): the index has no "due_at IS NULL"
    # to order by, and with it SQLite sorted the whole range (all my upcoming tasks) for 25.
    branches = [ids_q.where(condition)
                .order_by(*((Task.id,) if name == "none" else (Task.due_at, Task.id)))
                .limit(SECTION_LIMIT if name in more else SECTION_ROWS).subquery().select()
                for name, condition in conditions.items()]
    rows = db.session.execute(
        _listed_with_relations(db.select(Task)).where(Task.id.in_(db.union_all(*branches)))
        .order_by(*_due_order())
    ).unique().scalars().all()
    for task in rows:
        due = _aware(task.due_at) if task.due_at is not None else None
        name = "none" if due is None else "overdue" if due < now else \
            "today" if due < end_of_today else "upcoming"
        getattr(sections, name).append(task)

    done_condition = (Task.done.is_(True) if of_record
                      else db.and_(Task.done.is_(True), Task.done_at >= done_since))
    done_q = scoped(_listed_with_relations(db.select(Task))).where(done_condition).order_by(
        Task.done_at.desc(), Task.id.desc())

    # One statement, a count per section, each over its own range of the (assignee_id, done,
    # due_at) index, instead of one pass over all the assignee's tasks with a CASE per section
    # (3.5 ms at 10,000 tasks of one assignee, now 1.5 ms). The done count still reads all the
    # done rows of that index (done_at rides along in it): the (assignee_id, done, done_at)
    # index has the 30 days' range but not deleted_at, a table read per row, slower here.
    def count(what, *where):
        return scoped(db.select(what).select_from(Task).where(*where)).scalar_subquery()

    open_count = {name: count(db.func.count(), Task.done.is_(False), condition)
                  for name, condition in conditions.items()}
    count_q = db.select(
        open_count["overdue"], open_count["today"], open_count["upcoming"], open_count["none"],
        count(db.func.count(), Task.done.is_(True)) if of_record else
        count(db.func.count(db.case((Task.done_at >= done_since, 1))), Task.done.is_(True)))
    overdue, today, upcoming, none, done = db.session.execute(count_q).one()
    # The done total comes with the other counts: the pager needs no count(*) of its own.
    sections.done = db.paginate(done_q, page=done_page, per_page=DONE_PER_PAGE, error_out=False,
                                count=False)
    sections.done.total = done
    sections.counts = {"overdue": overdue, "today": today, "upcoming": upcoming, "none": none,
                       "done": done}
    listed = [t for name in SECTIONS for t in sections.rows(name)]
    viewer = current_viewer()
    hide_related(viewer, listed, customer_id if of_record else None, of_record=bool(of_record))
    return sections


def hide_related(viewer, tasks, customer_id: int | None, *, of_record: bool) -> None:
    """Mark on each task whether its customer and opportunity links are hidden from `viewer`.

    The tasks of one record the user may see (`of_record`), no query: their opportunity is
    that one or one _scope let through; their customer is `customer_id` (the record, or the
    opportunity's), visible; another one (an opportunity moved since) is hidden. Otherwise a
    task stays its assignee's even when its customer or opportunity is not visible to them:
    only the link to the record is hidden (mark_hidden_related)."""
    if of_record and not sees_everything(viewer):
        for task in tasks:
            task.hide_opportunity = False
            task.hide_customer = task.customer_id is not None and task.customer_id != customer_id
    else:
        mark_hidden_related(viewer, tasks)


# --- The rows of /tasks -----------------------------------------------------------------------
# /tasks shows a hundred rows or more; a row macro that called a method, a filter, url_for and
# half a dozen `_()` per row spent most of the page's time in Jinja's call machinery. Here
# each row's values are computed once (TaskRow) and what the rows share once per page
# (TaskList: the labels, the CSRF token, the links); templates/tasks/_macros.html's
# `task_rows` only prints attributes.
#
# Plain text (titles, names, dates) is left to the template's autoescaping; the labels are
# Markup as Jinja's newstyle gettext makes them in an autoescaped template (the translation
# as markup, the values escaped into it), so the HTML is the same as the template's own _().

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
    (a TaskSections), or `row(task)` for one row (the toggle's fragment).

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
        # (getattr: a task that crm.permissions.mark_hidden_related has not seen hides nothing)
        opportunity = task.opportunity
        if opportunity and not getattr(task, "hide_opportunity", False):
            row.opportunity, row.opportunity_url = opportunity.title, self._opportunity_url(opportunity.id)
        else:
            row.opportunity = row.opportunity_url = None
        customer = task.customer
        if customer and not getattr(task, "hide_customer", False):
            row.customer, row.customer_url = customer.name, self._customer_url(customer.id)
        else:
            row.customer = row.customer_url = None
        return row


# --- One task, and the task form's choices ----------------------------------------------------

def load_task(task_id: int) -> Task | None:
    """One task with its relations (for a row fragment)."""
    task = db.session.execute(
        _with_relations(db.select(Task)).where(Task.id == task_id)
    ).unique().scalar_one_or_none()
    if task is not None:
        mark_hidden_related(current_viewer(), [task])
    return task


def active_users() -> list[User]:
    """Who a task can be assigned to."""
    return list(db.session.execute(
        db.select(User).where(User.active.is_(True)).order_by(User.name, User.id)).scalars())


def related_search(q: str, limit: int = 8) -> list[tuple[str, str]]:
    """Customers and opportunities matching `q` (pinyin too) as (value, label) choices for a
    task's related record: two queries, at most `limit` of each."""
    terms = query_terms(q)
    if not terms:
        return []
    viewer = current_viewer()
    customers_q = (db.select(Customer).where(visible_customers_clause(viewer))
                   .order_by(Customer.name, Customer.id).limit(limit))
    opportunities_q = (db.select(Opportunity).join(Customer, Opportunity.customer_id == Customer.id)
                       .options(joinedload(Opportunity.customer))
                       .where(Opportunity.status == "open", visible_opportunities_clause(viewer))
                       .order_by(Opportunity.title, Opportunity.id).limit(limit))
    customers_q = customers_q.where(*customer_search_condition(terms))
    opportunities_q = opportunities_q.where(
        *customer_search_condition(terms, title=db.func.lower(Opportunity.title)))
    choices = [(f"opportunity:{o.id}", opportunity_label(o))
               for o in db.session.execute(opportunities_q).unique().scalars()]
    choices += [(f"customer:{c.id}", c.name) for c in db.session.execute(customers_q).scalars()]
    return choices


def opportunity_label(opportunity: Opportunity) -> str:
    """'Deal · Customer': an opportunity as the related-record choices name it."""
    customer = opportunity.customer
    return f"{opportunity.title} · {customer.name}" if customer is not None else opportunity.title
