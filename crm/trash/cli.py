"""`flask --app app crm purge-trash`: delete for good what has been in the trash too long."""
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext

from crm.extensions import db
from crm.trash.queries import RETENTION_DAYS
from crm.trash.services import purge_expired


@click.command("purge-trash")
@click.option("--now", "now_text", default=None, metavar="ISO-TIME",
              help="Pretend it is this UTC time (for testing a schedule); default: now.")
@with_appcontext
def purge_trash_command(now_text):
    """Delete for good every batch moved to the trash more than 30 days ago (run daily)."""
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--now") from exc
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
    batches, rows = purge_expired(now)
    db.session.commit()
    click.echo(f"Purged {batches} batch(es) older than {RETENTION_DAYS} days ({rows} rows).")
