"""`flask --app app crm purge-trash`: delete for good what has been in the trash too long."""
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext

from crm.extensions import db
from crm.fields.services import purge_expired_fields
from crm.trash.queries import RETENTION_DAYS
from crm.trash.services import purge_expired


@click.command("purge-trash")
@click.option("--now", "now_text", default=None, metavar="ISO-TIME",
              help="Pretend it is this UTC time (for testing a schedule); default: now.")
@with_appcontext
def purge_trash_command(now_text):
    """Delete for good every batch moved to the trash more than 30 days ago, and every custom
    field deleted as long ago, its values and index with it (run daily)."""
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--now") from exc
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
    batches, rows = purge_expired(now)
    fields = purge_expired_fields(now)  # custom fields deleted as long ago (crm.fields)
    db.session.commit()
    click.echo(f"Purged {batches} batch(es) older than {RETENTION_DAYS} days ({rows} rows)"
               f" and {fields} custom field(s).")
