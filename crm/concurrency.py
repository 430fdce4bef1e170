"""No lost updates: optimistic concurrency for the edit forms and the stage moves.

Every edit form carries the token of the record it was loaded with (hidden field `version`):
the integer `version` column of customers, contacts and opportunities, or `updated_at` for
notes, which have no version column. Saving first *claims* the record with one atomic
statement,

    UPDATE <table> SET version = version + 1 WHERE id = :id AND version = :loaded

and only then writes the form's values, in the same transaction. No row updated means
someone else saved first: the caller rolls back and answers 409 with the form again, the
user's input kept and, for each field whose stored value differs from what they typed,
both values side by side (`conflict_for`, templates/_conflict.html). Nothing is ever
overwritten silently; the user applies their values on top by saving again, which sends
the new token.

The UPDATE takes the row's write lock (a row lock on PostgreSQL, the database's write lock
on SQLite), so of several saves with the same token exactly one wins, however close together
they arrive. A request without a token (an old client, the API) is serialised the same way
but never refused: it applies on top of whatever was saved before it.

Why not SQLAlchemy's `version_id_col`: it compares with the version *this request* read,
not the one the form was loaded with, and it would bump the version of every flush of those
tables (bulk moves, trash, imports) behind the back of code that already manages it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from flask import abort, request
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from crm.extensions import db
from crm.l10n import dt, dt_input
from crm.models import AuditEntry, StageChange, utcnow


class Conflict(Exception):
    """Someone else saved the record after the form was loaded (or while this request ran)."""

    def __init__(self, obj, loaded):
        super().__init__(f"{type(obj).__name__} {obj.id} changed since version {loaded!r}")
        self.obj = obj
        self.loaded = loaded


# Tokens ---------------------------------------------------------------------------------------

def submitted_token(name: str = "version") -> str | None:
    """The token the form was loaded with, as posted; None when the client sent none."""
    value = (request.form.get(name) or "").strip()
    return value or None


def parse_version(value) -> int | None:
    """An integer version from a form value; None when missing or not a number."""
    if value in (None, ""):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_timestamp(value) -> datetime | None:
    """An `updated_at` token (ISO 8601, as `timestamp_token` writes it); None when unreadable."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def timestamp_token(value: datetime | None) -> str:
    """The form token of a record versioned by its `updated_at` (to the microsecond)."""
    return value.astimezone(timezone.utc).isoformat() if value is not None else ""


def token_of(obj) -> str:
    """The token an edit form of `obj` carries."""
    if hasattr(obj, "version"):
        return str(obj.version or 1)
    return timestamp_token(obj.updated_at)


# Claiming -------------------------------------------------------------------------------------

