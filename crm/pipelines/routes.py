"""Admin pages for pipelines, stages and lost reasons; htmx fragments with plain-form fallbacks.

Every view is admin-only, fragments included. A view answers an htmx request aimed at one of
its fragments (HX-Target) with that fragment, and anyone else with the whole page. A change
refused without JavaScript (a plain form POST) is its page again, 422, with what was posted
and the reason beside the button or form it concerns; nothing is saved.
"""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from crm.extensions import db
from crm.htmx import fragment, is_htmx, redirect_to, render, retarget, targets, trigger
from crm.models import LostReason, Pipeline, Stage
from crm.permissions import admin_required
from crm.pipelines import queries, services
from crm.pipelines.forms import (
    LostReasonForm,
    NewPipelineForm,
    PipelineForm,
    RemoveStageForm,
    StageForm,
)
from crm.rules import RuleError, apply_rule_error

bp = Blueprint("pipelines", __name__, url_prefix="/admin/pipelines")

PIPELINES = "pipelines/index.html"
STAGES = "pipelines/pipeline.html"
REASONS = "pipelines/lost_reasons.html"


# --- Pipelines -----------------------------------------------------------------------------

def _index_page(new_form: NewPipelineForm | None = None, status: int = 200,
                delete_errors: dict[int, str] | None = None):
    """The pipelines page; `delete_errors` (pipeline id -> why it was not deleted) shows a
    refused Delete in its row."""
    pipelines = queries.ordered_pipelines()
    stage_counts, opportunity_counts = queries.pipeline_counts()
    new_form = new_form or NewPipelineForm(formdata=None, pipelines=pipelines)
    return render(PIPELINES, "pipeline_list" if targets("pipeline-list") else None, status=status,
                  pipelines=pipelines, stage_counts=stage_counts,
                  opportunity_counts=opportunity_counts, new_form=new_form,
                  delete_errors=delete_errors or {})


@bp.route("")
@admin_required
def index():
    """The pipelines, in order, with their stage and opportunity counts."""
    return _index_page()


@bp.route("", methods=["POST"])
@admin_required
def create():
    """Add a pipeline, starting from three basic stages or a copy of another's."""
    pipelines = queries.ordered_pipelines()
    form = NewPipelineForm(pipelines=pipelines)
    if form.validate_on_submit():
        source = None
        if form.start_from.data != "basic":
            source = next((p for p in pipelines if str(p.id) == form.start_from.data), None)
        try:
            pipeline = services.create_pipeline(form.name.data, copy_from=source)
        except RuleError as error:
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Pipeline %(name)s was created.", name=pipeline.display_name), "success")
            return redirect_to(url_for("pipelines.show", pipeline_id=pipeline.id))
    return _index_page(form, status=422)


@bp.route("/<int:pipeline_id>/move", methods=["POST"])
@admin_required
def move(pipeline_id: int):
    """Move a pipeline one place up or down."""
    pipeline = db.get_or_404(Pipeline, pipeline_id)
    try:
        services.move_pipeline(pipeline, request.form.get("direction", ""))
    except RuleError as error:
        abort(400, error.message)
    db.session.commit()
    if targets("pipeline-list"):
        return _index_page()
    return redirect_to(url_for("pipelines.index"))


@bp.route("/<int:pipeline_id>/delete", methods=["POST"])
@admin_required
def delete(pipeline_id: int):
    """Delete an empty pipeline; one that holds opportunities is kept, with the reason why
    (htmx: flashed on the list it is sent to; without JavaScript: 422, the list with the reason
    beside that pipeline's Delete)."""
    pipeline = db.get_or_404(Pipeline, pipeline_id)
    name = pipeline.display_name
    try:
        services.delete_pipeline(pipeline)
    except RuleError as error:
        db.session.rollback()
        if not is_htmx():
            return _index_page(status=422, delete_errors={pipeline_id: error.message})
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Pipeline %(name)s was deleted.", name=name), "success")
    return redirect_to(url_for("pipelines.index"))


