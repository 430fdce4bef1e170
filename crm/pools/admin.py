"""/admin/pools over HTTP (admins): the pools with what each holds, a pool's form (members,
caps, daily limit, cool-down, masking, the three reclaim rules with days per level,
exemptions, warning days), moving a pool's records, a user's own caps, and the customer
levels (客户级别: rename, add, reorder, delete when unused). Same rules as crm.pools.services."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from crm.extensions import db
from crm.l10n import current_locale
from crm.models import Customer, CustomerLevel, Lead, Pool, User
from crm.permissions import can_manage_pools
from crm.pools import queries, services
from crm.pools.forms import (LevelForm, MoveForm, UserLimitForm, level_days, pool_form,
                             pool_values, role_caps)
from crm.rules import RuleError, apply_rule_error

bp = Blueprint("pool_admin", __name__, url_prefix="/admin")

LIST = "pools/admin.html"
FORM = "pools/form.html"


@bp.before_request
def _admins_only():
    if not can_manage_pools(current_user):
        abort(403)


def _held_counts() -> dict[int, int]:
    """Unowned records per pool: one grouped count per kind (those without a pool_id count
    towards the kind's first enabled pool)."""
    counts: dict[int, int] = {}
    for kind, model in services.MODELS.items():
        default_id = services.default_pool_id(kind)
        key = func.coalesce(model.pool_id, default_id) if default_id else model.pool_id
        where = [model.owner_id.is_(None), model.deleted_at.is_(None)]
        if model is Lead:
            where.append(Lead.status.notin_(("converted", "disqualified")))
        for pool_id, count in db.session.execute(select(key, func.count()).where(*where).group_by(key)):
            if pool_id is not None:
                counts[pool_id] = counts.get(pool_id, 0) + count
    return counts


def _level_uses() -> dict[int, int]:
    uses: dict[int, int] = {}
    for model in (Customer, Lead):
        for level_id, count in db.session.execute(
                select(model.level_id, func.count()).where(model.level_id.is_not(None),
                                                           model.deleted_at.is_(None))
                .group_by(model.level_id)):
            uses[level_id] = uses.get(level_id, 0) + count
    return uses


def _list(status: int = 200, **extra):
    pools = queries.all_pools()
    return render_template(LIST, pools=pools, held=_held_counts(), levels=queries.levels(),
                           level_uses=_level_uses(), level_form=extra.pop("level_form", None) or LevelForm(formdata=None),
                           **extra), status


@bp.route("/pools")
def pools():
    return _list()


def _users() -> list[User]:
    return list(db.session.execute(select(User).where(User.active.is_(True)).order_by(User.name)).scalars())


def _form_page(pool, form, status=200, limit_form=None, **extra):
    others = [p for p in queries.all_pools() if pool is not None and p.kind == pool.kind
              and p.id != pool.id and p.enabled]
    move_form = MoveForm(formdata=None)
    move_form.target_id.choices = [(p.id, p.name_in(current_locale())) for p in others]
    if limit_form is None:
        limit_form = UserLimitForm(formdata=None)
        limit_form.user_id.choices = [(u.id, u.name) for u in _users()]
    held = services.held_count(pool) if pool is not None else 0
    return render_template(FORM, pool=pool, form=form, move_form=move_form, limit_form=limit_form,
                           held=held, others=others, **extra), status


@bp.route("/pools/new", methods=["GET", "POST"])
def create():
    return _save(None)


@bp.route("/pools/<int:pool_id>", methods=["GET", "POST"])
def update(pool_id: int):
    return _save(db.get_or_404(Pool, pool_id))


def _save(pool):
    levels, users = queries.levels(), _users()
    form = pool_form(levels, users, obj=pool, formdata=request.form if request.method == "POST" else None)
    if request.method == "POST":
        if form.validate():
            chosen = set(form.member_users.data or [])
            try:
                saved = services.save_pool(
                    pool, pool_values(form), member_users=[u for u in users if u.id in chosen],
                    member_roles=list(form.member_roles.data or []), role_caps=role_caps(form),
                    level_days=level_days(form))
            except RuleError as error:
                db.session.rollback()
                apply_rule_error(form, error)
            else:
                db.session.commit()
                flash(_("Pool %(name)s was saved.", name=saved.name_in(current_locale())), "success")
                return redirect(url_for("pool_admin.update", pool_id=saved.id), 303)
        return _form_page(pool, form, 422)
    return _form_page(pool, form)


@bp.route("/pools/<int:pool_id>/delete", methods=["POST"])
def delete(pool_id: int):
    pool = db.get_or_404(Pool, pool_id)
    try:
        services.delete_pool(pool)
    except RuleError as error:
        db.session.rollback()
        return _list(422, error=str(error), error_pool_id=pool_id)
    db.session.commit()
    flash(_("The pool was deleted."), "success")
    return redirect(url_for("pool_admin.pools"), 303)


@bp.route("/pools/<int:pool_id>/move", methods=["POST"])
def move(pool_id: int):
    """Move what a pool holds to another pool of its kind (before disabling or deleting it)."""
    pool = db.get_or_404(Pool, pool_id)
    form = MoveForm()
    target = db.session.get(Pool, form.target_id.data or -1) if form.validate() else None
    try:
        if target is None:
            raise RuleError(_("Choose another enabled pool of the same kind."), field="target_id")
        count = services.move_records(pool, target)
    except RuleError as error:
        db.session.rollback()
        levels, users = queries.levels(), _users()
        return _form_page(pool, pool_form(levels, users, obj=pool), 422, move_error=str(error))
    db.session.commit()
    flash(_("%(count)d records moved.", count=count), "success")
    return redirect(url_for("pool_admin.update", pool_id=pool.id), 303)


@bp.route("/pools/<int:pool_id>/limits", methods=["POST"])
def user_limit(pool_id: int):
    """A user's own caps in the pool (over their role's and the pool's)."""
    pool = db.get_or_404(Pool, pool_id)
    form = UserLimitForm()
    form.user_id.choices = [(u.id, u.name) for u in _users()]
    user = db.session.get(User, form.user_id.data or -1) if form.user_id.data else None
    if form.validate() and user is not None:
        try:
            services.set_user_limit(pool, user, form.own_cap.data, form.lock_cap.data)
        except RuleError as error:
            db.session.rollback()
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Caps of %(name)s saved.", name=user.name), "success")
            return redirect(url_for("pool_admin.update", pool_id=pool.id), 303)
    elif user is None:
        form.user_id.errors = [_("Choose a user.")]
    return _form_page(pool, pool_form(queries.levels(), _users(), obj=pool), 422, limit_form=form)


# --- customer levels ------------------------------------------------------------------------------

@bp.route("/levels", methods=["POST"])
def add_level():
    form = LevelForm()
    if form.validate():
        services.save_level(None, form.name.data)
        db.session.commit()
        return redirect(url_for("pool_admin.pools") + "#levels", 303)
    return _list(422, level_form=form)


@bp.route("/levels/<int:level_id>", methods=["POST"])
def rename_level(level_id: int):
    level = db.get_or_404(CustomerLevel, level_id)
    try:
        services.save_level(level, request.form.get("name", ""))
    except RuleError as error:
        db.session.rollback()
        return _list(422, level_error=str(error), level_error_id=level_id)
    db.session.commit()
    return redirect(url_for("pool_admin.pools") + "#levels", 303)


@bp.route("/levels/<int:level_id>/delete", methods=["POST"])
def delete_level(level_id: int):
    level = db.get_or_404(CustomerLevel, level_id)
    try:
        services.delete_level(level)
    except RuleError as error:
        db.session.rollback()
        return _list(422, level_error=str(error), level_error_id=level_id)
    db.session.commit()
    return redirect(url_for("pool_admin.pools") + "#levels", 303)


@bp.route("/levels/<int:level_id>/move", methods=["POST"])
def move_level(level_id: int):
    level = db.get_or_404(CustomerLevel, level_id)
    services.move_level(level, -1 if request.form.get("direction") == "up" else 1)
    db.session.commit()
    return redirect(url_for("pool_admin.pools") + "#levels", 303)
