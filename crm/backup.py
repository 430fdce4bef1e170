"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore."""
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from crm.extensions import db


class BackupError(Exception):
    pass


def default_backup_path(instance_dir: Path, dialect: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    suffix = "sqlite3" if dialect == "sqlite" else "dump"
    return Path(instance_dir) / "backups" / f"crm-{stamp}.{suffix}"


def _libpq_url(url) -> str:
    """pg_dump wants postgresql://, without SQLAlchemy's driver name."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def backup(target: Path) -> Path:
    """Write a consistent copy of the live database to `target` while the app keeps running."""
    url = make_url(db.engine.url)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database)
        try:
            destination = sqlite3.connect(target)
            with destination:
                source.backup(destination)
            destination.close()
        finally:
            source.close()
    elif url.get_backend_name() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target), _libpq_url(url)])
    else:
        raise BackupError(f"backups are not supported for {url.get_backend_name()}")
    return target


def restore(source: Path) -> None:
    """Replace the database's content with the backup's (the app should be stopped)."""
    url = make_url(db.engine.url)
    source = Path(source)
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    db.session.remove()
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        backup_db = sqlite3.connect(source)
        live = sqlite3.connect(url.database)
        try:
            with live:
                backup_db.backup(live)
        finally:
            backup_db.close()
            live.close()
    elif url.get_backend_name() == "postgresql":
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--dbname", _libpq_url(url), str(source)])
    else:
        raise BackupError(f"restore is not supported for {url.get_backend_name()}")


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: apt-get install postgresql-client)")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")