# --- One pipeline's stages -----------------------------------------------------------------

def _stage_form_data(stage: Stage) -> dict:
    return {"name": stage.display_name, "probability": stage.probability, "kind": stage.kind,
            "color": stage.color, "rotting_days": stage.rotting_days, "playbook": stage.playbook or ""}


def _stages_context(pipeline: Pipeline, **extra) -> dict:
    """What the pipeline page and its fragments need; `order_error` (with `stages` in the
    order that was posted) when a reorder was refused without JavaScript."""
    context = {
        "pipeline": pipeline,
        "stages": list(pipeline.stages),
        "counts": queries.stage_opportunity_counts(pipeline.id),
        "editing_id": None,
        "removing_id": None,
        "edit_form": None,
        "remove_form": None,
        "remove_blocked": None,
        "order_error": None,
        "add_form": StageForm(formdata=None, pipeline=pipeline, prefix="new"),
        "rename_form": PipelineForm(formdata=None, pipeline=pipeline, prefix="pipeline",
                                    data={"name": pipeline.display_name}),
    }
    context.update(extra)
    return context


def _stages_page(pipeline: Pipeline, block: str | None = None, status: int = 200, **extra):
    """The pipeline page, or for an htmx caller only `block`."""
    context = _stages_context(pipeline, **extra)
    block = block if block and targets(*_block_targets(block, context)) else None
    return render(STAGES, block, status=status, **context)


def _block_targets(block: str, context: dict) -> tuple[str, ...]:
    if block == "stage_item":
        return (f"stage-{context['stage'].id}",)
    return {"stage_list": ("stage-list",), "add_form": ("stage-add", "stage-list"),
            "rename_form": ("pipeline-rename",)}.get(block, ())


@bp.route("/<int:pipeline_id>")
@admin_required
def show(pipeline_id: int):
    """A pipeline's stages in order, to add, edit, reorder and remove."""
    pipeline = db.get_or_404(Pipeline, pipeline_id)
    return _stages_page(pipeline, "stage_list")


@bp.route("/<int:pipeline_id>/rename", methods=["POST"])
@admin_required
def rename(pipeline_id: int):
    """Rename a pipeline (names are unique)."""
    pipeline = db.get_or_404(Pipeline, pipeline_id)
    form = PipelineForm(pipeline=pipeline, prefix="pipeline")
    if form.validate_on_submit():
        try:
            services.rename_pipeline(pipeline, form.name.data)
        except RuleError as error:
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("The pipeline is now called %(name)s.", name=pipeline.display_name), "success")
            return redirect_to(url_for("pipelines.show", pipeline_id=pipeline.id))
    return _stages_page(pipeline, "rename_form", status=422, rename_form=form)


@bp.route("/<int:pipeline_id>/stages", methods=["POST"])
@admin_required
def create_stage(pipeline_id: int):
    """Add a stage; htmx gets the new list and a fresh form, others a redirect."""
    pipeline = db.get_or_404(Pipeline, pipeline_id)
    form = StageForm(pipeline=pipeline, prefix="new")
    if form.validate_on_submit():
        try:
            stage = services.add_stage(pipeline, **form.values())
        except RuleError as error:
            apply_rule_error(form, error)
        else:
            db.session.commit()
            message = _("Stage %(name)s was added.", name=stage.display_name)
            if targets("stage-list", "stage-add"):
                context = _stages_context(pipeline, oob=True)
                response = fragment(STAGES, "stage_list", "add_form", **context)
                return trigger(response, {"crm:toast": message})
            flash(message, "success")
            return redirect(url_for("pipelines.show", pipeline_id=pipeline.id) + f"#stage-{stage.id}", 303)
    if targets("stage-list", "stage-add"):
        response = fragment(STAGES, "add_form", status=422, **_stages_context(pipeline, add_form=form))
        return retarget(response, "#stage-add")
    return render(STAGES, status=422, **_stages_context(pipeline, add_form=form, add_open=True))


