"""The rules of pipelines (销售管道), their stages (销售阶段) and lost reasons, and the
defaults a new install starts with (ensure_defaults).

Every function here states the business rule it enforces in its docstring. A change that
would break a rule raises crm.rules.RuleError, whose message is shown to the admin as is and
whose `field` names the form field at fault. Nothing here commits: the caller commits once
the whole change is made. Reads (lists, counts) live in queries.py.
"""
import re
from collections.abc import Iterable, Sequence

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Integer, and_, case, cast, func, insert, literal, update

from crm.audit.services import record_select
from crm.extensions import db
from crm.l10n import join_list
from crm.models import (
    STAGE_KINDS,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    StageChange,
    UTCDateTime,
    utcnow,
)
from crm.pipelines.queries import ordered_lost_reasons, ordered_pipelines, stage_opportunity_count
from crm.rules import RuleError

REQUIRED_KINDS = STAGE_KINDS  # open, won, lost: a pipeline keeps at least one of each
MIN_PROBABILITY, MAX_PROBABILITY = 0, 100
DEFAULT_COLORS = {"open": "#3b82f6", "won": "#16a34a", "lost": "#dc2626"}
DEFAULT_PROBABILITY = {"open": 10, "won": 100, "lost": 0}


def kind_label(kind: str) -> str:
    return {"open": _("Open"), "won": _("Won"), "lost": _("Lost")}.get(kind, kind)


# --- Validation helpers shared with the forms ---------------------------------------------

