"""`flask --app app crm worker` (the huey consumer production runs beside gunicorn) and
`flask --app app crm run-schedules` (every periodic task once, now)."""
import click
from flask import current_app
from flask.cli import with_appcontext

from crm.jobs.runner import create_consumer, jobs_of, run_schedule


@click.command("worker")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=None,
              help="Jobs run at the same time (default: JOB_WORKERS, 2).")
@click.option("--worker-type", type=click.Choice(["thread", "process"]), default="thread",
              help="Threads (default) or processes.")
@with_appcontext
def worker_command(workers, worker_type):
    """Run the background jobs and the periodic tasks until stopped (SIGINT/SIGTERM)."""
    app = current_app._get_current_object()
    if jobs_of(app).huey.immediate:
        raise click.ClickException("JOBS_IMMEDIATE is set: jobs run where they are asked for.")
    consumer = create_consumer(app, workers=workers, worker_type=worker_type)
    click.echo(f"Worker: {consumer.workers} {worker_type}(s), queue in "
               f"{'Redis' if app.config.get('REDIS_URL') else 'instance/huey.sqlite3'}.")
    consumer.run()


@click.command("run-schedules")
@click.option("--only", "names", multiple=True, metavar="NAME",
              help="Run only this periodic task (repeatable).")
@with_appcontext
def run_schedules_command(names):
    """Run every periodic task once, now (the trash purge, ...)."""
    app = current_app._get_current_object()
    schedules = jobs_of(app).schedules
    known = {schedule.name for schedule in schedules}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.BadParameter(f"unknown: {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                                 param_hint="--only")
    for schedule in schedules:
        if names and schedule.name not in names:
            continue
        click.echo(f"{schedule.name}: {run_schedule(app, schedule)}")
