"""Responses that several areas give, kept out of any one area's routes: a record's page again
(a panel's form refused without JavaScript), the notice with Undo after a move to the trash
(on the next page, as an out-of-band toast, or standing where the deleted item was) and the
"Move this to the trash?" page for browsers without JavaScript."""
from flask import render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from crm.htmx import add_oob, current_url
from crm.l10n import join_list
from crm.trash.queries import KINDS, RETENTION_DAYS, kind_of, label_of, preview
from crm.urls import local_path

UNDO = "trash/_undo.html"
UNDO_KEY = "trash_undo"

KIND_NAMES = {"customer": _l("Customer"), "contact": _l("Contact"),
              "opportunity": _l("Opportunity"), "note": _l("Note"), "task": _l("Task"),
              "lead": _l("Lead")}


def count_phrase(kind: str, num: int) -> str:
    """'3 notes', in the user's language."""
    phrases = {
        "customer": ngettext("%(num)d customer", "%(num)d customers", num),
        "contact": ngettext("%(num)d contact", "%(num)d contacts", num),
        "opportunity": ngettext("%(num)d opportunity", "%(num)d opportunities", num),
        "note": ngettext("%(num)d note", "%(num)d notes", num),
        "task": ngettext("%(num)d task", "%(num)d tasks", num),
    }
    return phrases[kind]


def counts_phrase(counts: dict[str, int]) -> str:
    """'2 contacts, 5 notes, 1 task': records by kind, in the trash's order of kinds."""
    return join_list(count_phrase(kind, num) for kind, num in
                     sorted(counts.items(), key=lambda pair: KINDS.index(pair[0])))


def moved_message(kind: str, label: str) -> str:
    if kind == "customer":
        return _("The customer %(name)s was moved to the trash.", name=label)
    if kind == "contact":
        return _("The contact %(name)s was moved to the trash.", name=label)
    if kind == "opportunity":
        return _("The opportunity %(name)s was moved to the trash.", name=label)
    if kind == "task":
        return _("The task %(name)s was moved to the trash.", name=label)
    return _("The note was moved to the trash.")


# --- A record's page, from another area -------------------------------------------------------

_RECORD_PAGES: dict = {}


def register_record_page(kind: str, show_page) -> None:
    """`show_page(record_id, *, status, **extra)` renders the whole page of a `kind` record
    after its permission check, `extra` replacing parts of its context (create_app wires the
    customers' and the opportunities')."""
    _RECORD_PAGES[kind] = show_page


def record_page(kind: str, record_id: int, *, status: int = 200, **extra):
    """The whole page of a customer or an opportunity, e.g. 422 with a refused note form in it."""
    return _RECORD_PAGES[kind](record_id, status=status, **extra)


# --- Undo after a move to the trash ---------------------------------------------------------

def _next_url(next_url: str | None) -> str:
    return local_path(next_url) or local_path(current_url()) or url_for("trash.index")


def remember_undo(result) -> None:
    """After a deletion that ends on another page: that page shows the notice with Undo."""
    session[UNDO_KEY] = {"batch": result.batch, "kind": result.kind, "label": result.label[:120],
                         "user": current_user.get_id()}


def pending_undo() -> dict | None:
    """The Undo notice of a deletion just made, shown once by the layout (a Jinja global)."""
    undo = session.pop(UNDO_KEY, None)
    if not undo or undo.get("user") != current_user.get_id():
        return None
    return {"batch": undo.get("batch"), "message": moved_message(undo.get("kind"), undo.get("label", ""))}


def undo_toast(result, next_url: str | None = None) -> str:
    """The notice with Undo as an out-of-band toast, to add to an htmx response."""
    return render_template(UNDO, toast=True, batch=result.batch,
                           message=moved_message(result.kind, result.label),
                           next_url=_next_url(next_url))


def undo_placeholder(result, element_id: str, next_url: str | None = None) -> str:
    """A line with Undo standing where the deleted item was (an htmx outerHTML swap)."""
    return render_template(UNDO, placeholder=True, element_id=element_id, batch=result.batch,
                           message=moved_message(result.kind, result.label),
                           next_url=_next_url(next_url))


def with_undo_toast(response, result, next_url: str | None = None):
    """`response` with the Undo toast out of band."""
    return add_oob(response, undo_toast(result, next_url))


def confirm_move(obj, *, back: str, action: str):
    """The page asking "Move this to the trash?" (for browsers without JavaScript)."""
    return render_template("trash/confirm_move.html", kind=kind_of(obj), label=label_of(obj),
                           kind_names=KIND_NAMES, others=counts_phrase(preview(obj)),
                           back=local_path(back) or "/", action=action,
                           retention_days=RETENTION_DAYS)


def init_responses(app) -> None:
    """The layout's Undo notice reads pending_undo()."""
    app.jinja_env.globals["pending_undo"] = pending_undo
