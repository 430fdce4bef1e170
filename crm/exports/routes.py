"""/<list>/export.csv and /<list>/export.xlsx for every list that exports (EXPORT_SOURCES):
the list's own query string decides the rows. A small export downloads at once, streamed; a
large one (over EXPORT_JOB_THRESHOLD rows) becomes a job, and the browser goes to its page."""
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, request, url_for
from flask_login import current_user

from crm.exports import services
from crm.extensions import db
from crm.htmx import redirect_to
from crm.jobs.runner import enqueue
from crm.jobs.services import create_job

bp = Blueprint("exports", __name__)


@bp.route("/<list_name>/export.<fmt>")
def export(list_name: str, fmt: str):
    """The list's current filter as CSV (?encoding=gb18030 for Chinese Excel; UTF-8 with a BOM
    by default) or XLSX; ?headers=keys: the machine names as the header row."""
    source = services.source_named(list_name)
    if source is None or fmt not in services.FORMATS:
        abort(404)
    args = services.list_args(request.args)
    options = services.options_of(request.args)
    threshold = current_app.config["EXPORT_JOB_THRESHOLD"]
    # Counting runs the list's own query: a filter the list refuses (403) refuses the export.
    if services.count_up_to(source, args, threshold) > threshold:
        query = urlencode(list(args.items(multi=True)))
        back = request.path.rsplit("/export.", 1)[0] + (f"?{query}" if query else "")
        job = create_job("export", current_user,
                         params=services.job_params(source, fmt, args, options, back))
        db.session.commit()
        enqueue(job)
        return redirect_to(url_for("jobs.show", job_id=job.id))
    return services.streamed(source, fmt, args, options)


@bp.app_template_global()
def export_query(args, drop=()) -> str:
    """A list page's query string as its export links carry it (no page number; without the
    arguments in `drop`, a filter the list ignored)."""
    return urlencode([(key, value) for key, value in services.list_args(args).items(multi=True)
                      if key not in drop])
