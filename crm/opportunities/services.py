"""The rules of an opportunity's life and every write to one: creation, the full form's
save, stage moves (won, lost, reopen), competitors and links between deals.

Everyone who moves an opportunity (its page, its form, the board, imports) goes through
`move_to_stage`, so the history, the status and the playbook tasks stay consistent.
Nothing here commits: the caller decides when the unit of work ends. The reads (lists,
totals, history, page contexts) are in crm.opportunities.queries.
"""
from datetime import datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from crm.extensions import db
from crm.models import Competitor, LostReason, Opportunity, Stage, StageChange, Task, utcnow
from crm.rules import RuleError


class StageMoveError(RuleError):
    """A move the rules refuse. `message` is translatable; `field` names the form field at fault."""


def _resolve_lost_reason(lost_reason) -> LostReason | None:
    """A LostReason from an object or an id; None when missing, unknown or retired."""
    if lost_reason in (None, ""):
        return None
    if not isinstance(lost_reason, LostReason):
        try:
            lost_reason = db.session.get(LostReason, int(lost_reason))
        except (TypeError, ValueError):
            return None
    if lost_reason is None or not lost_reason.active:
        return None
    return lost_reason


def check_stage_entry(pipeline_id: int | None, stage: Stage, lost_reason=None) -> LostReason | None:
    """Raise StageMoveError unless `stage` may be entered by an opportunity of the pipeline
    `pipeline_id` (None: any); return the lost reason to record.

    The stage must belong to the opportunity's pipeline, and a stage of kind "lost" is
    entered only with an active lost reason (输单 needs a reason). The one home of these
    rules: moves, creation and the full form's validation (crm.opportunities.forms) ask here.
    """
    if stage is None:
        raise StageMoveError(_l("Choose a stage."), field="stage_id")
    if pipeline_id is not None and stage.pipeline_id != pipeline_id:
        raise StageMoveError(_l("This stage belongs to another pipeline."), field="stage_id")
    reason = _resolve_lost_reason(lost_reason)
    if stage.kind == "lost" and reason is None:
        raise StageMoveError(_l("Choose why the opportunity was lost."), field="lost_reason_id")
    return reason if stage.kind == "lost" else None


def _enter_stage(opportunity: Opportunity, stage: Stage, user, now: datetime,
                 reason: LostReason | None, lost_note: str | None) -> None:
    """Set the stage and everything that follows from its kind."""
    previous_status = opportunity.status
    opportunity.stage = stage
    opportunity.stage_id = stage.id
    opportunity.status = stage.kind
    if stage.kind in ("won", "lost"):
        # Moving between two closed stages of the same kind keeps the original close time.
        if opportunity.closed_at is None or previous_status != stage.kind:
            opportunity.closed_at = now
    else:
        opportunity.closed_at = None
    if stage.kind == "lost":
        opportunity.lost_reason = reason
        opportunity.lost_reason_id = reason.id if reason is not None else None
        opportunity.lost_note = (lost_note or "").strip() or None
    else:
        opportunity.lost_reason = None
        opportunity.lost_reason_id = None
        opportunity.lost_note = None
    opportunity.stage_entered_at = now
    opportunity.last_activity_at = now


def create_playbook_tasks(opportunity: Opportunity, stage: Stage, user,
                          now: datetime | None = None) -> list[Task]:
    """Entering a stage creates its playbook tasks for the opportunity's owner (else the mover).

    Each task is due `due_days` days after the move and remembers the stage it came from.
    """
    now = now or utcnow()
    assignee_id = opportunity.owner_id or (opportunity.owner.id if opportunity.owner else None)
    if assignee_id is None and user is not None:
        assignee_id = user.id
    tasks = []
    for title, due_days in stage.playbook_items:
        task = Task(title=title, due_at=now + timedelta(days=due_days), assignee_id=assignee_id,
                    opportunity_id=opportunity.id, customer_id=opportunity.customer_id,
                    stage_id=stage.id, created_by_id=user.id if user is not None else None,
                    created_at=now)
        db.session.add(task)
        tasks.append(task)
    return tasks