def claim(obj, loaded=None) -> None:
    """Take the right to save `obj`: atomically check that its stored token is still `loaded`
    and move it on; raise Conflict when it is not (someone else saved first).

    `loaded` is the token posted with the form (an int version, or an `updated_at` datetime
    or its string for records without a version column). None means the client sent none
    (an old client, the API): the save waits for any other in progress and applies on top
    of it, the object's columns read again. Call it before changing the object (nothing may
    be flushed before it), then change it and commit; roll back on Conflict. The object's
    in-memory token becomes the new one, so what is rendered next carries it.
    """
    model = type(obj)
    if hasattr(model, "version"):
        loaded = parse_version(loaded) if not isinstance(loaded, int) else loaded
        if loaded is None:
            _claim_latest(obj)
            return
        result = db.session.execute(
            update(model).where(model.id == obj.id, model.version == loaded)
            .values(version=model.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise Conflict(obj, loaded)
        set_committed_value(obj, "version", loaded + 1)
        return
    _claim_by_timestamp(obj, loaded)


def _claim_latest(obj) -> None:
    """No token: wait for any save in progress, then take the record as it is now (its
    columns are read again under the lock, so the change applies on top of the latest).

    The version this request read stands for "as it is now" while nobody saved since: the
    claim is then the one conditional UPDATE of a posted token, and nothing needs reading
    again. Only when someone did save in between are the columns read again."""
    model = type(obj)
    state = inspect(obj)
    # As read from the database (not loaded now, nor changed in memory since).
    read = state.dict.get("version") if "version" not in state.committed_state else None
    if read is not None:
        result = db.session.execute(
            update(model).where(model.id == obj.id, model.version == read)
            .values(version=model.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            set_committed_value(obj, "version", read + 1)
            return
    result = db.session.execute(
        update(model).where(model.id == obj.id).values(version=model.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(obj, None)
    db.session.refresh(obj, [attr.key for attr in inspect(model).column_attrs])


def _claim_by_timestamp(obj, loaded) -> None:
    model = type(obj)
    if loaded is None:
        loaded = obj.updated_at
    elif not isinstance(loaded, datetime):
        loaded = parse_timestamp(loaded)
        if loaded is None:  # an unreadable token cannot prove the form is current
            raise Conflict(obj, loaded)
    now = utcnow()
    if obj.updated_at is not None and now <= obj.updated_at:  # the token must move on
        now = obj.updated_at + timedelta(microseconds=1)
    condition = model.updated_at.is_(None) if loaded is None else model.updated_at == loaded
    result = db.session.execute(
        update(model).where(model.id == obj.id, condition).values(updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        # A row written outside the ORM may store the same instant in another text format
        # (SQLite); then the stored value still equals the token and the form is current.
        stored = db.session.execute(
            db.select(model.updated_at).where(model.id == obj.id)).scalar_one_or_none()
        if stored is None or loaded is None or stored != loaded:
            raise Conflict(obj, loaded)
        db.session.execute(update(model).where(model.id == obj.id).values(updated_at=now)
                           .execution_options(synchronize_session=False))
    set_committed_value(obj, "updated_at", now)


# What differs ---------------------------------------------------------------------------------

@dataclass
class Difference:
    """One field whose stored value is not what the user submitted."""

    name: str
    label: str
    mine: str  # what the user typed, as shown
    saved: str  # what is stored now, as shown
    saved_input: str  # the stored value as the form's input takes it ("use this value")
    saved_by: str | None = None
    saved_at: datetime | None = None


@dataclass
class ConflictView:
    """What templates/_conflict.html shows."""

    message: str
    differences: list[Difference] = field(default_factory=list)
    saved_by: str | None = None
    saved_at: datetime | None = None
    discard_url: str | None = None
    discard_hx: dict | None = None  # hx-get/hx-target/hx-swap of the discard link, inline forms
    token: str = ""


def _normalised(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, (list, tuple)):
        return tuple(_normalised(v) for v in value) or None
    return value


def _same(mine, saved) -> bool:
    mine, saved = _normalised(mine), _normalised(saved)
    if mine is None or saved is None:
        return mine is None and saved is None
    if isinstance(mine, bool) or isinstance(saved, bool):
        return bool(mine) == bool(saved)
    if isinstance(mine, (Decimal, int, float)) or isinstance(saved, (Decimal, int, float)):
        try:
            return Decimal(str(mine)) == Decimal(str(saved))
        except InvalidOperation:
            return str(mine) == str(saved)
    if isinstance(mine, (date, datetime)) or isinstance(saved, (date, datetime)):
        return str(mine) == str(saved)
    return str(mine) == str(saved)


def _choice_label(form_field, value) -> str | None:
    choices = getattr(form_field, "choices", None)
    if not choices:
        return None
    items = []
    if isinstance(choices, dict):  # grouped choices: {group: [(value, label), ...]}
        for group in choices.values():
            items.extend(group)
    else:
        items = list(choices)
    for item in items:
        key, label = item[0], item[1]
        if str(key) == str(value):
            return str(label)
    return None


def shown(form_field, value) -> str:
    """A value as the user reads it: the label of a choice, a formatted number or date."""
    value = _normalised(value)
    if value is None:  # a select's empty choice has a name ("— Nobody —")
        label = _choice_label(form_field, "") if form_field is not None else None
        return label if label not in (None, "—") else ""
    if form_field is not None and form_field.type == "BooleanField":
        return _("Yes") if value else _("No")
    if form_field is not None:
        label = _choice_label(form_field, value)
        if label is not None:
            return label
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, Decimal):
        return format_decimal(value, "#,##0.00")
    if isinstance(value, datetime):
        return dt(value, "short")
    if isinstance(value, date):
        return format_date(value, "medium")
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value if v is not None)
    return str(value)


def as_input(value) -> str:
    """A stored value as a form input holds it."""
    value = _normalised(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "y" if value else ""
    if isinstance(value, datetime):  # a datetime-local input, in the user's zone
        return dt_input(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value if v is not None)
    return str(value)


def differences(form, obj, fields, *, submitted=None, stored=None,
                labels=None) -> list[Difference]:
    """The fields (names of both the form and the model) whose stored value differs from
    what was submitted. `submitted` / `stored` map a name to a value (or, for `stored`, a
    function called now) that overrides the form's data / the object's attribute, for
    computed fields such as a list of names."""
    submitted = submitted or {}
    stored = stored or {}
    found = []
    for name in fields:
        form_field = form[name] if name in form else None
        mine = submitted[name] if name in submitted else (
            form_field.data if form_field is not None else None)
        saved = stored[name] if name in stored else getattr(obj, name, None)
        if callable(saved):
            saved = saved()
        if _same(mine, saved):
            continue
        label = (labels or {}).get(name) or (
            str(form_field.label.text) if form_field is not None else name)
        found.append(Difference(name=name, label=label, mine=shown(form_field, mine),
                                saved=shown(form_field, saved), saved_input=as_input(saved)))
    return found


def last_changes(obj, names) -> tuple[dict[str, tuple[str | None, datetime]], tuple | None]:
    """Who changed each of `names` last and when, from the audit trail (one query), and the
    record's latest change overall as (who, when); empty when nothing was recorded."""
    entries = db.session.execute(
        db.select(AuditEntry).options(joinedload(AuditEntry.user))
        .where(AuditEntry.entity == type(obj).__tablename__, AuditEntry.entity_id == obj.id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(200)
    ).scalars().all()
    per_field: dict[str, tuple[str | None, datetime]] = {}
    for entry in entries:
        if entry.field in names and entry.field not in per_field:
            per_field[entry.field] = (entry.user.name if entry.user else None, entry.at)
    latest = None
    if entries:
        latest = (entries[0].user.name if entries[0].user else None, entries[0].at)
    return per_field, latest


CONFLICT_MESSAGES = {
    "customers": _l("Someone else saved this customer while you were editing it."),
    "contacts": _l("Someone else saved this contact while you were editing it."),
    "opportunities": _l("Someone else saved this opportunity while you were editing it."),
    "notes": _l("Someone else saved this note while you were editing it."),
}


def form_fields(form, obj) -> list[str]:
    """The form's fields that are columns or attributes of the record (not the token)."""
    model = type(obj)
    return [f.name for f in form if f.name not in ("csrf_token", "version") and hasattr(model, f.name)]


def conflict_for(form, obj, fields=None, *, message: str | None = None, submitted=None,
                 stored=None, labels=None, discard_url: str | None = None,
                 discard_hx: dict | None = None) -> ConflictView:
    """Everything a 409 answer shows, after the caller rolled back: the stored values (read
    again), what differs, who saved last and when. The form's hidden `version` becomes the
    stored token, so saving again applies the user's values on top of the other save."""
    try:
        db.session.refresh(obj)
    except InvalidRequestError:  # deleted meanwhile
        abort(404)
    if fields is None:
        fields = form_fields(form, obj)
    if message is None:
        message = str(CONFLICT_MESSAGES.get(type(obj).__tablename__, _("Someone else saved this while you were editing it.")))
    found = differences(form, obj, fields, submitted=submitted, stored=stored, labels=labels)
    per_field, latest = last_changes(obj, {d.name for d in found})
    saved_by, saved_at = latest if latest else (None, getattr(obj, "updated_at", None))
    for difference in found:
        who, when = per_field.get(difference.name, (saved_by, saved_at))
        difference.saved_by, difference.saved_at = who, when
    token = token_of(obj)
    if "version" in form:
        form.version.data = token
    return ConflictView(message=message, differences=found, saved_by=saved_by, saved_at=saved_at,
                        discard_url=discard_url, discard_hx=discard_hx, token=token)


# Stage moves ----------------------------------------------------------------------------------

def stale_move_message(opportunity) -> str:
    """Why a stage move was refused: who changed the opportunity meanwhile (its latest stage
    change or audit entry), and where it is now."""
    change = db.session.execute(
        db.select(StageChange).where(StageChange.opportunity_id == opportunity.id)
        .order_by(StageChange.changed_at.desc(), StageChange.id.desc()).limit(1)
    ).scalar_one_or_none()
    latest = last_changes(opportunity, set())[1]
    who = when = None
    if change is not None:
        who, when = (change.user.name if change.user else None), change.changed_at
    if latest is not None and latest[0] and (when is None or latest[1] > when):
        who, when = latest  # a later edit of other fields, by someone known
    stage = opportunity.stage.display_name if opportunity.stage else ""
    if who:
        return _("%(who)s changed %(title)s while you were looking at it: it is in %(stage)s now. "
                 "Nothing was moved; move it again if you still want to.",
                 who=who, title=opportunity.title, stage=stage)
    return _("Someone else changed %(title)s while you were looking at it: it is in %(stage)s now. "
             "Nothing was moved; move it again if you still want to.",
             title=opportunity.title, stage=stage)
