"""/import: upload a file, map its columns, preview, run as a job, and the import's page
(progress, counts, rejected rows to download, resume, undo)."""
import secrets
import tempfile
from pathlib import Path

from flask import (Blueprint, abort, current_app, flash, redirect, request, send_file,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from crm.extensions import db
from crm.htmx import block_for, redirect_to, render
from crm.imports import queries, services
from crm.imports.forms import MappingForm, UploadForm, column_choices
from crm.imports.kinds import KINDS, suggest
from crm.imports.readers import (ENCODING_LABELS, MAX_UPLOAD, FileRefused, check_start,
                                 inspect_file, read_header)
from crm.imports.run import prepare_run, scan
from crm.jobs.runner import enqueue
from crm.jobs.services import create_job
from crm.models import ImportBatch
from crm.permissions import can_import, can_undo_import
from crm.rules import RuleError

bp = Blueprint("imports", __name__, url_prefix="/import")

INDEX, MAP, PREVIEW, SHOW = ("imports/index.html", "imports/map.html", "imports/preview.html",
                             "imports/show.html")
PAGE_BLOCKS = {"import-status": "import_status"}
COPY_CHUNK = 1024 * 1024


def _require_import():
    if not can_import(current_user):
        abort(403)


def _index(form, status=200, error=None):
    return render(INDEX, status=status, form=form, error=error,
                  imports=queries.recent_imports(current_user), status_label=queries.status_label)


def _save_upload(storage) -> tuple[Path, int]:
    """Copy the upload (werkzeug spooled it to a temporary file) under instance/imports/, a
    megabyte at a time; refuse past MAX_UPLOAD."""
    directory = Path(current_app.instance_path) / services.IMPORTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{secrets.token_hex(12)}.upload"
    size = 0
    try:
        with open(target, "wb") as out:
            while piece := storage.stream.read(COPY_CHUNK):
                size += len(piece)
                if size > MAX_UPLOAD:
                    raise FileRefused(_("The file is larger than 50 MB."))
                out.write(piece)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, size


@bp.route("", methods=["GET", "POST"])
def index():
    """The upload form and the user's recent imports."""
    _require_import()
    request.max_content_length = MAX_UPLOAD + 1024 * 1024
    try:
        form = UploadForm(kind=request.args.get("kind") if request.method == "GET" else None)
    except RequestEntityTooLarge:
        return _index(UploadForm(formdata=None), 422, _("The file is larger than 50 MB."))
    if request.method == "GET":
        return _index(form)
    if not form.validate():
        return _index(form, 422)
    storage = form.file.data
    filename = (storage.filename or "file").rsplit("/", 1)[-1][:200]
    try:
        path, size = _save_upload(storage)
    except FileRefused as refused:
        return _index(form, 422, str(refused))
    try:
        layout = inspect_file(path, filename)
        header = read_header(path, layout)
        check_start(path, layout)
    except FileRefused as refused:
        path.unlink(missing_ok=True)
        return _index(form, 422, str(refused))
    imp = ImportBatch(user_id=current_user.id, kind=form.kind.data, filename=filename,
                      path=f"{services.IMPORTS_DIR}/{path.name}", fmt=layout.fmt, size=size,
                      encoding=layout.encoding, detected_encoding=layout.encoding,
                      delimiter=layout.delimiter, sheet=layout.sheet, header=header,
                      header_hash=services.header_hash(header), batch=services.new_batch(),
                      status="draft")
    imp.report = {"sheets": list(layout.sheets)} if layout.sheets else None
    db.session.add(imp)
    db.session.commit()
    return redirect_to(url_for("imports.mapping", import_id=imp.id))


def _draft_or_404(import_id: int) -> ImportBatch:
    imp = queries.import_or_404(import_id)
    if imp.status != "draft":
        abort(redirect(url_for("imports.show", import_id=imp.id)))
    return imp


def _mapping_form(imp: ImportBatch, formdata=None):
    form = MappingForm(formdata=formdata, encoding=imp.encoding or "utf-8",
                       delimiter=imp.delimiter or ",", sheet=imp.sheet, on_match=imp.on_match,
                       mode=imp.mode)
    form.sheet.choices = [(s, s) for s in ((imp.report or {}).get("sheets") or [])]
    return form


def _map_page(imp, form, mapping, status=200, error=None):
    kind = KINDS[imp.kind]
    targets = kind.targets(current_user)
    return render(MAP, status=status, imp=imp, form=form, mapping=mapping, error=error,
                  choices=column_choices(targets), kind=kind,
                  required=[t for t in targets if t.required])


@bp.route("/<int:import_id>/map", methods=["GET", "POST"])
def mapping(import_id: int):
    """Which field each column goes to (remembered per file layout), the file's encoding,
    delimiter or sheet, and what a match does."""
    imp = _draft_or_404(import_id)
    kind = KINDS[imp.kind]
    if request.method == "GET":
        mapping = services.remembered_mapping(imp.kind, imp.header_hash) or \
            suggest(kind, imp.header, current_user)
        return _map_page(imp, _mapping_form(imp), mapping)
    form = _mapping_form(imp, request.form)
    mapping = {str(i): request.form.get(f"col_{i}", "") for i in range(len(imp.header))}
    if not form.validate():
        return _map_page(imp, form, mapping, 422)
    reading = (form.encoding.data, form.delimiter.data, form.sheet.data)
    if reading != (imp.encoding, imp.delimiter, imp.sheet) and request.form.get("reread"):
        imp.encoding, imp.delimiter = form.encoding.data, form.delimiter.data
        if form.sheet.data:
            imp.sheet = form.sheet.data
        try:
            services.reread_header(imp)
        except FileRefused as refused:
            db.session.rollback()
            return _map_page(imp, form, mapping, 422, str(refused))
        db.session.commit()
        return redirect_to(url_for("imports.mapping", import_id=imp.id))
    try:
        services.save_mapping(imp, mapping, encoding=form.encoding.data,
                              delimiter=form.delimiter.data, sheet=form.sheet.data or None,
                              on_match=form.on_match.data, mode=form.mode.data)
    except RuleError as error:
        db.session.rollback()
        return _map_page(imp, form, mapping, 422, str(error))
    db.session.commit()
    return redirect_to(url_for("imports.preview", import_id=imp.id))


@bp.route("/<int:import_id>/preview")
def preview(import_id: int):
    """The first rows as they will be saved, each with its problems, and the whole file's
    counts; nothing is written."""
    imp = _draft_or_404(import_id)
    if not imp.mapping:
        return redirect_to(url_for("imports.mapping", import_id=imp.id))
    try:
        scanned = scan(imp, current_user)
    except FileRefused as refused:
        return _map_page(imp, _mapping_form(imp), imp.mapping, 422, str(refused))
    return render(PREVIEW, imp=imp, kind=KINDS[imp.kind], **scanned)


@bp.route("/<int:import_id>/run", methods=["POST"])
def run(import_id: int):
    """Start (or resume) the import as a background job."""
    imp = queries.import_or_404(import_id)
    resuming = imp.status == "failed"
    if imp.status not in ("draft", "failed") or not imp.mapping:
        return redirect_to(url_for("imports.show", import_id=imp.id))
    try:
        total = request.form.get("total", type=int)
        prepare_run(imp, current_user, total if total is not None and total >= 0 else None)
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect_to(url_for("imports.show", import_id=imp.id))
    job = create_job("import", current_user, params={
        "import_id": imp.id, "kind": imp.kind, "resumed": resuming,
        "back": url_for("imports.show", import_id=imp.id)}, total=imp.total_rows)
    imp.job_id = job.id
    db.session.commit()
    enqueue(job)
    return redirect_to(url_for("imports.show", import_id=imp.id))


@bp.route("/<int:import_id>")
def show(import_id: int):
    """The import: its progress while it runs, then its counts, its rejected rows, undo."""
    imp = queries.import_or_404(import_id)
    if imp.status == "draft":
        return redirect(url_for("imports.mapping", import_id=imp.id))
    return render(SHOW, block_for(PAGE_BLOCKS), **queries.page_context(imp, current_user))


@bp.route("/<int:import_id>/rejected.csv")
def rejects(import_id: int):
    """The rejected rows in the file's own layout, with the reason last."""
    imp = queries.import_or_404(import_id)
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # to disk past a megabyte
    for piece in queries.rejects_csv(imp):
        spool.write(piece)
    spool.seek(0)
    return send_file(spool, mimetype="text/csv", as_attachment=True,
                     download_name=queries.reject_filename(imp))


@bp.route("/<int:import_id>/undo", methods=["POST"])
def undo(import_id: int):
    """Every record the import created goes to the trash, as one batch."""
    imp = queries.import_or_404(import_id)
    if not can_undo_import(current_user, imp):
        abort(403)
    try:
        moved = services.undo(imp, current_user)
    except RuleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect_to(url_for("imports.show", import_id=imp.id))
    db.session.commit()
    flash(_("%(count)s records went to the trash together; restore them from the trash.",
            count=moved), "success")
    return redirect_to(url_for("imports.show", import_id=imp.id))


@bp.app_template_filter("import_kind")
def import_kind(name: str) -> str:
    kind = KINDS.get(name)
    return str(kind.label) if kind else name


@bp.app_template_filter("encoding_label")
def encoding_label(name: str | None) -> str:
    return ENCODING_LABELS.get(name or "", name or "")


@bp.app_template_filter("import_action")
def import_action(action: str) -> str:
    return str(queries.ACTION_LABELS.get(action, action))


@bp.app_template_global("import_value")
def import_value(value, target, user_names) -> str:
    return queries.shown_value(value, target, user_names)
