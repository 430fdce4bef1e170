"""My tasks (/tasks), and adding, editing, ticking off and deleting tasks, inline with htmx
and with plain forms that work without JavaScript."""
from datetime import datetime
from urllib.parse import parse_qsl, urlparse

from flask import (
    Blueprint,
    flash,
    get_template_attribute,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from crm.extensions import commit_keeping_loaded, db
from crm.htmx import (
    add_oob,
    block_for,
    current_url,
    fragment,
    is_htmx,
    oob_block,
    redirect_to,
    render,
    targets,
)
from crm.l10n import dt_input
from crm.models import User, utcnow
from crm.permissions import can_edit_task, can_see_customer, can_see_opportunity, checked
from crm.responses import remember_undo, with_undo_toast
from crm.tasks.forms import TaskForm
from crm.tasks.listing import RecordFilter, default_assignee, listing
from crm.tasks.queries import (
    TaskList,
    active_users,
    day_bounds,
    load_task,
    open_tasks_for,
    opportunity_label,
    related_search,
    task_sections,
)
from crm.tasks.next_contacts import contacts_due
from crm.tasks.services import create_task, set_done, update_task, user_time_to_utc
from crm.trash.services import trash
from crm.urls import local_path
from crm.validators import int_or_none

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

PAGE = "tasks/index.html"
PANEL = "tasks/panel.html"
FORM = "tasks/form.html"
# /tasks: the block an htmx request aiming at an element of the page gets.
PAGE_BLOCKS = {"task-sections": "task_sections"}


# --- helpers -------------------------------------------------------------------------

def _back_url(*candidates: str | None) -> str:
    """The first local URL among `candidates` and the Referer, else /tasks."""
    for url in (*candidates, request.referrer):
        if path := local_path(url):
            return path
    return url_for("tasks.index")


def _filter_args_from_page() -> MultiDict:
    """The /tasks query string of the page an htmx request came from."""
    current = current_url()
    if local_path(current) and urlparse(current).path == url_for("tasks.index"):
        return MultiDict(parse_qsl(urlparse(current).query))
    return MultiDict()


def _new_form(assignees, **data) -> TaskForm:
    data.setdefault("assignee_id", current_user.id)
    return TaskForm(formdata=None, assignees=assignees, **data)


def _panel_ids(form: TaskForm) -> TaskForm:
    """Unique element ids: the panel shares its page with other forms (the note form...)."""
    for field in form:
        field.id = f"new-task-{field.name.replace('_', '-')}"
    return form


def _related_choices(form: TaskForm, q: str | None = None) -> list[tuple[str, str]]:
    """The related-record radio choices: none, the current one, and search results."""
    choices = [("", _("Nothing"))]
    hidden = _("A record you cannot see")
    if form.related_opportunity is not None:
        choices.append((f"opportunity:{form.related_opportunity.id}",
                        opportunity_label(form.related_opportunity)
                        if can_see_opportunity(current_user, form.related_opportunity) else hidden))
    elif form.related_customer is not None:
        choices.append((f"customer:{form.related_customer.id}", form.related_customer.name
                        if can_see_customer(current_user, form.related_customer) else hidden))
    for value, label in related_search(q or ""):
        if value not in (v for v, _ in choices):
            choices.append((value, label))
    return choices


def _page_context(assignee_id: int | None, selected: str, *, form: TaskForm | None = None,
                  assignees=None, done_page: int = 1, more=(),
                  record: RecordFilter | None = None) -> dict:
    record = record or RecordFilter()
    assignees = assignees if assignees is not None else active_users()
    form = form or _new_form(assignees, related="")
    if form.related_customer is None and form.related_opportunity is None:
        form.load_related()
    viewing = None
    if assignee_id is not None and assignee_id != current_user.id:
        viewing = db.session.get(User, assignee_id)
    sections = task_sections(assignee_id, done_page=done_page, more=more, **record.ids)
    # Links (sections, "Show more", pages) keep the record and an assignee other than the
    # default; removing the record keeps only such an assignee (never "all" for sales).
    assignee_args = {} if selected == default_assignee(record) else {"assignee": selected}
    return {
        "sections": sections,
        # The rows ready to print (the overdue marks as of now, the assignee shown on others' tasks).
        "task_list": TaskList(utcnow(), assignee_id != current_user.id,
                              current_user._get_current_object(), sections),
        "more": list(more),
        "selected": selected,
        "viewing": viewing,
        "users": assignees,
        "form": form,
        "related_choices": _related_choices(form, form.related_q.data),
        "filter_args": {**record.args, **assignee_args},
        "record_args": record.args,
        "filter_customer": record.customer,
        "filter_opportunity": record.opportunity,
        "filter_lead": record.lead,
        "record_refused": record.refused,
        "unfiltered_url": url_for("tasks.index", **assignee_args),
    }


def _context_of_calling_page() -> dict:
    """The /tasks sections as the page that sent an htmx request shows them (filter, page)."""
    args = _filter_args_from_page()
    return _page_context(**listing(args), done_page=args.get("page", 1, type=int),
                         more=_more(args))


def _more(args) -> tuple[str, ...]:
    """The open sections whose "Show more" was followed (?more=overdue&more=today)."""
    return tuple(name for name in ("overdue", "today", "upcoming", "none") if name in args.getlist("more"))


def _with_badge(response, *pieces: str):
    """`response` with `pieces` and the navigation's overdue count out of band."""
    return add_oob(response, *pieces, oob_block("base.html", "overdue_badge"))


def _panel_response(customer_id, opportunity_id, *, form: TaskForm | None = None, status=200,
                    oob=(), lead_id=None):
    """The task panel of a customer, an opportunity or a lead, with the badge (and `oob`) out
    of band."""
    # The panel's record comes from the form: one the user may not see lists nothing, as one
    # that does not exist (open_tasks_for checks it in its own statement).
    response = fragment(PANEL, "task_panel", status=status,
                        panel_tasks=open_tasks_for(customer_id=customer_id,
                                                   opportunity_id=opportunity_id, lead_id=lead_id),
                        panel_customer_id=customer_id, panel_opportunity_id=opportunity_id,
                        panel_lead_id=lead_id,
                        panel_form=_panel_ids(form) if form is not None else None)
    return _with_badge(response, *oob)


def _panel_of_form(**kwargs):
    """The task panel whose record the toggle or delete form names (panel_customer_id,
    panel_opportunity_id, panel_lead_id)."""
    return _panel_response(int_or_none(request.form.get("panel_customer_id")),
                           int_or_none(request.form.get("panel_opportunity_id")),
                           lead_id=int_or_none(request.form.get("panel_lead_id")), **kwargs)


def _task_or_403(task_id: int):
    return checked(load_task(task_id), can_edit_task)


# --- views ---------------------------------------------------------------------------

@bp.route("")
def index():
    """My tasks: overdue, today, upcoming, no due date, and recently done; a manager's choice
    of whose; with `?customer=<id>` or `?opportunity=<id>` (see RecordFilter) the open and
    done tasks of that record."""
    wanted = listing(request.args)
    context = _page_context(**wanted, done_page=request.args.get("page", 1, type=int),
                            more=_more(request.args))
    # To contact today (下次联系): the next contacts due by the end of today, of the tasks'
    # person (everyone's with "Everyone"); not on one record's tasks.
    record = wanted.get("record")
    due = [] if record is not None and record.args else contacts_due(wanted["assignee_id"],
                                                                     day_bounds()[1], current_user)
    return render(PAGE, block_for(PAGE_BLOCKS), oob=["contacts_due"], contacts_oob=is_htmx(),
                  due_contacts=due, **context)


@bp.route("/new", methods=["GET", "POST"])
def create():
    """Add a task: from /tasks, from a customer's or opportunity's panel, or this page."""
    assignees = active_users()
    in_panel, on_page = targets("task-panel"), targets("tasks-main")
    if request.method == "GET":
        form = _new_form(assignees, customer_id=request.args.get("customer_id", ""),
                         opportunity_id=request.args.get("opportunity_id", ""),
                         next=_back_url(request.args.get("next")))
        form.load_related()
        return render_template(FORM, form=form, task=None, related_choices=_related_choices(form))

    form = TaskForm(assignees=assignees)
    searching = "search_related" in request.form
    # A related record I may not see is refused by the form as one that does not exist (422).
    if not searching and form.validate_on_submit():
        create_task(title=form.title.data, due_at=user_time_to_utc(form.due_at.data),
                    assignee=form.assignee, created_by=current_user,
                    customer_id=form.related_customer.id if form.related_customer else None,
                    opportunity=form.related_opportunity, lead=form.related_lead)
        db.session.commit()
        if in_panel:
            return _panel_response(int_or_none(form.customer_id.data),
                                   int_or_none(form.opportunity_id.data),
                                   lead_id=int_or_none(form.lead_id.data))
        if on_page:
            return _with_badge(fragment(PAGE, "tasks_main", **_page_context(
                **listing(_filter_args_from_page()), assignees=assignees)))
        flash(_("The task was added."), "success")
        return redirect(_back_url(form.next.data), 303)

    form.load_related()
    status = 422 if form.errors else 200
    if in_panel:
        return _panel_response(int_or_none(form.customer_id.data),
                               int_or_none(form.opportunity_id.data), form=form, status=status,
                               lead_id=int_or_none(form.lead_id.data))
    if on_page:
        context = _page_context(**listing(_filter_args_from_page()), form=form,
                                assignees=assignees)
        return fragment(PAGE, "tasks_main", status=status, **context)
    if not form.next.data:
        form.next.data = _back_url()
    return make_response(render_template(
        FORM, form=form, task=None,
        related_choices=_related_choices(form, form.related_q.data if searching else None)), status)


@bp.route("/<int:task_id>/edit", methods=["GET", "POST"])
def update(task_id: int):
    """Change a task's title, due time, assignee or related record."""
    task = _task_or_403(task_id)
    assignees = active_users()
    if task.assignee is not None and task.assignee not in assignees:
        assignees = [*assignees, task.assignee]  # keep showing a deactivated assignee
    if request.method == "GET":
        related = (f"opportunity:{task.opportunity_id}" if task.opportunity_id else
                   f"customer:{task.customer_id}" if task.customer_id else "")
        due = datetime.strptime(dt_input(task.due_at), "%Y-%m-%dT%H:%M") if task.due_at else None
        form = TaskForm(formdata=None, assignees=assignees, task=task, title=task.title,
                        due_at=due, assignee_id=task.assignee_id, related=related,
                        next=_back_url(request.args.get("next")))
        form.related.raw_data = [related]
        form.load_related()
        return render_template(FORM, form=form, task=task, related_choices=_related_choices(form))

    form = TaskForm(assignees=assignees, task=task)
    searching = "search_related" in request.form
    # The task's own related record may stay even if I may not see it; another one I may not
    # see is refused as one that does not exist (422).
    if not searching and form.validate_on_submit():
        update_task(task, title=form.title.data, due_at=user_time_to_utc(form.due_at.data),
                    assignee=form.assignee,
                    customer_id=form.related_customer.id if form.related_customer else None,
                    opportunity=form.related_opportunity)
        db.session.commit()
        flash(_("The task was saved."), "success")
        return redirect(_back_url(form.next.data), 303)
    form.load_related()
    status = 422 if form.errors else 200
    return make_response(render_template(
        FORM, form=form, task=task,
        related_choices=_related_choices(form, form.related_q.data if searching else None)), status)


@bp.route("/<int:task_id>/toggle", methods=["POST"])
def toggle(task_id: int):
    """Tick a task off (or reopen it); the overdue count in the navigation follows."""
    task = _task_or_403(task_id)
    raw = request.form.get("done")
    done = raw.lower() in ("1", "true", "on", "y", "yes") if raw is not None else not task.done
    set_done(task, done)
    # Keep what is loaded (the task, the signed-in user) as saved: no reload after the commit.
    commit_keeping_loaded()
    if targets("task-panel"):
        # A task just done joins the page's timeline.
        timeline = ([oob_block(PANEL, "timeline_task_oob", timeline_oob=True, task=task)]
                    if task.done else [])
        return _panel_of_form(oob=timeline)
    if targets("task-sections"):
        return _with_badge(fragment(PAGE, "task_sections", **_context_of_calling_page()))
    if is_htmx():
        task_list = TaskList(utcnow(), task.assignee_id != current_user.id,
                             current_user._get_current_object())
        task_rows = get_template_attribute("tasks/_macros.html", "task_rows")
        return _with_badge(make_response(task_rows([task_list.row(task)], task_list).strip()))
    if done:
        flash(_("Done: %(title)s", title=task.title), "success")
    return redirect(_back_url(request.form.get("next")), 303)


@bp.route("/<int:task_id>/delete", methods=["POST"])
def delete(task_id: int):
    """Move a task to the trash (Undo brings it back)."""
    task = _task_or_403(task_id)
    result = trash(task, current_user)
    db.session.commit()
    if targets("task-panel"):
        return with_undo_toast(_panel_of_form(), result)
    if targets("task-sections"):
        return with_undo_toast(_with_badge(fragment(PAGE, "task_sections",
                                                    **_context_of_calling_page())), result)
    remember_undo(result)
    back = _back_url(request.form.get("next"))
    if back.startswith(url_for("tasks.update", task_id=task_id)):
        back = url_for("tasks.index")
    if is_htmx():
        return redirect_to(back)
    return redirect(back, 303)


@bp.route("/related")
def related_options():
    """Search-as-you-type choices for a task's related customer or opportunity; `?task=<id>`
    (the edit form's picker) keeps that task's own related record among them."""
    task_id = request.args.get("task", type=int)
    task = _task_or_403(task_id) if task_id is not None else None
    form = TaskForm(formdata=None, related=request.args.get("related", ""), task=task)
    form.related.raw_data = [form.related.data]
    form.load_related()
    return fragment(FORM, "related_options", related_choices=_related_choices(
        form, request.args.get("related_q", "")), form=form, picker_id=request.args.get("picker", "related"))


bp.add_app_template_global(can_edit_task, "can_edit_task")


@bp.app_template_global()
def task_panel_form(customer_id=None, opportunity_id=None, assignees=None, lead_id=None) -> TaskForm:
    """A fresh 'add task' form for the panel of a customer, opportunity or lead page;
    `assignees` (the active users, by name) when the page has read them already."""
    return _panel_ids(_new_form(assignees if assignees is not None else active_users(),
                                customer_id=customer_id or "", opportunity_id=opportunity_id or "",
                                lead_id=lead_id or ""))

