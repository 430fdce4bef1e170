"""The writes of follow-up notes: adding one to a customer, contact or opportunity, and
changing one. Nothing here commits: the route ends the unit of work."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask_babel import get_timezone

from crm.extensions import db
from crm.models import Note, utcnow


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
             customer=None, contact=None, opportunity=None) -> Note:
    """Record a note; one on a contact or opportunity also belongs to its customer. The time
    is the user's (empty: now); a note on an opportunity is activity on it."""
    if opportunity is not None and customer is None:
        customer = opportunity.customer
    if contact is not None and customer is None:
        customer = contact.customer
    note = Note(kind=kind, body=body.strip(), happened_at=user_time_to_utc(happened_at),
                author=author, customer=customer, contact=contact, opportunity=opportunity)
    db.session.add(note)
    if opportunity is not None:
        opportunity.last_activity_at = utcnow()
    return note


def update_note(note: Note, *, kind: str, body: str, happened_at: datetime | None) -> Note:
    """Change a note's kind, text and time (typed in the user's zone; empty keeps the time)."""
    note.kind = kind
    note.body = body.strip()
    if happened_at:
        note.happened_at = user_time_to_utc(happened_at)
    return note
