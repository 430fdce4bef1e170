"""/tags over HTTP: tag groups and tags, for admins and managers. Reads come from
crm.tags.queries, rules and writes from crm.tags.services.

Inline (htmx) edits answer with the fragment they replace; every action also works as a
plain form with a 303 back to /tags.
"""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from crm.extensions import db
from crm.l10n import join_list
from crm.htmx import fragment, is_htmx, redirect_to, targets
from crm.models import Tag, TagGroup
from crm.permissions import manager_required
from crm.tags import queries, services
from crm.tags.forms import ColorForm, GroupForm, MergeForm, TagForm
from crm.tags.services import TagRuleError

bp = Blueprint("tags", __name__, url_prefix="/tags")

INDEX = "tags/index.html"


def _page(**overrides) -> dict:
    """Everything the /tags page and its fragments need (queries.page_context) and its forms."""
    return {**queries.page_context(), "group_form": GroupForm(formdata=None), "tag_forms": {},
            "color_forms": {}, **overrides}


def _status(form) -> int:
    return 422 if form.errors else 200


@bp.route("")
@manager_required
def index():
    """Every group with its tags, the customers carrying each, and the forms to change them."""
    return render_template(INDEX, **_page())


# --- groups ----------------------------------------------------------------------------

@bp.route("/groups", methods=["POST"])
@manager_required
def create_group():
    """Add a group at the end of the list."""
    form = GroupForm()
    if form.validate_on_submit():
        group = services.create_group(name=form.name.data, multiple=form.multiple)
        db.session.commit()
        flash(_("The group %(name)s was created. Add its tags below.", name=group.name), "success")
        return redirect_to(url_for("tags.index", _anchor=f"group-{group.id}"))
    return render_template(INDEX, **_page(group_form=form)), 422


@bp.route("/groups/<int:group_id>")
@manager_required
def show_group(group_id: int):
    """A group's heading (the inline editor's Cancel); others go to the list."""
    group = db.get_or_404(TagGroup, group_id)
    if not is_htmx():
        return redirect(url_for("tags.index", _anchor=f"group-{group.id}"))
    return fragment(INDEX, "group_head", group=group, **_page())


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@manager_required
def update_group(group_id: int):
    """Rename a group or change whether it is single- or multiple-choice."""
    group = db.get_or_404(TagGroup, group_id)
    inline = targets(f"group-head-{group.id}")
    if request.method == "GET":
        form = GroupForm(obj=group, group_id=group.id)
        form.choice.data = "multiple" if group.multiple else "single"
    else:
        form = GroupForm(group_id=group.id)
        if form.validate_on_submit():
            try:
                services.update_group(group, name=form.name.data, multiple=form.multiple)
            except TagRuleError as error:
                getattr(form, error.field or "name").errors.append(str(error))
            else:
                db.session.commit()
                if inline:
                    return fragment(INDEX, "group_head", group=group, **_page())
                flash(_("The group %(name)s was saved.", name=group.name), "success")
                return redirect_to(url_for("tags.index", _anchor=f"group-{group.id}"))
    if inline:
        return fragment(INDEX, "group_edit", group=group, edit_group_form=form,
                        status=_status(form))
    return render_template("tags/group_form.html", group=group, form=form), _status(form)


@bp.route("/groups/<int:group_id>/move", methods=["POST"])
@manager_required
def move_group(group_id: int):
    """Move a group one place up or down in the list (and on customer pages)."""
    group = db.get_or_404(TagGroup, group_id)
    direction = request.form.get("direction", "")
    if direction not in ("up", "down"):
        abort(400)
    services.move_group(group, direction)
    db.session.commit()
    if targets("groups"):
        return fragment(INDEX, "groups", **_page())
    return redirect_to(url_for("tags.index", _anchor=f"group-{group.id}"))


@bp.route("/groups/<int:group_id>/delete", methods=["GET", "POST"])
@manager_required
def delete_group(group_id: int):
    """Confirm, then delete a group, its tags, and those tags on every customer."""
    group = db.get_or_404(TagGroup, group_id)
    if request.method == "POST":
        name = group.name
        affected = services.delete_group(group)
        db.session.commit()
        flash(ngettext("The group %(name)s was deleted; %(num)d customer lost its tag.",
                       "The group %(name)s was deleted; %(num)d customers lost their tags.",
                       affected, name=name), "success")
        return redirect_to(url_for("tags.index"))
    affected = queries.customers_in_group(group)
    return render_template("tags/confirm_delete.html", group=group, tag=None, affected=affected)


# --- tags ------------------------------------------------------------------------------

@bp.route("/groups/<int:group_id>/tags", methods=["POST"])
@manager_required
def create_tag(group_id: int):
    """Add a tag to a group; inline, the group's table comes back with a fresh form."""
    group = db.get_or_404(TagGroup, group_id)
    form = TagForm(group=group, prefix=f"g{group.id}")
    if form.validate_on_submit():
        tag = services.create_tag(group, name=form.name.data, color=form.color.data)
        db.session.commit()
        if targets(f"group-{group.id}"):
            return fragment(INDEX, "group", group=group, **_page())
        flash(_("The tag %(name)s was added to %(group)s.", name=tag.name, group=group.name),
              "success")
        return redirect_to(url_for("tags.index", _anchor=f"group-{group.id}"))
    context = _page(tag_forms={group.id: form})
    if targets(f"group-{group.id}"):
        return fragment(INDEX, "group", group=group, status=422, **context)
    return render_template(INDEX, **context), 422


@bp.route("/<int:tag_id>")
@manager_required
def show_tag(tag_id: int):
    """A tag's row (the inline editor's Cancel); others go to the list."""
    tag = db.get_or_404(Tag, tag_id)
    if not is_htmx():
        return redirect(url_for("tags.index", _anchor=f"group-{tag.group_id}"))
    return _row(tag)


