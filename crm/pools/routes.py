"""The public pool (公海) over HTTP: /pool (members list and claim records; "returning to the
pool soon"), a record's pool page (history and notes, contact details masked), claim,
release, transfer (one or many), lock and unlock, the pool panel of the customer and lead
pages; /admin/pools (pools, their rules and limits, customer levels). Reads come from
crm.pools.queries, rules and writes from crm.pools.services."""
from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.extensions import db
from crm.htmx import is_htmx, redirect_to, render, targets, fragment
from crm.models import Customer, Lead, User
from crm.permissions import (can_edit_customer, can_edit_lead, can_lock, can_release,
                             can_see_customer, can_see_lead, can_see_pool_record, can_transfer,
                             can_use_pool)
from crm.pools import queries, services
from crm.pools.forms import ReleaseForm, TransferForm
from crm.rules import RuleError
from crm.tasks.queries import day_bounds
from crm.validators import int_or_none

bp = Blueprint("pools", __name__)

LIST = "pools/index.html"
NAV_SOON = "pools/_nav_soon.html"
RECORD = "pools/record.html"
PANEL = "pools/_panel.html"
LIST_ERROR = "pools/taken.html"
KINDS = {"customer": Customer, "lead": Lead}
PAGES = {"customer": ("customers.show", "customer_id"), "lead": ("leads.show", "lead_id")}


def _kind_or_404(kind: str):
    if kind not in KINDS:
        abort(404)
    return KINDS[kind]


def _can_see(record) -> bool:
    if isinstance(record, Customer):
        return can_see_customer(current_user, record)
    return can_see_lead(current_user, record)


def _can_edit(record) -> bool:
    if isinstance(record, Customer):
        return can_edit_customer(current_user, record)
    return can_edit_lead(current_user, record)


def _record_or_404(kind: str, record_id: int):
    """The record, if the user may see it on its own page or as a member of its pool."""
    _kind_or_404(kind)
    record = queries.pool_record(kind, record_id)
    if record is None:
        abort(404)
    if _can_see(record):
        return record
    if can_see_pool_record(current_user, record, services.pool_of(record)):
        return record
    abort(404)


def _page_url(kind: str, record_id: int) -> str:
    endpoint, arg = PAGES[kind]
    return url_for(endpoint, **{arg: record_id})


def _back(kind: str, record) -> str:
    """Where to go after an action on a record: its page if the user may see it, else /pool."""
    if _can_see(record):
        return _page_url(kind, record.id)
    return url_for("pools.index", kind=kind)


# --- the pool list ----------------------------------------------------------------------------

@bp.route("/pool")
def index():
    """The pools I am a member of, customers and leads in tabs; "returning soon" too."""
    kind = request.args.get("kind", "customer")
    tab = request.args.get("tab", "")
    if kind not in KINDS:
        kind = "customer"
    pool = queries.pool_for_page(int_or_none(request.args.get("pool")), kind, current_user)
    q = (request.args.get("q") or "").strip()[:100]
    page = max(int_or_none(request.args.get("page")) or 1, 1)
    context = {"kind": kind, "tab": tab, "pool": pool, "q": q,
               "pools": queries.member_pools(current_user, kind)}
    if tab == "soon":
        context["soon"] = queries.soon_rows(current_user, everyone=current_user.is_manager
                                            and request.args.get("everyone") == "1")
    elif pool is not None:
        context["listing"] = queries.pool_page(current_user, pool, q, page)
    if targets("pool-results"):
        return fragment(LIST, "results", **context)
    return render(LIST, **context)


@bp.route("/pool/soon-count")
def soon_badge():
    """The "returning soon" tab's badge, which /pool loads after the list (htmx): counting
    costs the rules' anti-joins over the user's records, which the list need not wait for.
    place=nav: the navigation's link to that tab, which every page loads the same way."""
    if request.args.get("place") == "nav":
        return fragment(NAV_SOON, "nav_soon", soon_count=queries.soon_count(current_user))
    return fragment(LIST, "soon_badge", soon_count=queries.soon_count(current_user))


