"""The trash page (/trash): what was deleted, by whom, when, with what hung on it; restore,
and for admins purge. (The Undo offered right after a deletion: crm/responses.py.)"""
from urllib.parse import urlencode, urlparse

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from crm.extensions import db
from crm.htmx import block_for, fragment, is_htmx, push_url, redirect_to, render, targets
from crm.models import utcnow
from crm.fields.queries import days_left as field_days_left
from crm.fields.queries import trashed_fields
from crm.permissions import can_define_fields, can_purge, can_restore, can_see_batch, checked
from crm.responses import KIND_NAMES, UNDO, counts_phrase
from crm.trash.queries import KINDS, RETENTION_DAYS, batches, expired_count, get_batch
from crm.trash.services import TrashError, purge, purge_expired, restore
from crm.urls import local_path
from crm.validators import int_or_none

bp = Blueprint("trash", __name__, url_prefix="/trash")

PAGE = "trash/index.html"
CONFIRM = "trash/confirm.html"
# The trash page: the block an htmx request aiming at an element of the page gets.
PAGE_BLOCKS = {"trash-results": "results"}


def hangs_on(item) -> str:
    """'2 contacts, 5 notes, 1 task': what comes back with the record."""
    return counts_phrase(item.others)


def restored_message(kind: str, label: str, count: int) -> str:
    others = count - 1
    if kind == "customer":
        return ngettext("The customer %(name)s is back, with %(num)d record that hung on it.",
                        "The customer %(name)s is back, with %(num)d records that hung on it.",
                        others, name=label) if others else _("The customer %(name)s is back.", name=label)
    if kind == "opportunity":
        return ngettext("The opportunity %(name)s is back, with %(num)d note or task.",
                        "The opportunity %(name)s is back, with %(num)d notes and tasks.",
                        others, name=label) if others else _("The opportunity %(name)s is back.", name=label)
    if kind == "contact":
        return _("The contact %(name)s is back.", name=label)
    if kind == "task":
        return _("The task %(name)s is back.", name=label)
    if kind == "lead":
        return _("The lead %(name)s is back.", name=label)
    return _("The note is back.")


# --- The trash page ----------------------------------------------------------------------------

def _kind_arg() -> str:
    kind = (request.values.get("kind") or "").strip()
    return kind if kind in KINDS else ""


def _page_url(kind: str, page: int = 1) -> str:
    args = {}
    if kind:
        args["kind"] = kind
    if page > 1:
        args["page"] = page
    return url_for("trash.index") + (f"?{urlencode(args)}" if args else "")


def _context(kind: str, page: int, **extra) -> dict:
    pagination = batches(current_user, kind=kind or None, page=page)
    if pagination.page > pagination.pages:
        pagination = batches(current_user, kind=kind or None, page=pagination.pages)
    now = utcnow()
    return {
        "pagination": pagination,
        "items": pagination.items,
        "kind": kind,
        "kinds": [(k, KIND_NAMES[k]) for k in KINDS],
        "kind_names": KIND_NAMES,
        "now": now,
        "hangs_on": hangs_on,
        "can_restore": lambda item: can_restore(current_user, item) and not item.expired(now),
        "can_purge": can_purge(current_user),
        "expired": expired_count(now) if can_purge(current_user) else 0,
        "retention_days": RETENTION_DAYS,
        "page_url": lambda number: _page_url(kind, number),
        "back": _page_url(kind, pagination.page),
        # Custom fields in the trash (crm.fields), restored and purged by an admin.
        "deleted_fields": trashed_fields() if can_define_fields(current_user) else [],
        "fields_days_left": lambda field: field_days_left(field, now),
        **extra,
    }


@bp.route("")
def index():
    """Deleted records, newest first, with what hangs on them and the days left to restore."""
    kind = _kind_arg()
    page = request.args.get("page", 1, type=int) or 1
    context = _context(kind, page)
    block = block_for(PAGE_BLOCKS)
    response = render(PAGE, block, **context)
    if block:
        # The filtered list's own URL (the page it settled on) in the address bar.
        push_url(response, _page_url(kind, context["pagination"].page))
    return response


def _batch_or_404(batch: str):
    return checked(get_batch(batch), can_see_batch)


def _back_from_form() -> tuple[str, int]:
    """The kind filter and page of the trash page a form was sent from."""
    back = local_path(request.form.get("back")) or ""
    query = dict(pair.split("=", 1) for pair in urlparse(back).query.split("&") if "=" in pair)
    kind = query.get("kind", "")
    page = max(1, int_or_none(query.get("page")) or 1)
    return (kind if kind in KINDS else ""), page


def _answer(message: str, category: str, *, status: int = 200, next_url: str | None = None):
    """The trash page's results with a notice (htmx), or a flash and a redirect."""
    if targets("trash-results"):
        kind, page = _back_from_form()
        return fragment(PAGE, "results", status=status,
                        **_context(kind, page, notice=message, notice_kind=category))
    flash(message, category)
    return redirect_to(next_url or local_path(request.form.get("back")) or url_for("trash.index"))


@bp.route("/<batch>/restore", methods=["POST"])
def restore_batch(batch: str):
    """Bring back a record and everything deleted with it (Undo, or from the trash page)."""
    item = _batch_or_404(batch)
    if not can_restore(current_user, item):
        abort(403)
    next_url = local_path(request.form.get("next"))
    try:
        result = restore(batch, current_user)
    except TrashError as exc:
        db.session.rollback()
        return _answer(str(exc), "error", status=409, next_url=next_url)
    db.session.commit()
    return _answer(restored_message(result.kind, result.label, result.count), "success",
                   next_url=next_url)


@bp.route("/<batch>/purge", methods=["GET", "POST"])
def purge_batch(batch: str):
    """Delete a batch for good (admins): a confirmation page, then the deletion."""
    if not can_purge(current_user):
        abort(403)
    item = _batch_or_404(batch)
    if request.method == "GET":
        return render_template(CONFIRM, item=item, hangs_on=hangs_on, kind_names=KIND_NAMES,
                               back=local_path(request.args.get("back")) or url_for("trash.index"))
    label = item.label
    try:
        purge(batch, current_user)
    except TrashError as exc:
        db.session.rollback()
        return _answer(str(exc), "error", status=409)
    db.session.commit()
    return _answer(_("%(name)s was deleted for good.", name=label or KIND_NAMES[item.kind]),
                   "success")


@bp.route("/expired", methods=["GET", "POST"])
def empty_expired():
    """Delete for good everything deleted more than 30 days ago (admins; confirmed first)."""
    if not can_purge(current_user):
        abort(403)
    if request.method == "GET":
        return render_template(CONFIRM, item=None, expired=expired_count(),
                               retention_days=RETENTION_DAYS,
                               back=local_path(request.args.get("back")) or url_for("trash.index"))
    count, _rows = purge_expired(user=current_user)
    db.session.commit()
    return _answer(ngettext("%(num)d expired batch was deleted for good.",
                            "%(num)d expired batches were deleted for good.", count), "success")


@bp.route("/toast")
def dismiss_toast():
    """The empty toast, swapped in when the Undo notice is dismissed."""
    if not is_htmx():
        return redirect(url_for("trash.index"))
    return render_template(UNDO, toast=True, dismissed=True)
