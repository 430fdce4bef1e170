"""Reads of follow-up notes: a note for a page or a form (after its permission check), what a
new note is for, and the timelines that show notes beside stage changes and done tasks."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import joinedload

from crm.extensions import db
from crm.models import Contact, Customer, Lead, Note, Opportunity, StageChange, Task
from crm.permissions import (can_edit_note, can_see_note, checked, current_viewer, sees_everything,
                             visible_customers_clause, visible_leads_clause, visible_notes_clause,
                             visible_opportunities_clause, visible_record)
from crm.tasks.queries import of_customer


def note_or_404(note_id: int, *, edit: bool = False) -> Note:
    """The note, after the permission check: 404 when it does not exist, 403 when I may not
    see it (or, `edit`, not edit or delete it)."""
    return checked(db.session.get(Note, note_id), can_see_note, can_edit_note, edit=edit)


def note_targets(viewer, *, customer_id: int | None = None, contact_id: int | None = None,
                 opportunity_id: int | None = None):
    """What a new note is for, from the ids its form posted: (customer, contact, opportunity),
    or None when they name nothing, or a record that does not exist, or one `viewer` may not
    see (crm.permissions: the same answer for both, so that nothing tells them apart), or a
    contact that is not the opportunity's / the customer's. The opportunity decides the
    customer, else the contact does, else customer_id."""
    customer = contact = opportunity = None
    if opportunity_id is not None:
        opportunity = visible_record(viewer, Opportunity, opportunity_id)
        if opportunity is None:
            return None
        customer = opportunity.customer
    if contact_id is not None:
        # A contact is seen with its customer.
        contact = db.session.execute(
            db.select(Contact).join(Customer, Contact.customer_id == Customer.id)
            .where(Contact.id == contact_id, visible_customers_clause(viewer))
        ).scalar_one_or_none()
        if contact is None or (customer is not None and contact.customer_id != customer.id):
            return None
        customer = customer or contact.customer
    if customer is None and customer_id is not None:
        customer = visible_record(viewer, Customer, customer_id)
    if customer is None:
        return None
    return customer, contact, opportunity


def lead_target(viewer, lead_id: int | None) -> Lead | None:
    """The lead a new note is for, from its form's `lead_id`: None when it names none, or one
    that does not exist, is in the trash, or `viewer` may not see (the same answer)."""
    if lead_id is None:
        return None
    return db.session.execute(db.select(Lead).where(Lead.id == lead_id,
                                                    visible_leads_clause(viewer))).scalar_one_or_none()


@dataclass
class TimelineItem:
    kind: str  # "note", "stage", "task"
    at: datetime
    obj: object


def timeline(*, customer_id: int | None = None, opportunity_id: int | None = None,
             contact_id: int | None = None, lead_id: int | None = None, limit: int = 100,
             stage_changes: list[StageChange] | None = None,
             done_tasks: list[Task] | None = None) -> list[TimelineItem]:
    """Notes, stage changes and completed tasks, newest first, in three queries, or fewer when
    the page has read the stage changes (an opportunity's whole history) or the done tasks
    (crm.tasks.queries.open_and_done_tasks) already. A lead's (`lead_id`): its notes and done
    tasks (the page checked that the lead is visible; its notes are all the lead's)."""
    notes_q = db.select(Note).options(joinedload(Note.author), joinedload(Note.opportunity),
                                      joinedload(Note.contact))
    changes_q = db.select(StageChange).options(
        joinedload(StageChange.user), joinedload(StageChange.from_stage),
        joinedload(StageChange.to_stage), joinedload(StageChange.opportunity))
    tasks_q = db.select(Task).options(joinedload(Task.assignee), joinedload(Task.opportunity)).where(
        Task.done.is_(True))
    if opportunity_id is not None:
        notes_q = notes_q.where(Note.opportunity_id == opportunity_id)
        changes_q = changes_q.where(StageChange.opportunity_id == opportunity_id)
        tasks_q = tasks_q.where(Task.opportunity_id == opportunity_id)
    elif lead_id is not None:
        notes_q = notes_q.where(Note.lead_id == lead_id)
        changes_q = None
        tasks_q = tasks_q.where(Task.lead_id == lead_id)
    elif contact_id is not None:
        notes_q = notes_q.where(Note.contact_id == contact_id)
        changes_q = None
        tasks_q = None
    else:
        notes_q = notes_q.where(Note.customer_id == customer_id)
        changes_q = changes_q.join(Opportunity, StageChange.opportunity_id == Opportunity.id).where(
            Opportunity.customer_id == customer_id)
        tasks_q = tasks_q.where(of_customer(customer_id))
    viewer = current_viewer()
    if not sees_everything(viewer) and lead_id is None:
        # A read-only customer profile does not show its opportunities I may not see, nor
        # their notes, stage changes and tasks.
        visible = (db.select(Opportunity.id).where(visible_opportunities_clause(viewer))
                   .correlate(None))
        notes_q = notes_q.where(visible_notes_clause(viewer))
        if changes_q is not None and opportunity_id is None:
            changes_q = changes_q.where(StageChange.opportunity_id.in_(visible))
        if tasks_q is not None and opportunity_id is None:
            tasks_q = tasks_q.where(db.or_(Task.opportunity_id.is_(None), Task.opportunity_id.in_(visible)))
    items = [TimelineItem("note", n.happened_at, n) for n in db.session.execute(
        notes_q.order_by(Note.happened_at.desc(), Note.id.desc()).limit(limit)).scalars()]
    if changes_q is not None:
        if stage_changes is None:
            stage_changes = db.session.execute(
                changes_q.order_by(StageChange.changed_at.desc()).limit(limit)).scalars()
        items += [TimelineItem("stage", c.changed_at, c) for c in stage_changes]
    if tasks_q is not None:
        if done_tasks is None:
            done_tasks = db.session.execute(
                tasks_q.order_by(Task.done_at.desc()).limit(limit)).scalars()
        items += [TimelineItem("task", t.done_at or t.created_at, t) for t in done_tasks]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]