def _record_context(kind: str, record, **extra) -> dict:
    pool = services.pool_of(record)
    mask = bool(pool and pool.mask_contacts and record.owner_id is None and not current_user.is_manager)
    phone = record.phone if kind == "customer" else (record.phone or record.mobile)
    return {"kind": kind, "record": record, "pool": pool, "mask": mask,
            "phone": queries.mask_phone(phone) if mask else phone,
            "email": queries.mask_email(record.email) if mask else record.email,
            "history": queries.owner_history(kind, record.id),
            "notes": queries.record_notes(kind, record.id),
            "may_claim": record.owner_id is None and can_use_pool(current_user, pool),
            "may_transfer": can_transfer(current_user),
            "users": queries.transfer_candidates() if can_transfer(current_user) else [],
            "page_url": _page_url(kind, record.id) if _can_see(record) else None,
            "transfer_form": TransferForm(formdata=None), **extra}


@bp.route("/pool/<kind>/<int:record_id>")
def record(kind: str, record_id: int):
    """A record in the pool as its members see it: who had it, its notes, masked contacts."""
    found = _record_or_404(kind, record_id)
    return render(RECORD, **_record_context(kind, found))


# --- claim, release, transfer, lock ---------------------------------------------------------------

@bp.route("/pool/<kind>/<int:record_id>/claim", methods=["POST"])
def claim(kind: str, record_id: int):
    """领取: race-safe; a refusal says why (who has it, which limit) and changes nothing. A
    member who arrives a moment after someone else claimed it (it is no longer in the pool,
    nor theirs to see) is told who has it (409), not that it does not exist."""
    _kind_or_404(kind)
    taken = queries.pool_record(kind, record_id)
    if (taken is not None and taken.owner_id is not None and not _can_see(taken)
            and can_use_pool(current_user, services.pool_of(taken))):
        error = services.ClaimTaken(taken.owner.name if taken.owner else "?")
        return render(LIST_ERROR, status=409, error=str(error), kind=kind)
    found = _record_or_404(kind, record_id)
    start, _end = day_bounds()
    try:
        services.claim(current_user, found, day_start=start)
    except services.ClaimTaken as error:
        db.session.rollback()
        return _refused(kind, record_id, error, 409)
    except RuleError as error:
        db.session.rollback()
        return _refused(kind, record_id, error, 422)
    db.session.commit()
    flash(_("%(name)s is yours now.", name=found.name), "success")
    return redirect_to(_page_url(kind, found.id))


def _refused(kind: str, record_id: int, error, status: int):
    found = _record_or_404(kind, record_id)
    if request.form.get("from") == "panel":
        return _panel(kind, found, error=str(error), status=status)
    return render(RECORD, status=status, **_record_context(kind, found, error=str(error)))


@bp.route("/pool/<kind>/<int:record_id>/release", methods=["POST"])
def release(kind: str, record_id: int):
    """The owner puts the record back in its pool, with a reason."""
    found = _record_or_404(kind, record_id)
    if not can_release(current_user, found):
        abort(403)
    form = ReleaseForm()
    if not form.validate():
        return _panel(kind, found, release_form=form, status=422)
    try:
        services.release(current_user, found, form.reason.data)
    except RuleError as error:
        db.session.rollback()
        return _panel(kind, found, error=str(error), status=422)
    db.session.commit()
    flash(_("%(name)s is back in the pool.", name=found.name), "success")
    return redirect_to(url_for("pools.index", kind=kind))


@bp.route("/pool/<kind>/<int:record_id>/transfer", methods=["POST"])
def transfer(kind: str, record_id: int):
    """转移 one record (from the pool: assign it) to another owner, with an optional note."""
    found = _record_or_404(kind, record_id)
    if not can_transfer(current_user):
        abort(403)
    to_user = db.session.get(User, int_or_none(request.form.get("owner_id")) or -1)
    try:
        services.transfer(current_user, [found], to_user, request.form.get("note"))
    except RuleError as error:
        db.session.rollback()
        if request.form.get("from") == "pool":
            return render(RECORD, status=422, **_record_context(kind, found, error=str(error)))
        return _panel(kind, found, error=str(error), status=422)
    db.session.commit()
    flash(_("%(name)s now belongs to %(owner)s.", name=found.name, owner=to_user.name), "success")
    return redirect_to(_page_url(kind, found.id))