def validate_probability(value) -> int:
    """A default win probability is a whole number from 0 to 100 (percent)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        number = int(value)
    else:
        raise RuleError(_("Enter a whole number from 0 to 100."), "probability")
    if not MIN_PROBABILITY <= number <= MAX_PROBABILITY:
        raise RuleError(_("Enter a number from 0 to 100."), "probability")
    return number


def validate_rotting_days(value) -> int | None:
    """Rotting days are optional; when given, a whole number of at least 1."""
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RuleError(_("Enter a whole number of days, at least 1, or leave it empty."), "rotting_days") from None
    if number < 1:
        raise RuleError(_("Enter a whole number of days, at least 1, or leave it empty."), "rotting_days")
    return number


def playbook_errors(text: str | None) -> list[str]:
    """A playbook is one task per line, optionally "Title | N" with N the due-in days (>= 0)."""
    errors = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        title, bar, days = line.partition("|")
        if not line.strip():
            continue
        if not title.strip():
            errors.append(_("Line %(n)d has no task title.", n=number))
        elif len(title.strip()) > 200:
            errors.append(_("Line %(n)d is longer than 200 characters.", n=number))
        if bar:
            days = days.strip()
            if not days.isdigit():
                errors.append(_("Line %(n)d: after “|” give the number of days until the task is due.",
                                n=number))
    return errors


def _same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def stage_name_taken(pipeline: Pipeline, name: str, exclude: Stage | None = None) -> bool:
    """Stage names are unique within a pipeline (ignoring case), so the board is unambiguous."""
    return any(_same_name(s.display_name, name) for s in pipeline.stages
               if exclude is None or s.id != exclude.id)


def pipeline_name_taken(name: str, exclude: Pipeline | None = None) -> bool:
    """Pipeline names are unique (ignoring case)."""
    return any(_same_name(p.display_name, name) for p in ordered_pipelines()
               if exclude is None or p.id != exclude.id)


def lost_reason_name_taken(name: str, exclude: LostReason | None = None) -> bool:
    """Lost reason names are unique (ignoring case), active or not."""
    return any(_same_name(r.display_name, name) for r in ordered_lost_reasons()
               if exclude is None or r.id != exclude.id)


def _rename(obj, name: str) -> None:
    """Store a new name; an unchanged built-in name stays translated (name stays empty)."""
    name = name.strip()
    if obj.name is None and getattr(obj, "key", None) and name == obj.display_name:
        return
    obj.name = name


# --- Order ---------------------------------------------------------------------------------

def _renumber(items: Sequence) -> None:
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position


def _move(items: list, item, direction: str) -> bool:
    """Swap `item` with its neighbour above or below; False at either end."""
    if direction not in ("up", "down"):
        raise RuleError(_("Choose up or down."))
    index = items.index(item)
    other = index - 1 if direction == "up" else index + 1
    if other < 0 or other >= len(items):
        _renumber(items)
        return False
    items[index], items[other] = items[other], items[index]
    _renumber(items)
    return True


# --- Pipelines -----------------------------------------------------------------------------

def create_pipeline(name: str, *, copy_from: Pipeline | None = None) -> Pipeline:
    """A new pipeline goes last. It starts with a copy of another pipeline's stages, or with
    one open, one won and one lost stage, so it always satisfies the open/won/lost rule."""
    name = name.strip()
    if not name:
        raise RuleError(_("Enter a name."), "name")
    if pipeline_name_taken(name):
        raise RuleError(_("A pipeline with this name exists already."), "name")
    last = db.session.execute(db.select(func.max(Pipeline.position))).scalar()
    pipeline = Pipeline(name=name, position=(last + 1) if last is not None else 0)
    if copy_from is not None:
        for position, source in enumerate(copy_from.stages):
            pipeline.stages.append(Stage(
                key=source.key, name=source.name, position=position, probability=source.probability,
                kind=source.kind, color=source.color, rotting_days=source.rotting_days,
                playbook=source.playbook))
    else:
        starters = [(_("New"), "open"), (_("Won"), "won"), (_("Lost"), "lost")]
        for position, (stage_name, kind) in enumerate(starters):
            pipeline.stages.append(Stage(name=stage_name, position=position, kind=kind,
                                         probability=DEFAULT_PROBABILITY[kind],
                                         color=DEFAULT_COLORS[kind]))
    db.session.add(pipeline)
    db.session.flush()
    return pipeline


def rename_pipeline(pipeline: Pipeline, name: str) -> None:
    """A pipeline needs a name unique among pipelines; the built-in one stays translated
    until it is given a different name."""
    name = name.strip()
    if not name:
        raise RuleError(_("Enter a name."), "name")
    if pipeline_name_taken(name, exclude=pipeline):
        raise RuleError(_("A pipeline with this name exists already."), "name")
    _rename(pipeline, name)


def delete_pipeline(pipeline: Pipeline) -> None:
    """A pipeline is deleted only when it holds no opportunities (move or delete them first),
    and never the last one: opportunities always need a pipeline to go into."""
    count = db.session.execute(db.select(func.count(Opportunity.id))
                               .where(Opportunity.pipeline_id == pipeline.id)
                               .execution_options(include_deleted=True)).scalar_one()
    if count:
        raise RuleError(ngettext(
            "%(name)s still holds %(num)d opportunity, so it cannot be deleted. "
            "Move it to another pipeline or delete it first.",
            "%(name)s still holds %(num)d opportunities, so it cannot be deleted. "
            "Move them to another pipeline or delete them first.",
            count, name=pipeline.display_name))
    if db.session.execute(db.select(func.count(Pipeline.id))).scalar_one() <= 1:
        raise RuleError(_("This is the only pipeline; opportunities need at least one."))
    db.session.delete(pipeline)
    db.session.flush()
    _renumber(ordered_pipelines())


def move_pipeline(pipeline: Pipeline, direction: str) -> bool:
    """Pipelines are listed (and offered in selects) in the admins' order."""
    return _move(ordered_pipelines(), pipeline, direction)


# --- Stages --------------------------------------------------------------------------------

def missing_kinds(kinds: Iterable[str]) -> list[str]:
    """The kinds among open, won and lost that `kinds` lacks."""
    present = set(kinds)
    return [kind for kind in REQUIRED_KINDS if kind not in present]


def _kind_rule_error(missing: list[str]) -> RuleError:
    names = join_list(kind_label(kind) for kind in missing)
    return RuleError(_("A pipeline needs at least one open, one won and one lost stage; "
                       "this would leave none of kind: %(kinds)s.", kinds=names))


def check_stage_kinds(pipeline: Pipeline, *, removing: Stage | None = None,
                      changing: Stage | None = None, new_kind: str | None = None) -> None:
    """A pipeline always keeps at least one open, one won and one lost stage: an opportunity
    can then always be worked, won and lost. Raises RuleError for a removal or a kind change
    that would break that."""
    kinds = []
    for stage in pipeline.stages:
        if removing is not None and stage.id == removing.id:
            continue
        if changing is not None and stage.id == changing.id:
            kinds.append(new_kind)
        else:
            kinds.append(stage.kind)
    missing = missing_kinds(kinds)
    if missing:
        raise _kind_rule_error(missing)