def move_to_stage(opportunity: Opportunity, stage: Stage, user, lost_reason=None,
                  lost_note: str | None = None, *, now: datetime | None = None) -> StageChange | None:
    """Move an opportunity to `stage` and record it; return the StageChange, or None for a no-op.

    Rules:
    - the stage must belong to the opportunity's pipeline (else StageMoveError on stage_id);
    - moving to the stage it is already in changes nothing and returns None;
    - entering a stage of kind "lost" needs an active lost reason (else StageMoveError on
      lost_reason_id); the reason and an optional note are kept while it stays lost;
    - the status follows the stage's kind (open, won, lost); entering won or lost sets
      closed_at; moving back to an open stage is a reopen: closed_at, the lost reason and
      note are cleared, and the move stays in the history like any other;
    - stage_entered_at and last_activity_at become now; the version is bumped;
    - the stage's playbook creates tasks for the owner (or the mover when there is none).
    The session is flushed, not committed.
    """
    if stage is not None and opportunity.stage_id == stage.id:
        return None
    pipeline_id = opportunity.pipeline_id or (opportunity.pipeline.id if opportunity.pipeline else None)
    reason = check_stage_entry(pipeline_id, stage, lost_reason)
    now = now or utcnow()
    from_stage_id = opportunity.stage_id
    _enter_stage(opportunity, stage, user, now, reason, lost_note)
    opportunity.version = (opportunity.version or 1) + 1
    change = StageChange(opportunity_id=opportunity.id, from_stage_id=from_stage_id,
                         to_stage_id=stage.id, user_id=user.id if user is not None else None,
                         changed_at=now)
    db.session.add(change)
    create_playbook_tasks(opportunity, stage, user, now)
    db.session.flush()
    return change


def create_opportunity(*, title: str, customer=None, customer_id: int | None = None, stage: Stage,
                       user, owner=None, lost_reason=None, lost_note: str | None = None,
                       competitors: list[tuple[str, str | None]] | None = None,
                       related: list[Opportunity] | None = None,
                       now: datetime | None = None, **fields) -> Opportunity:
    """Create an opportunity in `stage`: its first StageChange (from nothing) and playbook tasks.

    The pipeline is the stage's; the owner defaults to the creator; a lost stage needs a
    lost reason, as for any move. `fields` are other Opportunity columns (amount, currency,
    expected_close, probability_override, contact_id, source, needs, budget, description).
    """
    now = now or utcnow()
    if customer is not None:
        customer_id = customer.id
    opportunity = Opportunity(title=(title or "").strip(), customer_id=customer_id,
                              pipeline_id=stage.pipeline_id if stage is not None else None,
                              created_by_id=user.id if user is not None else None,
                              created_at=now, version=1, **fields)
    if customer is not None:
        opportunity.customer = customer
    if owner is not None:
        opportunity.owner_id = owner if isinstance(owner, int) else owner.id
    elif user is not None:
        opportunity.owner_id = user.id
    if opportunity.amount is None:
        opportunity.amount = Decimal("0")
    if not opportunity.currency:
        opportunity.currency = "CNY"
    reason = check_stage_entry(opportunity.pipeline_id, stage, lost_reason)
    _enter_stage(opportunity, stage, user, now, reason, lost_note)
    for name, notes in competitors or []:
        add_competitor(opportunity, name, notes)
    db.session.add(opportunity)
    db.session.flush()
    for other in related or []:
        link_related(opportunity, other)
    db.session.add(StageChange(opportunity_id=opportunity.id, from_stage_id=None,
                               to_stage_id=stage.id, user_id=user.id if user is not None else None,
                               changed_at=now))
    create_playbook_tasks(opportunity, stage, user, now)
    db.session.flush()
    return opportunity