@bp.route("/pool/transfer", methods=["POST"])
def transfer_many():
    """转移 many: the selected customers or leads of a list to another owner (managers)."""
    if not can_transfer(current_user):
        abort(403)
    kind = request.form.get("kind", "customer")
    _kind_or_404(kind)
    field = "customer_id" if kind == "customer" else "lead_id"
    ids = [i for i in map(int_or_none, request.form.getlist(field)) if i is not None][:1000]
    back = url_for("customers.index") if kind == "customer" else url_for("leads.index")
    records = queries.visible_records(current_user, kind, ids) if ids else []
    to_user = db.session.get(User, int_or_none(request.form.get("transfer_owner_id")) or -1)
    try:
        if not records:
            raise RuleError(_("Select at least one record."))
        count = services.transfer(current_user, records, to_user, request.form.get("transfer_note"))
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect_to(back)
    db.session.commit()
    flash(_("%(count)d transferred to %(owner)s.", count=count, owner=to_user.name), "success")
    return redirect_to(back)


@bp.route("/pool/customer/<int:record_id>/lock", methods=["POST"])
def lock(record_id: int):
    """锁定: no rule returns the customer while locked (up to the lock cap)."""
    found = _record_or_404("customer", record_id)
    if not can_lock(current_user, found):
        abort(403)
    try:
        services.lock(current_user, found)
    except RuleError as error:
        db.session.rollback()
        return _panel("customer", found, error=str(error), status=422)
    db.session.commit()
    return _panel("customer", found, notice=_("Locked: no rule returns it to the pool."))


@bp.route("/pool/customer/<int:record_id>/unlock", methods=["POST"])
def unlock(record_id: int):
    found = _record_or_404("customer", record_id)
    if not (can_lock(current_user, found) or current_user.is_manager):
        abort(403)
    try:
        services.unlock(current_user, found)
    except RuleError as error:
        db.session.rollback()
        return _panel("customer", found, error=str(error), status=422)
    db.session.commit()
    return _panel("customer", found, notice=_("Unlocked."))


@bp.route("/pool/<kind>/<int:record_id>/level", methods=["POST"])
def set_level(kind: str, record_id: int):
    """A customer's or lead's level (客户级别)."""
    found = _record_or_404(kind, record_id)
    if not _can_edit(found):
        abort(403)
    level_id = int_or_none(request.form.get("level_id"))
    try:
        services.set_level(found, level_id)
    except RuleError as error:
        db.session.rollback()
        return _panel(kind, found, error=str(error), status=422)
    db.session.commit()
    return _panel(kind, found, notice=_("Level saved."))


# --- the panel on the customer and lead pages -------------------------------------------------------

@bp.route("/pool/<kind>/<int:record_id>/panel")
def panel(kind: str, record_id: int):
    """The pool panel of a record page, loaded by the page (htmx) or opened on its own."""
    found = _record_or_404(kind, record_id)
    if not _can_see(found):
        abort(404)
    return _panel(kind, found)


def _panel(kind: str, record, *, status: int = 200, error=None, notice=None, release_form=None):
    if not _can_see(record):
        # A member acting on a pool record they may not see on its own page.
        return render(RECORD, status=status, **_record_context(kind, record, error=error))
    context = queries.record_panel(current_user, record)
    context.update(error=error, notice=notice, can_edit=_can_edit(record),
                   release_form=release_form or ReleaseForm(formdata=None),
                   page_url=_page_url(kind, record.id))
    if is_htmx():
        return fragment(PANEL, "panel", status=status, **context)
    return render(PANEL, status=status, **context)


# --- names the templates show ----------------------------------------------------------------------

def rule_names() -> dict:
    return {"no_followup": _("no follow-up"), "no_open_opportunity": _("no open opportunity"),
            "not_won": _("not won")}


def how_names() -> dict:
    return {"assigned": _("assigned"), "claimed": _("claimed"), "transferred": _("transferred"),
            "returned": _("returned to the pool"), "released": _("released")}


bp.add_app_template_global(how_names, "pool_how_names")
bp.add_app_template_global(rule_names, "pool_rule_names")