def _clean_stage_fields(*, probability, kind, rotting_days, playbook) -> dict:
    if kind not in STAGE_KINDS:
        raise RuleError(_("Choose open, won or lost."), "kind")
    errors = playbook_errors(playbook)
    if errors:
        raise RuleError(errors[0], "playbook")
    return {
        "probability": validate_probability(probability),
        "kind": kind,
        "rotting_days": validate_rotting_days(rotting_days),
        "playbook": "\n".join(line.rstrip() for line in (playbook or "").strip().splitlines()) or None,
    }


def add_stage(pipeline: Pipeline, *, name: str, probability, kind: str, color: str | None = None,
              rotting_days=None, playbook: str | None = None) -> Stage:
    """Add a stage to a pipeline. Its name is unique in the pipeline and its probability is
    0-100. A new open stage goes after the last open stage (before the won and lost ends of
    the process); a won or lost stage goes last. Admins reorder afterwards."""
    name = (name or "").strip()
    if not name:
        raise RuleError(_("Enter a name."), "name")
    if stage_name_taken(pipeline, name):
        raise RuleError(_("This pipeline has a stage with this name already."), "name")
    fields = _clean_stage_fields(probability=probability, kind=kind, rotting_days=rotting_days,
                                 playbook=playbook)
    stages = list(pipeline.stages)
    index = len(stages)
    if kind == "open":
        open_indexes = [i for i, stage in enumerate(stages) if stage.kind == "open"]
        index = open_indexes[-1] + 1 if open_indexes else 0
    stage = Stage(name=name, color=color or DEFAULT_COLORS[kind], **fields)
    stages.insert(index, stage)
    pipeline.stages.append(stage)
    _renumber(stages)
    pipeline.stages.sort(key=lambda s: s.position)
    db.session.flush()
    return stage


def update_stage(stage: Stage, *, name: str, probability, kind: str, color: str | None,
                 rotting_days=None, playbook: str | None = None) -> None:
    """Change a stage. The name stays unique in its pipeline (a built-in name left as it is
    stays translated). The kind changes only while the pipeline keeps an open, a won and a
    lost stage, and only while the stage is empty: the opportunities in it have the status
    of its kind, so move them first."""
    name = (name or "").strip()
    if not name:
        raise RuleError(_("Enter a name."), "name")
    pipeline = stage.pipeline
    if stage_name_taken(pipeline, name, exclude=stage):
        raise RuleError(_("This pipeline has a stage with this name already."), "name")
    fields = _clean_stage_fields(probability=probability, kind=kind, rotting_days=rotting_days,
                                 playbook=playbook)
    if kind != stage.kind:
        try:
            check_stage_kinds(pipeline, changing=stage, new_kind=kind)
        except RuleError as error:
            raise RuleError(error.message, "kind") from None
        count = stage_opportunity_count(stage)
        if count:
            raise RuleError(ngettext(
                "This stage holds %(num)d opportunity, so its kind cannot change: its status "
                "follows it. Move it to another stage first.",
                "This stage holds %(num)d opportunities, so its kind cannot change: their status "
                "follows it. Move them to another stage first.", count), "kind")
    _rename(stage, name)
    for attr, value in fields.items():
        setattr(stage, attr, value)
    if color:
        stage.color = color


def move_stage(stage: Stage, direction: str) -> bool:
    """Move a stage one place up or down in its pipeline; False when it is at that end."""
    stages = list(stage.pipeline.stages)
    moved = _move(stages, stage, direction)
    stage.pipeline.stages.sort(key=lambda s: s.position)
    return moved


def reorder_stages(pipeline: Pipeline, stage_ids: Sequence[int]) -> None:
    """Put a pipeline's stages in the given order (after a drag). The ids must be exactly the
    pipeline's stages, each once: an order made from a stale page is refused, not guessed."""
    try:
        wanted = [int(stage_id) for stage_id in stage_ids]
    except (TypeError, ValueError):
        raise RuleError(_("The new order is not valid; reload the page and try again.")) from None
    by_id = {stage.id: stage for stage in pipeline.stages}
    if len(wanted) != len(set(wanted)) or set(wanted) != set(by_id):
        raise RuleError(_("The stages changed meanwhile; reload the page and try again."))
    _renumber([by_id[stage_id] for stage_id in wanted])
    pipeline.stages.sort(key=lambda s: s.position)


