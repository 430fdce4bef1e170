"""A job's page (/jobs/<id>), its status block polled by htmx while the job is queued or
running, and the file a job made (its owner only)."""
from pathlib import Path

from flask import Blueprint, abort, current_app, send_file
from flask_login import current_user

from crm.htmx import block_for, render
from crm.jobs.queries import job_or_404, page_context
from crm.permissions import can_download_job_file

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

SHOW = "jobs/show.html"
PAGE_BLOCKS = {"job-status": "job_status"}


@bp.route("/<int:job_id>")
def show(job_id: int):
    """The job: status, a progress bar, rows done / total, the result or the error, the file."""
    job = job_or_404(job_id)
    return render(SHOW, block_for(PAGE_BLOCKS), **page_context(job))


@bp.route("/<int:job_id>/download")
def download(job_id: int):
    """The file the job made, to its owner only (an admin sees the page, not the file)."""
    job = job_or_404(job_id)
    if not can_download_job_file(current_user, job):
        abort(403)
    info = job.file if job.status == "done" else None
    if not info:
        abort(404)
    instance = Path(current_app.instance_path).resolve()
    path = (instance / info["path"]).resolve()
    if instance not in path.parents or not path.is_file():
        abort(404)  # removed since, or a path that leaves the instance folder
    return send_file(path, mimetype=info.get("mimetype"), as_attachment=True,
                     download_name=info.get("filename") or path.name)
