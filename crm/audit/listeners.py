"""The one place that records changes automatically: a session listener.

`before_flush` reads, for every audited object the flush will write, what changes: each
column (old → new as text, foreign keys as readable names), many-to-many collections (a
customer's tags, who a record is shared with) as old → new lists, an opportunity's
competitors as one list, soft deletes (deleted_at set: "delete"; cleared: "restore") and hard
deletes ("delete", or "purge" when the row was already in the trash). New rows have no id
before the flush, so their "create" entries are written in `after_flush`, together with the
rest, in one INSERT.

Which models are audited is the list AUDITED_MODELS: leads, quotes and contracts join it
when they exist (a model needs an integer `id` and a `name` or `title` for its label).
Bulk Core statements bypass the ORM: their callers use crm.audit.services.record_* instead.
"""
from __future__ import annotations

from sqlalchemy import Numeric, event, inspect, select
from sqlalchemy.orm import Session

from crm.audit import services
from crm.fields.queries import audit_changes
from crm.models import Competitor, Contact, Customer, Lead, Opportunity

# Every create, update and delete of these is recorded. Add Lead, Quote, Contract here.
AUDITED_MODELS: list[type] = [Customer, Contact, Opportunity, Lead]

# Columns whose changes say nothing to a reader: bookkeeping, caches, derived timestamps.
NOISE_COLUMNS = {"id", "updated_at", "search_index", "version", "last_activity_at",
                 "stage_entered_at", "created_at", "deleted_batch",
                 "last_contact_at",  # a lead's: its latest note's time (the note is the news)
                 "owner_since"}  # the day the owner_id change (audited) happened
SOFT_DELETE_COLUMN = "deleted_at"
CUSTOM_COLUMN = "custom"  # custom field values (crm/fields), recorded per field
STATE_KEY = "_audit_pending"
# Rows in the trash are hidden from ORM queries (crm.trash.filters); the audit reads them too.
EVERY_ROW = {"include_deleted": True}


def _audited(obj) -> bool:
    return isinstance(obj, tuple(AUDITED_MODELS))


def entity_of(obj) -> str:
    return obj.__table__.name


def label_of(obj) -> str | None:
    for name in ("name", "title", "display_name"):
        value = getattr(obj, name, None)
        if value:
            return str(value)
    return None


def _name_of(obj) -> str:
    for name in ("display_name", "name", "title"):
        value = getattr(obj, name, None)
        if value:
            return str(value)
    return f"#{inspect(obj).identity[0]}" if inspect(obj).identity else ""


class _Labels:
    """Readable names of the rows foreign keys point to (owner name, stage name...), looked up
    once per flush: all ids of one kind in one query, rows already in the session for free."""

    def __init__(self, session: Session):
        self.session = session
        self.wanted: dict[type, set[int]] = {}
        self.names: dict[tuple[type, int], str] = {}

    def want(self, model: type, value) -> None:
        if value is not None:
            self.wanted.setdefault(model, set()).add(value)

    def load(self) -> None:
        for model, ids in self.wanted.items():
            missing = []
            for value in ids:
                obj = self.session.identity_map.get(self.session.identity_key(model, value))
                if obj is not None and not inspect(obj).expired:
                    self.names[(model, value)] = _name_of(obj)
                else:
                    missing.append(value)
            if missing:
                for obj in self.session.execute(
                        select(model).where(inspect(model).primary_key[0].in_(missing))
                        .execution_options(**EVERY_ROW)).scalars():
                    self.names[(model, inspect(obj).identity[0])] = _name_of(obj)

    def text(self, model: type, value) -> str | None:
        if value is None:
            return None
        return self.names.get((model, value), f"#{value}")


def _foreign_models(mapper) -> dict[str, type]:
    """Column key -> the mapped class its foreign key points to (users, stages, customers...)."""
    found = {}
    registry = {m.local_table.name: m.class_ for m in mapper.registry.mappers}
    for column_attr in mapper.column_attrs:
        column = column_attr.columns[0]
        for fk in column.foreign_keys:
            model = registry.get(fk.column.table.name)
            if model is not None:
                found[column_attr.key] = model
    return found