def remove_stage(stage: Stage, *, destination: Stage | None = None,
                 lost_reason: LostReason | None = None, user=None) -> int:
    """Remove a stage; nothing is lost. If it holds opportunities they all move, in bulk, to
    `destination`, which the admin must choose in the same pipeline. Each move is kept in the
    history (a StageChange from the removed stage to the destination, by `user`); the
    opportunities take the destination's status: closed_at is set on entering won or lost
    (kept when they already had that status) and cleared on entering an open stage. Entering
    a lost stage needs a lost reason for those that have none. The pipeline must keep an open,
    a won and a lost stage. Returns how many opportunities moved.

    Playbook tasks are not created for these moves: they are housekeeping, not progress.
    """
    pipeline = stage.pipeline
    check_stage_kinds(pipeline, removing=stage)
    count = stage_opportunity_count(stage)
    if count:
        if destination is None:
            raise RuleError(ngettext(
                "This stage holds %(num)d opportunity: choose the stage it moves to.",
                "This stage holds %(num)d opportunities: choose the stage they move to.", count),
                "destination_id")
        if destination.id == stage.id or destination.pipeline_id != stage.pipeline_id:
            raise RuleError(_("Choose another stage of the same pipeline."), "destination_id")
        needs_reason = destination.kind == "lost" and db.session.execute(
            db.select(func.count(Opportunity.id)).where(
                Opportunity.stage_id == stage.id, Opportunity.lost_reason_id.is_(None))
            .execution_options(include_deleted=True)
        ).scalar_one() > 0
        if needs_reason and lost_reason is None:
            raise RuleError(_("Opportunities entering a lost stage need a lost reason: choose one."),
                            "lost_reason_id")
        _move_opportunities(stage, destination, lost_reason=lost_reason, user=user)
    _keep_stage_name_in_history(stage)
    pipeline.stages.remove(stage)  # delete-orphan: the row goes at the flush
    db.session.flush()
    _renumber(pipeline.stages)
    return count


def _keep_stage_name_in_history(stage: Stage) -> None:
    """History rows lose their link to a removed stage (SET NULL); they keep its name."""
    name = stage.display_name
    db.session.execute(update(StageChange).where(StageChange.from_stage_id == stage.id)
                       .values(from_stage_label=name).execution_options(synchronize_session=False))
    db.session.execute(update(StageChange).where(StageChange.to_stage_id == stage.id)
                       .values(to_stage_label=name).execution_options(synchronize_session=False))


def _move_opportunities(source: Stage, destination: Stage, *, lost_reason: LostReason | None,
                        user) -> None:
    """Two statements whatever the number: INSERT ... SELECT of the history, one UPDATE."""
    now = utcnow()
    user_id = getattr(user, "id", None)
    db.session.execute(insert(StageChange).from_select(
        ["opportunity_id", "from_stage_id", "to_stage_id", "user_id", "changed_at"],
        db.select(Opportunity.id, cast(literal(source.id), Integer),
                  cast(literal(destination.id), Integer), cast(literal(user_id), Integer),
                  literal(now, UTCDateTime))
        .where(Opportunity.stage_id == source.id)))
    moving = db.select(Opportunity.id, Opportunity.title).where(Opportunity.stage_id == source.id)
    record_select("opportunities", moving, field="stage_id", old=source.display_name,
                  new=destination.display_name, user=user)
    if source.kind != destination.kind:
        record_select("opportunities", moving, field="status", old=source.kind,
                      new=destination.kind, user=user)
    values = {
        "stage_id": destination.id,
        "status": destination.kind,
        "stage_entered_at": now,
        "updated_at": now,
        "version": Opportunity.version + 1,
    }
    if destination.kind == "open":
        values["closed_at"] = None
    else:
        values["closed_at"] = case(
            (and_(Opportunity.status == destination.kind, Opportunity.closed_at.is_not(None)),
             Opportunity.closed_at),
            else_=literal(now, UTCDateTime))
    if destination.kind == "lost" and lost_reason is not None:
        values["lost_reason_id"] = func.coalesce(Opportunity.lost_reason_id, lost_reason.id)
    db.session.execute(update(Opportunity).where(Opportunity.stage_id == source.id).values(**values)
                       .execution_options(synchronize_session=False))
    # Objects loaded before the bulk statements must not keep their old stage.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Opportunity):
            db.session.expire(obj)


