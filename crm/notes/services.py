"""The writes of follow-up notes: adding one to a customer, contact, opportunity or lead, and
changing one. Nothing here commits: the route ends the unit of work. A note on a lead follows
the lead's rules as well (crm.leads.services.note_changed: contacted, last contact, score)."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask_babel import get_timezone

from flask_babel import lazy_gettext as _l

from crm.extensions import db
from crm.leads.services import check_editable, note_changed
from crm.models import Lead, Note, Opportunity, utcnow
from crm.permissions import can_edit_customer, can_edit_lead, can_edit_opportunity
from crm.rules import RuleError


def user_time_to_utc(value: datetime | None) -> datetime:
    """A naive datetime typed in the user's zone, as UTC; now when empty."""
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        # Flask-Babel hands back a pytz zone, whose replace() gives LMT offsets (+08:06);
        # zoneinfo applies the real offset for that date.
        value = value.replace(tzinfo=ZoneInfo(str(get_timezone())))
    return value.astimezone(timezone.utc)


def add_note(*, author, kind: str, body: str, happened_at: datetime | None,
             customer=None, contact=None, opportunity=None, lead=None,
             next_contact_at: datetime | None = None, now: datetime | None = None) -> Note:
    """Record a note; one on a contact or opportunity also belongs to its customer. The time
    is the user's (empty: now); a note on an opportunity is activity on it.

    The next contact (下次联系时间) is the note's record's: the opportunity's when the note is
    on one, else the customer's (see set_next_contact), else the lead's.

    A note on a lead (`lead`, no customer): only someone who may edit the lead adds one, never
    to a converted lead (RuleError); the lead is contacted and rescored in this transaction."""
    if lead is not None:
        check_editable(author, lead)
        set_next_contact(author, lead, next_contact_at, now=now)
        note = Note(kind=kind, body=body.strip(), happened_at=user_time_to_utc(happened_at),
                    author=author, lead=lead)
        db.session.add(note)
        note_changed(lead, now=now)
        return note
    if opportunity is not None and customer is None:
        customer = opportunity.customer
    if contact is not None and customer is None:
        customer = contact.customer
    set_next_contact(author, opportunity if opportunity is not None else customer,
                     next_contact_at, now=now)
    note = Note(kind=kind, body=body.strip(), happened_at=user_time_to_utc(happened_at),
                author=author, customer=customer, contact=contact, opportunity=opportunity)
    db.session.add(note)
    if opportunity is not None:
        opportunity.last_activity_at = utcnow()
    return note


def update_note(note: Note, *, kind: str, body: str, happened_at: datetime | None,
                user=None) -> Note:
    """Change a note's kind, text and time (typed in the user's zone; empty keeps the time).
    A lead's note: the lead's last contact and score follow (a converted lead is read-only)."""
    lead = lead_of(note)
    if lead is not None and user is not None:
        check_editable(user, lead)
    note.kind = kind
    note.body = body.strip()
    if happened_at:
        note.happened_at = user_time_to_utc(happened_at)
    if lead is not None:
        note_changed(lead)
    return note


def lead_of(note: Note) -> Lead | None:
    """The lead a note is on while that lead is not converted (a converted lead's notes are
    its customer's), else None."""
    if note.lead_id is None or note.customer_id is not None:
        return None
    return note.lead


def set_next_contact(user, record, when: datetime | None, *, now: datetime | None = None) -> None:
    """A follow-up's "next contact" (下次联系时间) on its customer, opportunity or lead.

    - A time (typed in the user's zone) becomes the record's next contact; it must be later
      than now, and only someone who may edit the record sets it (RuleError on
      `next_contact_at` otherwise).
    - No time: the follow-up was the contact that was due, so a next contact already due
      (at or before now) is cleared; one still ahead stays.
    """
    now = now or utcnow()
    if when is None:
        if record.next_contact_at is not None and record.next_contact_at <= now:
            record.next_contact_at = None
        return
    can_edit = (can_edit_opportunity if isinstance(record, Opportunity)
                else can_edit_lead if isinstance(record, Lead) else can_edit_customer)
    if not can_edit(user, record):
        raise RuleError(_l("Only someone who may edit this record can plan its next contact."),
                        field="next_contact_at")
    when = user_time_to_utc(when)
    if when <= now:
        raise RuleError(_l("The next contact must be later than now."), field="next_contact_at")
    record.next_contact_at = when