def _column_changes(session, obj, labels: _Labels) -> list[tuple[str, object, object, type | None]]:
    """(column key, old, new, referenced model) of each changed column of a persistent object.

    An attribute set while unloaded has no old value in its history: read it from the
    database (still unchanged, before the flush)."""
    state = inspect(obj)
    mapper = state.mapper
    foreign = _foreign_models(mapper)
    changes = []
    unknown = []
    for column_attr in mapper.column_attrs:
        key = column_attr.key
        if key in NOISE_COLUMNS:
            continue
        history = state.attrs[key].history
        if not history.added:
            continue
        if history.deleted:
            old = history.deleted[0]
        elif history.unchanged:
            continue
        else:
            unknown.append(key)
            old = None
        changes.append([key, old, history.added[0], foreign.get(key)])
    if unknown and state.identity:
        columns = [mapper.column_attrs[key].columns[0] for key in unknown]
        stored = session.execute(select(*columns).where(
            mapper.primary_key[0] == state.identity[0]).execution_options(**EVERY_ROW)).first()
        if stored is not None:
            values = dict(zip(unknown, stored))
            for change in changes:
                if change[0] in values:
                    change[1] = values[change[0]]
    for key, old, new, model in changes:
        if model is not None:
            labels.want(model, old)
            labels.want(model, new)
    return [tuple(change) for change in changes]


def _scale(obj, key: str) -> int | None:
    column = inspect(obj).mapper.column_attrs[key].columns[0]
    return column.type.scale if isinstance(column.type, Numeric) else None


def _collection_changes(obj) -> list[tuple[str, list, list]]:
    """Many-to-many collections (tags, shared_with, related) whose members changed."""
    state = inspect(obj)
    changes = []
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        history = state.attrs[rel.key].history
        if not history.added and not history.deleted:
            continue
        kept = list(history.unchanged or ())
        changes.append((rel.key, kept + list(history.deleted), kept + list(history.added)))
    return changes


def _competitor_text(competitor) -> str:
    notes = (competitor.notes or "").strip()
    return f"{competitor.name} ({notes})" if notes else competitor.name


def _competitor_changes(session, skip_ids: set) -> list[dict]:
    """An opportunity's competitors, added, edited or removed, as one "competitors" change of
    the opportunity: the list before the flush (read from the database) and after it. Nothing
    is recorded when both are equal, as when the edit form re-creates the same rows."""
    touched: dict[int, Opportunity | None] = {}
    gone: set[int] = set()
    edited: dict[int, str] = {}
    added: dict[int, list[str]] = {}
    for obj in session.new:
        if isinstance(obj, Competitor):
            opportunity = obj.__dict__.get("opportunity")
            opp_id = opportunity.id if opportunity is not None else obj.opportunity_id
            if opp_id is not None:
                touched.setdefault(opp_id, opportunity)
                added.setdefault(opp_id, []).append(_competitor_text(obj))
    for obj in session.deleted:
        if isinstance(obj, Competitor) and obj.opportunity_id is not None:
            touched.setdefault(obj.opportunity_id, None)
            gone.add(obj.id)
    for obj in session.dirty:
        if isinstance(obj, Competitor) and obj.opportunity_id is not None \
                and session.is_modified(obj):
            touched.setdefault(obj.opportunity_id, None)
            edited[obj.id] = _competitor_text(obj)
        elif isinstance(obj, Opportunity) and obj.id is not None and "competitors" in obj.__dict__:
            for competitor in inspect(obj).attrs.competitors.history.deleted:
                identity = inspect(competitor).identity
                if identity:  # taken off the list: deleted as an orphan by the flush
                    touched[obj.id] = obj
                    gone.add(identity[0])
    for opp_id in skip_ids:
        touched.pop(opp_id, None)
    if not touched:
        return []
    before: dict[int, dict[int, str]] = {opp_id: {} for opp_id in touched}
    for competitor_id, opp_id, name, notes in session.execute(
            select(Competitor.id, Competitor.opportunity_id, Competitor.name, Competitor.notes)
            .where(Competitor.opportunity_id.in_(list(touched))).order_by(Competitor.id)):
        notes = (notes or "").strip()
        before[opp_id][competitor_id] = f"{name} ({notes})" if notes else name
    changes = []
    for opp_id, opportunity in touched.items():
        after = {cid: edited.get(cid, text) for cid, text in before[opp_id].items() if cid not in gone}
        old = services.tag_list_text(before[opp_id].values())
        new = services.tag_list_text([*after.values(), *added.get(opp_id, [])])
        if old != new:
            opportunity = opportunity or session.get(Opportunity, opp_id)
            changes.append({"entity_id": opp_id, "label": label_of(opportunity), "old": old,
                            "new": new})
    return changes


