"""Reads of pipelines, stages and lost reasons: the lists in the admins' order, the grouped
counts their pages show, and where a removed stage's opportunities may go."""
from sqlalchemy import func

from crm.extensions import db
from crm.models import LostReason, Opportunity, Pipeline, Stage


def ordered_pipelines() -> list[Pipeline]:
    """Every pipeline in the admins' order."""
    return list(db.session.execute(
        db.select(Pipeline).order_by(Pipeline.position, Pipeline.id)).scalars())


def pipeline_counts() -> tuple[dict[int, int], dict[int, int]]:
    """Stages and opportunities per pipeline id, in two grouped queries."""
    stages = dict(db.session.execute(
        db.select(Stage.pipeline_id, func.count(Stage.id)).group_by(Stage.pipeline_id)).all())
    opportunities = dict(db.session.execute(
        db.select(Opportunity.pipeline_id, func.count(Opportunity.id))
        .group_by(Opportunity.pipeline_id)).all())
    return stages, opportunities


def stage_opportunity_counts(pipeline_id: int) -> dict[int, int]:
    """How many opportunities each stage of a pipeline holds, in one grouped query."""
    return dict(db.session.execute(
        db.select(Opportunity.stage_id, func.count(Opportunity.id))
        .where(Opportunity.pipeline_id == pipeline_id)
        .group_by(Opportunity.stage_id)).all())


def stage_opportunity_count(stage: Stage) -> int:
    # Opportunities in the trash count: they move with the others, to be restorable later.
    return db.session.execute(
        db.select(func.count(Opportunity.id)).where(Opportunity.stage_id == stage.id)
        .execution_options(include_deleted=True)).scalar_one()


def lost_reason_usage() -> dict[int, int]:
    """How many opportunities give each lost reason, in one grouped query."""
    return dict(db.session.execute(
        db.select(Opportunity.lost_reason_id, func.count(Opportunity.id))
        .where(Opportunity.lost_reason_id.is_not(None))
        .group_by(Opportunity.lost_reason_id)).all())


def ordered_lost_reasons(active_only: bool = False) -> list[LostReason]:
    query = db.select(LostReason).order_by(LostReason.position, LostReason.id)
    if active_only:
        query = query.where(LostReason.active.is_(True))
    return list(db.session.execute(query).scalars())


# --- Removing a stage ---------------------------------------------------------------------

def removal_destinations(stage: Stage) -> list[Stage]:
    """Where a removed stage's opportunities may go: the other stages of its pipeline."""
    return [s for s in stage.pipeline.stages if s.id != stage.id]


def suggested_destination(stage: Stage) -> Stage | None:
    """The nearest stage of the same kind, else the stage just before it."""
    others = removal_destinations(stage)
    if not others:
        return None
    same = [s for s in others if s.kind == stage.kind]
    pool = same or others
    return min(pool, key=lambda s: (abs(s.position - stage.position), -s.position))
