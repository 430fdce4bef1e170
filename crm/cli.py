"""Command-line tools: `flask --app app crm ...` (create-user, demo, backup, restore; the
trash's purge, the job worker and run-schedules are added by create_app), and `python app.py`
(migrate, then serve, with a background-job worker thread)."""
import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_babel import force_locale
from flask_migrate import upgrade
from sqlalchemy import inspect

from crm.auth.passwords import password_problem
from crm.auth.services import create_user
from crm.backup import BackupError, backup, default_backup_path, restore
from crm.demo import DemoError, load_demo
from crm.extensions import db
from crm.jobs.runner import start_consumer_thread
from crm.models import User
from crm.pipelines.services import ensure_defaults
from crm.leads.services import ensure_defaults as ensure_lead_defaults
from crm.pools.services import ensure_defaults as ensure_pool_defaults

cli_group = AppGroup("crm", help="CRM administration commands.")


@cli_group.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "sales"]), default="sales")
@click.option("--language", type=click.Choice(["zh_CN", "en"]), default="zh_CN")
@click.option("--timezone", "tz", default="Asia/Shanghai")
@with_appcontext
def create_user_command(email, name, password, role, language, tz):
    """Create a user (the first admin, for instance)."""
    if User.by_email(email):
        raise click.ClickException(f"A user with the email {email} already exists.")
    with force_locale(language):  # the reason in the new user's language
        problem = password_problem(password, email=email, name=name)
    if problem:
        raise click.ClickException(problem)
    user = create_user(email=email, name=name, password=password, role=role, language=language,
                       timezone=tz)
    ensure_defaults()
    ensure_lead_defaults()
    ensure_pool_defaults()
    db.session.commit()
    click.echo(f"Created {role} {user.email}.")


@cli_group.command("demo")
@click.option("--verbose", is_flag=True,
              help="Also list every demo login and how the data set was read.")
@with_appcontext
def demo_command(verbose):
    """Fill an empty database with a believable demo workspace (migrating it first, as
    `python app.py` does, so it also works on a database nothing has run against yet)."""
    tables = set(inspect(db.engine).get_table_names())
    if not tables or "alembic_version" in tables:  # not a schema made by create_all (tests)
        # Each migration's name is a diagnostic: shown with --verbose only.
        migration_log = logging.getLogger("alembic")
        level = migration_log.level
        if not verbose:
            migration_log.setLevel(logging.WARNING)
        try:
            upgrade_database(current_app._get_current_object())
        finally:
            migration_log.setLevel(level)
    try:
        summary = load_demo(verbose=verbose)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)


@cli_group.command("backup")
@click.option("--output", "output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the backup (default: instance/backups/crm-<time>.*).")
@with_appcontext
def backup_command(output):
    """Back up the database while the app runs (SQLite online backup, or pg_dump)."""
    target = Path(output) if output else default_backup_path(
        Path(current_app.instance_path), db.engine.dialect.name)
    try:
        path = backup(target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backup written to {path}")


@cli_group.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(source, yes):
    """Replace the database's content with a backup (stop the app first)."""
    if not yes:
        click.confirm("This replaces every record in the database with the backup. Go on?",
                      abort=True)
    try:
        restore(source)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored {source}")


def upgrade_database(app) -> None:
    """Apply pending migrations, then make sure the defaults exist."""
    with app.app_context():
        upgrade()
        ensure_defaults()
        ensure_lead_defaults()
        ensure_pool_defaults()
        db.session.commit()


def serve(app) -> None:
    """`python app.py`: migrate, then serve on HOST:PORT."""
    upgrade_database(app)
    host, port = app.config["HOST"], app.config["PORT"]
    # The background jobs' consumer, in a thread (SQLite queue; with REDIS_URL: `crm worker`).
    if start_consumer_thread(app) is not None:
        print(" * Background jobs: a worker runs in this process")
    print(f" * CRM on http://{host}:{port}/  (first visit: create the administrator)")
    app.run(host=host, port=port, debug=False, threaded=True)