def before_flush(session: Session, flush_context, instances) -> None:
    """Work out what this flush changes in audited records (ids of new rows come later)."""
    session.info.pop(STATE_KEY, None)
    if session.info.get(services.PAUSE_KEY):
        return
    new_objects = [obj for obj in session.new if _audited(obj)]
    dirty = [obj for obj in session.dirty if _audited(obj) and session.is_modified(obj)]
    deleted = [obj for obj in session.deleted if _audited(obj)]
    has_competitors = any(isinstance(obj, Competitor)
                          for obj in (*session.new, *session.dirty, *session.deleted)) or \
        any(isinstance(obj, Opportunity) for obj in dirty)
    if not (new_objects or dirty or deleted or has_competitors):
        return
    user_id = services.current_user_id()
    labels = _Labels(session)
    rows: list[dict] = []
    pending_updates = []
    for obj in dirty:
        pending_updates.append((obj, _column_changes(session, obj, labels), _collection_changes(obj)))
    labels.load()
    for obj, columns, collections in pending_updates:
        entity, entity_id, label = entity_of(obj), inspect(obj).identity[0], label_of(obj)
        for key, old, new, model in columns:
            if key == SOFT_DELETE_COLUMN:
                if (old is None) != (new is None):
                    rows.append(services.row(entity, entity_id, "delete" if new else "restore",
                                             label=label, user_id=user_id))
                continue
            if key == CUSTOM_COLUMN:  # custom fields: one entry per field, by its label
                for label_then, old_text, new_text in audit_changes(entity, old, new):
                    rows.append(services.row(entity, entity_id, "update", label_then, old_text,
                                             new_text, label, user_id))
                continue
            if model is not None:
                old_text, new_text = labels.text(model, old), labels.text(model, new)
            else:
                scale = _scale(obj, key)
                old_text, new_text = services.as_text(old, scale), services.as_text(new, scale)
            if old_text != new_text:
                rows.append(services.row(entity, entity_id, "update", key, old_text, new_text,
                                         label, user_id))
        for key, old_items, new_items in collections:
            old_text = services.tag_list_text(_name_of(item) for item in old_items)
            new_text = services.tag_list_text(_name_of(item) for item in new_items)
            if old_text != new_text:
                rows.append(services.row(entity, entity_id, "update", key, old_text, new_text,
                                         label, user_id))
    deleted_ids = set()
    for obj in deleted:
        identity = inspect(obj).identity
        if not identity:
            continue
        if isinstance(obj, Opportunity):
            deleted_ids.add(identity[0])
        action = "purge" if getattr(obj, SOFT_DELETE_COLUMN, None) is not None else "delete"
        rows.append(services.row(entity_of(obj), identity[0], action, label=label_of(obj),
                                 user_id=user_id))
    if has_competitors:
        # A new opportunity's competitors are part of its "create"; a deleted one's go with it.
        for change in _competitor_changes(session, deleted_ids):
            rows.append(services.row("opportunities", change["entity_id"], "update", "competitors",
                                     change["old"], change["new"], change["label"], user_id))
    session.info[STATE_KEY] = {"rows": rows, "new": new_objects, "user_id": user_id}


def after_flush(session: Session, flush_context) -> None:
    """New rows have their ids now: add their "create" entries and write everything at once."""
    pending = session.info.pop(STATE_KEY, None)
    if not pending:
        return
    rows = pending["rows"]
    for obj in pending["new"]:
        # The identity key comes after this event; the primary key attribute is set already.
        entity_id = inspect(obj).mapper.primary_key_from_instance(obj)[0]
        if entity_id is not None:
            rows.append(services.row(entity_of(obj), entity_id, "create", label=label_of(obj),
                                     user_id=pending["user_id"]))
    if rows:
        now = services.utcnow()
        for item in rows:
            item["at"] = now
        services.insert_rows(rows, session.connection())


def install() -> None:
    """Listen on every ORM session (idempotent: the app factory may run more than once)."""
    for name, listener in (("before_flush", before_flush), ("after_flush", after_flush),
                           ("after_soft_rollback", _after_soft_rollback)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


def _after_soft_rollback(session: Session, previous_transaction) -> None:
    session.info.pop(STATE_KEY, None)