# --- Lost reasons --------------------------------------------------------------------------

def add_lost_reason(name: str) -> LostReason:
    """A new lost reason is active and goes last; names are unique (ignoring case)."""
    name = (name or "").strip()
    if not name:
        raise RuleError(_("Enter a name."), "name")
    if lost_reason_name_taken(name):
        raise RuleError(_("A lost reason with this name exists already."), "name")
    last = db.session.execute(db.select(func.max(LostReason.position))).scalar()
    reason = LostReason(name=name, position=(last + 1) if last is not None else 0, active=True)
    db.session.add(reason)
    db.session.flush()
    return reason


def rename_lost_reason(reason: LostReason, name: str) -> None:
    """Rename a lost reason (unique names); a built-in name left as is stays translated."""
    name = (name or "").strip()
    if not name:
        raise RuleError(_("Enter a name."), "name")
    if lost_reason_name_taken(name, exclude=reason):
        raise RuleError(_("A lost reason with this name exists already."), "name")
    _rename(reason, name)


def move_lost_reason(reason: LostReason, direction: str) -> bool:
    """Lost reasons are offered in the admins' order."""
    return _move(ordered_lost_reasons(), reason, direction)


def set_lost_reason_active(reason: LostReason, active: bool) -> None:
    """A deactivated reason is no longer offered; opportunities that gave it keep it. At least
    one reason stays active, or no opportunity could be lost."""
    if not active and reason.active:
        others = db.session.execute(db.select(func.count(LostReason.id)).where(
            LostReason.active.is_(True), LostReason.id != reason.id)).scalar_one()
        if not others:
            raise RuleError(_("At least one lost reason must stay active."))
    reason.active = active


def delete_lost_reason(reason: LostReason) -> str:
    """An unused reason is deleted; one given by opportunities is deactivated instead, so
    the reports on why deals were lost stay whole. Returns "deleted" or "deactivated"."""
    used = db.session.execute(db.select(func.count(Opportunity.id))
                              .where(Opportunity.lost_reason_id == reason.id)
                              .execution_options(include_deleted=True)).scalar_one()
    if used:
        set_lost_reason_active(reason, False)
        return "deactivated"
    if reason.active:
        set_lost_reason_active(reason, False)  # the same "one stays active" rule
    db.session.delete(reason)
    db.session.flush()
    _renumber(ordered_lost_reasons())
    return "deleted"


# --- What a new install starts with: one pipeline with DOMAIN.md's eight stages, lost reasons

DEFAULT_STAGES = [
    # key, probability, kind, colour, playbook
    ("discover", 10, "open", "#94a3b8", None),
    ("confirm", 20, "open", "#60a5fa", None),
    ("needs_analysis", 30, "open", "#3b82f6", None),
    ("proposal", 50, "open", "#8b5cf6", None),
    ("negotiation", 70, "open", "#f59e0b", None),
    ("signed", 100, "won", "#16a34a", None),
    ("delivered", 100, "won", "#15803d", None),
    ("lost", 0, "lost", "#dc2626", None),
]
DEFAULT_LOST_REASONS = ["price", "competitor", "no_budget", "no_decision", "timing",
                        "product_fit", "unresponsive", "other"]


def ensure_defaults() -> None:
    """Create the default pipeline and lost reasons when there are none (idempotent)."""
    if db.session.execute(db.select(Pipeline.id).limit(1)).first() is None:
        pipeline = Pipeline(key="default", position=0)
        for position, (key, probability, kind, color, playbook) in enumerate(DEFAULT_STAGES):
            pipeline.stages.append(Stage(key=key, position=position, probability=probability,
                                         kind=kind, color=color, playbook=playbook))
        db.session.add(pipeline)
    if db.session.execute(db.select(LostReason.id).limit(1)).first() is None:
        for position, key in enumerate(DEFAULT_LOST_REASONS):
            db.session.add(LostReason(key=key, position=position))
    db.session.flush()
