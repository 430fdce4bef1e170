"""Running an export: the rows of a list's filter in chunks, streamed to the browser, or, over
EXPORT_JOB_THRESHOLD rows, written to a file under instance/exports/ by a background job
whose page shows its progress and then the file (to its owner only).

Rows are read as the list reads them (the source's `ids`, the list's own permission-checked
query) with yield_per, and loaded a chunk at a time (the source's `load`): the number of
statements grows with the chunks (CHUNK rows each), never with the rows."""
import os
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from flask import Response, current_app, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from crm.exports.columns import columns_of, converters
from crm.exports.writers import MIMETYPES, csv_bytes, write_xlsx, xlsx_bytes
from crm.extensions import db
from crm.models import utcnow
from crm.tasks.queries import user_zone

EXTENSION = "crm_exports"
FORMATS = ("csv", "xlsx")
CHUNK = 500
# Query arguments of the export itself, not of the list's filter.
OWN_ARGS = ("encoding", "headers", "page", "totals", "more")
EXPORTS_DIR = "exports"


def init_exports(app, sources) -> None:
    """The lists that export, by name (create_app's EXPORT_SOURCES)."""
    app.extensions[EXTENSION] = {source.name: source for source in sources}


def source_named(name: str):
    return current_app.extensions[EXTENSION].get(name)


def list_args(args) -> MultiDict:
    """The list's own filter from an export's query string."""
    return MultiDict([(key, value) for key, value in args.items(multi=True)
                      if key not in OWN_ARGS])


def options_of(args) -> dict:
    """The export's own options: the CSV encoding, and `headers=keys` for the machine names."""
    encoding = args.get("encoding", "utf-8").lower()
    return {"encoding": encoding if encoding in ("utf-8", "gb18030") else "utf-8",
            "headers": "keys" if args.get("headers") == "keys" else "labels"}


def count_up_to(source, args, limit: int) -> int:
    """How many rows the export holds, counting at most limit + 1."""
    ids = source.ids(args).order_by(None).limit(limit + 1).subquery()
    return db.session.execute(select(func.count()).select_from(ids)).scalar_one()


def row_chunks(source, args, columns, chunk: int = CHUNK):
    """The rows (lists of cells), a chunk at a time, as the signed-in user sees them."""
    zone = user_zone()
    result = db.session.execute(source.ids(args).execution_options(yield_per=chunk)).scalars()
    prefetches = list(dict.fromkeys(c.prefetch for c in columns if c.prefetch is not None))
    convert_all = converters(columns, zone)
    for ids in result.partitions(chunk):
        records = source.load(list(ids))
        for prefetch in prefetches:
            prefetch(records)
        yield [[convert(record) for convert in convert_all] for record in records]
        # The chunk is written: the session's identity map holds its (unchanged) records
        # weakly, so they go with `records`; expunging each one cascaded through its
        # relationships and cost ~10 % of a big export.


def header_of(columns, headers: str) -> list[str]:
    return [column.key if headers == "keys" else str(column.label) for column in columns]


def file_name(source, fmt: str) -> str:
    """customers-2026-12-03.csv (the day in the user's zone)."""
    return f"{source.name}-{utcnow().astimezone(user_zone()).date().isoformat()}.{fmt}"


def _mimetype(fmt: str, encoding: str) -> str:
    if fmt == "csv":
        return f"text/csv; charset={encoding}"
    return MIMETYPES[fmt]


def streamed(source, fmt: str, args, options: dict) -> Response:
    """The export as a download, written while the rows are read."""
    columns = columns_of(source)
    header = header_of(columns, options["headers"])
    chunks = row_chunks(source, args, columns)
    if fmt == "csv":
        body = csv_bytes(header, chunks, options["encoding"])
    else:
        body = xlsx_bytes(header, chunks, str(source.label))
    response = Response(stream_with_context(body), mimetype=_mimetype(fmt, options["encoding"]))
    response.headers.set("Content-Disposition", "attachment", filename=file_name(source, fmt))
    return response


def job_params(source, fmt: str, args, options: dict, back: str) -> dict:
    """What an export job is asked: the list, the format, its filter and options."""
    return {"list": source.name, "format": fmt, "query": urlencode(list(args.items(multi=True))),
            **options, "back": back}


def run_export_job(job, report) -> dict:
    """An export job's work (crm.jobs.runner runs it as its user): the file under
    instance/exports/, its rows counted as they are written."""
    params = job.params
    source = source_named(params["list"])
    if source is None:
        raise ValueError(f"no export of {params['list']}")
    fmt = params["format"] if params.get("format") in FORMATS else "csv"
    args = MultiDict(parse_qsl(params.get("query", ""), keep_blank_values=True))
    columns = columns_of(source)
    header = header_of(columns, params.get("headers", "labels"))
    total = db.session.execute(select(func.count()).select_from(
        source.ids(args).order_by(None).subquery())).scalar_one()
    report(0, total)

    written = {"rows": 0}

    def counted(chunks):
        for rows in chunks:
            yield rows
            written["rows"] += len(rows)
            report(written["rows"])

    directory = Path(current_app.instance_path) / EXPORTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{job.id}-{secrets.token_hex(8)}.{fmt}"
    partial = directory / (name + ".part")
    chunks = counted(row_chunks(source, args, columns))
    try:
        if fmt == "csv":
            with open(partial, "wb") as out:
                for piece in csv_bytes(header, chunks, params.get("encoding", "utf-8")):
                    out.write(piece)
        else:
            write_xlsx(partial, header, chunks, str(source.label))
        os.replace(partial, directory / name)
    finally:
        if partial.exists():
            partial.unlink()
    return {"rows": written["rows"], "file": {"path": f"{EXPORTS_DIR}/{name}",
                                    "filename": file_name(source, fmt),
                                    "mimetype": _mimetype(fmt, params.get("encoding", "utf-8"))}}


def export_job_title(job) -> str:
    """The job page's title: "Export: Customers (CSV)"."""
    params = job.params or {}
    source = source_named(params.get("list", ""))
    label = str(source.label) if source is not None else params.get("list", "")
    return _("Export: %(list)s (%(format)s)", list=label,
             format="Excel" if params.get("format") == "xlsx" else "CSV")


def purge_old_files() -> str:
    """Delete the export files older than EXPORT_KEEP_DAYS (a periodic task): their jobs'
    pages then say the file is gone."""
    days = current_app.config["EXPORT_KEEP_DAYS"]
    directory = Path(current_app.instance_path) / EXPORTS_DIR
    cutoff = time.time() - days * 86400
    removed = 0
    for path in directory.glob("*") if directory.is_dir() else ():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return f"removed {removed} export file(s) older than {days} days"