@bp.route("/<int:pipeline_id>/stages/order", methods=["POST"])
@admin_required
def reorder_stages(pipeline_id: int):
    """Save the order of the stages after a drag: the form field stage_id, repeated, in order."""
    pipeline = db.get_or_404(Pipeline, pipeline_id)
    try:
        services.reorder_stages(pipeline, request.form.getlist("stage_id"))
    except RuleError as error:
        db.session.rollback()
        db.session.refresh(pipeline)
        if targets("stage-list"):
            response = fragment(STAGES, "stage_list", status=409, **_stages_context(pipeline))
            return trigger(response, {"crm:toast": error.message})
        if is_htmx():
            flash(error.message, "error")
            return redirect_to(url_for("pipelines.show", pipeline_id=pipeline.id))
        # Without JavaScript: the page, 422, the stages in the order that was posted (as far
        # as it can be followed) in a form to save it again, the reason at its top.
        order = submitted_order(list(pipeline.stages), request.form.getlist("stage_id"))
        return _stages_page(pipeline, status=422, stages=order, order_error=error.message)
    db.session.commit()
    if targets("stage-list"):
        return fragment(STAGES, "stage_list", **_stages_context(pipeline))
    return redirect_to(url_for("pipelines.show", pipeline_id=pipeline.id))


def submitted_order(stages: list[Stage], posted: list[str]) -> list[Stage]:
    """The stages in a posted order, as far as it can be followed: the posted stages that
    still exist (each once) take, among themselves, the order they were posted in; any other
    keeps its place. Ids that are not stages of the pipeline are left out."""
    by_id = {str(stage.id): stage for stage in stages}
    wanted: list[Stage] = []
    for value in posted:
        stage = by_id.get((value or "").strip())
        if stage is not None and stage not in wanted:
            wanted.append(stage)
    chosen = set(wanted)
    queue = iter(wanted)
    return [next(queue) if stage in chosen else stage for stage in stages]


def _stage_or_404(stage_id: int) -> Stage:
    return db.get_or_404(Stage, stage_id)


@bp.route("/stages/<int:stage_id>")
@admin_required
def stage(stage_id: int):
    """One stage's row (htmx: after Cancel); others see the pipeline page at that stage."""
    stage = _stage_or_404(stage_id)
    if targets(f"stage-{stage.id}"):
        return fragment(STAGES, "stage_item", **_stages_context(stage.pipeline, stage=stage))
    return redirect(url_for("pipelines.show", pipeline_id=stage.pipeline_id) + f"#stage-{stage.id}")


