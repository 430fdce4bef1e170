"""Helpers shared by the models: the UTC datetime column type, and the names of built-in rows."""
from datetime import datetime, timezone

from sqlalchemy import DateTime, TypeDecorator


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(timezone.utc)


def shown_name(name: str | None, key: str | None, built_in: dict) -> str:
    """A row's name as shown: the stored one; for a built-in row not renamed (no name, a key)
    its name in the user's language from `built_in` (key -> lazy string); else ''."""
    if name:
        return name
    label = built_in.get(key or "")
    return str(label) if label is not None else ""


class UTCDateTime(TypeDecorator):
    """A datetime stored in UTC and always handed back timezone-aware.

    SQLite keeps no zone; PostgreSQL keeps it. Either way the application sees an
    aware UTC datetime and the templates convert it to the user's zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
