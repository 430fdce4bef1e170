"""A job's page (/jobs/<id>), its status block polled by htmx while the job is queued or
running, and the file a job made (its owner only)."""
from flask import Blueprint, abort, send_file
from flask_login import current_user

from crm.htmx import block_for, render
from crm.jobs.queries import job_file_path, job_or_404, page_context
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
    path = job_file_path(job) if info else None
    if path is None or not path.is_file():
        abort(404)  # deleted since (EXPORT_KEEP_DAYS), or a path that leaves the instance folder
    return send_file(path, mimetype=info.get("mimetype"), as_attachment=True,
                     download_name=info.get("filename") or path.name)