@bp.route("/stages/<int:stage_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_stage(stage_id: int):
    """Edit a stage in place: name, probability, kind, colour, rotting days, playbook."""
    stage = _stage_or_404(stage_id)
    pipeline = stage.pipeline
    if request.method == "POST":
        form = StageForm(pipeline=pipeline, stage=stage, prefix=f"s{stage.id}")
        if form.validate_on_submit():
            try:
                services.update_stage(stage, **form.values())
            except RuleError as error:
                db.session.rollback()
                apply_rule_error(form, error)
            else:
                db.session.commit()
                if targets(f"stage-{stage.id}"):
                    return fragment(STAGES, "stage_item", **_stages_context(pipeline, stage=stage))
                flash(_("Stage %(name)s was saved.", name=stage.display_name), "success")
                return redirect(url_for("pipelines.show", pipeline_id=pipeline.id) + f"#stage-{stage.id}",
                                303)
        status = 422
    else:
        form = StageForm(formdata=None, pipeline=pipeline, stage=stage, prefix=f"s{stage.id}",
                         data=_stage_form_data(stage))
        status = 200
    return _stages_page(pipeline, "stage_item", status=status, stage=stage, editing_id=stage.id,
                        edit_form=form)


@bp.route("/stages/<int:stage_id>/move", methods=["POST"])
@admin_required
def move_stage(stage_id: int):
    """Move a stage one place up or down (the buttons that work without JavaScript)."""
    stage = _stage_or_404(stage_id)
    try:
        services.move_stage(stage, request.form.get("direction", ""))
    except RuleError as error:
        abort(400, error.message)
    db.session.commit()
    if targets("stage-list"):
        return fragment(STAGES, "stage_list", **_stages_context(stage.pipeline))
    return redirect(url_for("pipelines.show", pipeline_id=stage.pipeline_id) + f"#stage-{stage.id}", 303)


@bp.route("/stages/<int:stage_id>/remove", methods=["GET", "POST"])
@admin_required
def remove_stage(stage_id: int):
    """Remove a stage; if it holds opportunities, first choose the stage they move to."""
    stage = _stage_or_404(stage_id)
    pipeline = stage.pipeline
    counts = queries.stage_opportunity_counts(pipeline.id)
    destinations = queries.removal_destinations(stage)
    lost_reasons = queries.ordered_lost_reasons(active_only=True)
    blocked = None
    try:
        services.check_stage_kinds(pipeline, removing=stage)
    except RuleError as error:
        blocked = error.message

    if request.method == "POST":
        form = RemoveStageForm(destinations=destinations, counts=counts, lost_reasons=lost_reasons)
        if form.validate_on_submit() and blocked is None:
            name = stage.display_name
            destination = form.destination
            try:
                moved = services.remove_stage(stage, destination=destination,
                                              lost_reason=form.lost_reason, user=current_user)
            except RuleError as error:
                db.session.rollback()
                apply_rule_error(form, error)
            else:
                db.session.commit()
                if moved:
                    flash(ngettext("Stage %(name)s was removed; its opportunity is now in %(to)s.",
                                   "Stage %(name)s was removed; its %(num)d opportunities are now in %(to)s.",
                                   moved, name=name, to=destination.display_name), "success")
                else:
                    flash(_("Stage %(name)s was removed.", name=name), "success")
                return redirect_to(url_for("pipelines.show", pipeline_id=pipeline.id))
        status = 422
    else:
        suggested = queries.suggested_destination(stage)
        form = RemoveStageForm(formdata=None, destinations=destinations, counts=counts,
                               lost_reasons=lost_reasons,
                               data={"destination_id": suggested.id if suggested else 0})
        status = 200
    return _stages_page(pipeline, "stage_item", status=status, stage=stage, removing_id=stage.id,
                        remove_form=form, remove_blocked=blocked, counts=counts)


# --- Lost reasons --------------------------------------------------------------------------

def _reasons_page(block: str | None = None, status: int = 200, **extra):
    context = {"reasons": queries.ordered_lost_reasons(), "usage": queries.lost_reason_usage(),
               "editing_id": None, "edit_form": None,
               "add_form": LostReasonForm(formdata=None, prefix="new"),
               # reason id -> (the button refused: "deactivate" or "delete", why)
               "reason_errors": {}}
    context.update(extra)
    target_ids = {"reason_list": ("reason-list",), "add_form": ("reason-add",),
                  "reason_item": (f"reason-{extra['reason'].id}",) if "reason" in extra else ()}
    block = block if block and targets(*target_ids.get(block, ())) else None
    return render(REASONS, block, status=status, **context)


@bp.route("/lost-reasons")
@admin_required
def lost_reasons():
    """The lost reasons in the order salespeople see them, with how often each was given."""
    return _reasons_page("reason_list")


@bp.route("/lost-reasons", methods=["POST"])
@admin_required
def create_lost_reason():
    """Add a lost reason at the end of the list."""
    form = LostReasonForm(prefix="new")
    if form.validate_on_submit():
        try:
            reason = services.add_lost_reason(form.name.data)
        except RuleError as error:
            apply_rule_error(form, error)
        else:
            db.session.commit()
            flash(_("Lost reason %(name)s was added.", name=reason.display_name), "success")
            return redirect_to(url_for("pipelines.lost_reasons"))
    return _reasons_page("add_form", status=422, add_form=form)


def _reason_or_404(reason_id: int) -> LostReason:
    return db.get_or_404(LostReason, reason_id)


@bp.route("/lost-reasons/<int:reason_id>")
@admin_required
def lost_reason(reason_id: int):
    """One reason's row (htmx: after Cancel); others see the list."""
    reason = _reason_or_404(reason_id)
    if targets(f"reason-{reason.id}"):
        return _reasons_page("reason_item", reason=reason)
    return redirect(url_for("pipelines.lost_reasons") + f"#reason-{reason.id}")


@bp.route("/lost-reasons/<int:reason_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_lost_reason(reason_id: int):
    """Rename a lost reason in place."""
    reason = _reason_or_404(reason_id)
    if request.method == "POST":
        form = LostReasonForm(reason=reason, prefix=f"r{reason.id}")
        if form.validate_on_submit():
            try:
                services.rename_lost_reason(reason, form.name.data)
            except RuleError as error:
                apply_rule_error(form, error)
            else:
                db.session.commit()
                if targets(f"reason-{reason.id}"):
                    return _reasons_page("reason_item", reason=reason)
                flash(_("Lost reason %(name)s was saved.", name=reason.display_name), "success")
                return redirect(url_for("pipelines.lost_reasons"), 303)
        status = 422
    else:
        form = LostReasonForm(formdata=None, reason=reason, prefix=f"r{reason.id}",
                              data={"name": reason.display_name})
        status = 200
    return _reasons_page("reason_item", status=status, reason=reason, editing_id=reason.id,
                         edit_form=form)


@bp.route("/lost-reasons/<int:reason_id>/move", methods=["POST"])
@admin_required
def move_lost_reason(reason_id: int):
    """Move a lost reason one place up or down."""
    reason = _reason_or_404(reason_id)
    try:
        services.move_lost_reason(reason, request.form.get("direction", ""))
    except RuleError as error:
        abort(400, error.message)
    db.session.commit()
    if targets("reason-list"):
        return _reasons_page("reason_list")
    return redirect(url_for("pipelines.lost_reasons") + f"#reason-{reason.id}", 303)


def _reason_change(reason: LostReason, change, success: str, action: str):
    """Apply `change` to a reason. Refused: htmx is sent to the list with the reason flashed;
    without JavaScript the list comes back, 422, the reason beside the `action` button."""
    reason_id = reason.id
    try:
        result = change()
    except RuleError as error:
        db.session.rollback()
        if not is_htmx():
            return _reasons_page(status=422, reason_errors={reason_id: (action, error.message)})
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(success if result != "deactivated" else
              _("%(name)s was given by opportunities, so it was deactivated instead of deleted.",
                name=reason.display_name), "success")
    return redirect_to(url_for("pipelines.lost_reasons"))


@bp.route("/lost-reasons/<int:reason_id>/deactivate", methods=["POST"])
@admin_required
def deactivate_lost_reason(reason_id: int):
    """Stop offering a reason; opportunities that gave it keep it."""
    reason = _reason_or_404(reason_id)
    return _reason_change(reason, lambda: services.set_lost_reason_active(reason, False),
                          _("%(name)s is no longer offered.", name=reason.display_name),
                          "deactivate")


@bp.route("/lost-reasons/<int:reason_id>/reactivate", methods=["POST"])
@admin_required
def reactivate_lost_reason(reason_id: int):
    """Offer a deactivated reason again."""
    reason = _reason_or_404(reason_id)
    return _reason_change(reason, lambda: services.set_lost_reason_active(reason, True),
                          _("%(name)s is offered again.", name=reason.display_name),
                          "reactivate")


@bp.route("/lost-reasons/<int:reason_id>/delete", methods=["POST"])
@admin_required
def delete_lost_reason(reason_id: int):
    """Delete an unused reason; a used one is deactivated instead."""
    reason = _reason_or_404(reason_id)
    name = reason.display_name
    return _reason_change(reason, lambda: services.delete_lost_reason(reason),
                          _("Lost reason %(name)s was deleted.", name=name), "delete")