def update_opportunity(opportunity: Opportunity, user, *, title: str, customer, stage: Stage,
                       owner_id: int | None, lost_reason=None, lost_note: str | None = None,
                       competitors: list[tuple[str, str | None]] = (), **fields) -> StageChange | None:
    """Save the full form of an opportunity; return the StageChange of its stage move, or None
    when it stays in its stage.

    Rules:
    - `fields` are other Opportunity columns (as create_opportunity's); the title is trimmed;
    - a stage of another pipeline takes the opportunity to that pipeline;
    - a changed stage is a move like any other (move_to_stage: its rules, StageMoveError, the
      history and the playbook);
    - staying in a lost stage, the lost reason (when active) and the note may be corrected;
    - the competitors are replaced by `competitors` (name, notes), empty names dropped.
    Permissions (may `user` edit it, set this owner) are the caller's. Not committed.
    """
    opportunity.title = (title or "").strip()
    opportunity.customer = customer
    opportunity.customer_id = customer.id
    for name, value in fields.items():
        setattr(opportunity, name, value)
    opportunity.owner_id = owner_id
    if stage.pipeline_id != opportunity.pipeline_id:
        opportunity.pipeline_id = stage.pipeline_id  # moving to another pipeline
        opportunity.pipeline = stage.pipeline
    change = move_to_stage(opportunity, stage, user, lost_reason=lost_reason, lost_note=lost_note)
    if change is None and stage.kind == "lost":  # still lost: the reason and note may be corrected
        reason = _resolve_lost_reason(lost_reason)
        if reason is not None:
            opportunity.lost_reason = reason
        opportunity.lost_note = (lost_note or "").strip() or None
    opportunity.competitors.clear()
    for name, notes in competitors:
        add_competitor(opportunity, name, notes)
    return change


def reopen_stage(opportunity: Opportunity) -> Stage | None:
    """Where a reopened opportunity goes: the open stage it was in before it closed, else the
    pipeline's last open stage."""
    stages = {s.id: s for s in opportunity.pipeline.stages}
    previous = db.session.execute(
        db.select(StageChange.from_stage_id).where(
            StageChange.opportunity_id == opportunity.id,
            StageChange.to_stage_id == opportunity.stage_id,
            StageChange.from_stage_id.is_not(None),
        ).order_by(StageChange.changed_at.desc(), StageChange.id.desc()).limit(1)
    ).scalar()
    if previous in stages and stages[previous].kind == "open":
        return stages[previous]
    open_stages = [s for s in opportunity.pipeline.stages if s.kind == "open"]
    return open_stages[-1] if open_stages else None


def won_stage(opportunity: Opportunity) -> Stage | None:
    """The first won stage of the opportunity's pipeline (正式签约 by default)."""
    return next((s for s in opportunity.pipeline.stages if s.kind == "won"), None)


def lost_stage(opportunity: Opportunity) -> Stage | None:
    return next((s for s in opportunity.pipeline.stages if s.kind == "lost"), None)


# Competitors and related opportunities ----------------------------------------------------

def add_competitor(opportunity: Opportunity, name: str, notes: str | None = None):
    """Add a competitor (竞争对手) by name, at most 200 characters; none for an empty name."""
    name = (name or "").strip()
    if not name:
        return None
    competitor = Competitor(name=name[:200], notes=(notes or "").strip() or None)
    opportunity.competitors.append(competitor)
    return competitor


def delete_competitor(opportunity: Opportunity, competitor_id: int) -> bool:
    """Remove one of the opportunity's competitors; False (nothing changes) when it has no
    competitor of that id."""
    competitor = db.session.get(Competitor, competitor_id)
    if competitor is None or competitor.opportunity_id != opportunity.id:
        return False
    db.session.delete(competitor)
    return True


def link_related(opportunity: Opportunity, other: Opportunity) -> bool:
    """Link two opportunities both ways (the relation is symmetric); False if not possible."""
    if other is None or other.id == opportunity.id:
        return False
    if other not in opportunity.related:
        opportunity.related.append(other)
    if opportunity not in other.related:
        other.related.append(opportunity)
    return True


def unlink_related(opportunity: Opportunity, other: Opportunity) -> None:
    """Remove the link both ways."""
    if other in opportunity.related:
        opportunity.related.remove(other)
    if opportunity in other.related:
        other.related.remove(opportunity)