def _row(tag: Tag, *, status: int = 200, color_form=None):
    return fragment(INDEX, "tag_row", tag=tag, counts=queries.tag_customer_counts([tag.id]),
                    color_forms={tag.id: color_form} if color_form else {}, status=status)


@bp.route("/<int:tag_id>/edit", methods=["GET", "POST"])
@manager_required
def update_tag(tag_id: int):
    """Rename and recolour a tag (inline in its row, or on its own page)."""
    tag = db.get_or_404(Tag, tag_id)
    inline = targets(f"tag-row-{tag.id}")
    form = TagForm(obj=tag if request.method == "GET" else None, group=tag.group, tag_id=tag.id)
    if request.method == "POST" and form.validate_on_submit():
        services.update_tag(tag, name=form.name.data, color=form.color.data)
        db.session.commit()
        if inline:
            return _row(tag)
        flash(_("The tag %(name)s was saved.", name=tag.name), "success")
        return redirect_to(url_for("tags.index", _anchor=f"group-{tag.group_id}"))
    if inline:
        return fragment(INDEX, "tag_edit", tag=tag, edit_form=form,
                        counts=queries.tag_customer_counts([tag.id]), status=_status(form))
    return render_template("tags/tag_form.html", tag=tag, form=form), _status(form)


@bp.route("/<int:tag_id>/color", methods=["POST"])
@manager_required
def recolor_tag(tag_id: int):
    """Change a tag's colour from its row; the row comes back in the new colour (refused: 422,
    the row, or without JavaScript the page, with the error beside the colour)."""
    tag = db.get_or_404(Tag, tag_id)
    form = ColorForm()
    if form.validate_on_submit():
        services.update_tag(tag, color=form.color.data)
        db.session.commit()
        if is_htmx():
            return _row(tag)
        flash(_("The colour of %(name)s was saved.", name=tag.name), "success")
        return redirect_to(url_for("tags.index", _anchor=f"group-{tag.group_id}"))
    if is_htmx():
        return _row(tag, status=422, color_form=form)
    # Without JavaScript: the whole page, the row with what was posted and the error beside it.
    return render_template(INDEX, **_page(color_forms={tag.id: form})), 422


@bp.route("/<int:tag_id>/merge", methods=["GET", "POST"])
@manager_required
def merge_tag(tag_id: int):
    """Merge this tag into another: its customers get the other tag, then it is deleted."""
    source = db.get_or_404(Tag, tag_id)
    if request.method == "POST":
        form = MergeForm()
    else:  # choosing a target only previews the merge: nothing to protect yet
        form = MergeForm(formdata=request.args, meta={"csrf": False})
    form.target_id.choices = queries.merge_choices(source)
    chosen = request.method == "POST" or form.target_id.data is not None
    preview = target = None
    if chosen and form.validate():
        target = db.session.get(Tag, form.target_id.data)
        preview = services.merge_preview(source, target)
        if request.method == "POST":
            result = services.merge_tags(source, target)
            db.session.commit()
            flash(merge_message(result, target.group), "success")
            return redirect_to(url_for("tags.index", _anchor=f"group-{target.group_id}"))
    elif request.method == "GET":
        form.target_id.errors = []  # the user has not chosen yet
    status = 422 if request.method == "POST" else 200
    context = dict(source=source, form=form, preview=preview, target=target,
                   source_count=queries.customers_with_tag(source))
    if targets("merge-preview"):
        return fragment("tags/merge.html", "merge_preview", status=status, **context)
    return render_template("tags/merge.html", **context), status


def merge_message(result: services.MergeResult, target_group: TagGroup) -> str:
    """What a merge did, in a sentence or two."""
    if result.already:
        text = ngettext(
            "%(source)s was merged into %(target)s: %(num)d customer carried it "
            "(%(already)d already had %(target)s).",
            "%(source)s was merged into %(target)s: %(num)d customers carried it "
            "(%(already)d already had %(target)s).",
            result.customers, source=result.source_name, target=result.target_name,
            already=result.already)
    else:
        text = ngettext(
            "%(source)s was merged into %(target)s: %(num)d customer carried it.",
            "%(source)s was merged into %(target)s: %(num)d customers carried it.",
            result.customers, source=result.source_name, target=result.target_name)
    if result.single_choice_dropped:
        text += " " + ngettext(
            "%(group)s allows one tag per customer, so %(num)d customer kept only %(target)s "
            "and lost %(dropped)s.",
            "%(group)s allows one tag per customer, so %(num)d customers kept only %(target)s "
            "and lost %(dropped)s.",
            result.single_choice_dropped, group=target_group.name, target=result.target_name,
            dropped=join_list(result.dropped_tag_names))
    return text


@bp.route("/<int:tag_id>/delete", methods=["GET", "POST"])
@manager_required
def delete_tag(tag_id: int):
    """Confirm (showing how many customers carry the tag), then delete it."""
    tag = db.get_or_404(Tag, tag_id)
    if request.method == "POST":
        name, group_id = tag.name, tag.group_id
        affected = services.delete_tag(tag)
        db.session.commit()
        flash(ngettext("The tag %(name)s was deleted and removed from %(num)d customer.",
                       "The tag %(name)s was deleted and removed from %(num)d customers.",
                       affected, name=name), "success")
        return redirect_to(url_for("tags.index", _anchor=f"group-{group_id}"))
    affected = queries.customers_with_tag(tag)
    if targets(f"tag-row-{tag.id}"):
        return fragment(INDEX, "tag_confirm", tag=tag, affected=affected)
    return render_template("tags/confirm_delete.html", tag=tag, group=None, affected=affected)
