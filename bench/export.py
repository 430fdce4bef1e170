"""Export speed (issue 12, section 5): 100,000 customers to XLSX under 30 s, through the UI's
own code path (Flask's test client: GET /customers/export.xlsx; past EXPORT_JOB_THRESHOLD rows
that is a background job, run here inside the request, JOBS_IMMEDIATE, on the same code a
worker runs). The customers are loaded first by bench/import.py's generated GB18030 CSV and
its import run, so the rows carry contacts, tags and two custom fields, as a team's would.

    python bench/export.py                                    # SQLite in a temporary folder
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_export python bench/export.py
    python bench/export.py --rows 20000                       # smaller

Also timed: the same rows as CSV (UTF-8 with BOM), and the XLSX read back with openpyxl
(rows counted) to show the file is whole; and, in the same run, the two XLSX writers alone on
the same rows (the export's first 5,000 rows as cells, cycled to --rows): openpyxl's
write-only workbook as the export used it before (`openpyxl_write_only`, kept here for the
comparison) against crm/exports/xlsx.py. Figures go to stdout as JSON.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
bench_import = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_import)


def _export(app, client, fmt: str) -> tuple[float, Path, int]:
    """Ask for the export as a user does; follow the job to its file."""
    import re
    from crm.extensions import db
    from crm.models import Job
    started = time.perf_counter()
    response = client.get(f"/customers/export.{fmt}")
    if response.status_code == 200:  # under the threshold: streamed in the response
        path = Path(app.instance_path) / f"bench-export.{fmt}"
        path.write_bytes(response.get_data())
        return time.perf_counter() - started, path, -1
    seconds = time.perf_counter() - started
    job_id = int(re.search(r"/jobs/(\d+)", response.headers.get("Location", "")).group(1))
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status == "done", (job.status, job.result)
        return seconds, Path(app.instance_path) / job.result["file"]["path"], job.result["rows"]


def openpyxl_write_only(target, header, chunks, title="Export") -> None:
    """The export's XLSX writer before crm/exports/xlsx.py (openpyxl, write-only mode,
    WriteOnlyCell with a number format for money, dates and times)."""
    from datetime import date, datetime
    from decimal import Decimal

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    head = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", name))
        cell.font = Font(bold=True)
        head.append(cell)
    sheet.append(head)
    styles = ((datetime, "yyyy-mm-dd hh:mm"), (date, "yyyy-mm-dd"), (Decimal, "#,##0.00"))

    def value_of(value):
        if isinstance(value, str):
            return ILLEGAL_CHARACTERS_RE.sub("", value)
        for kind, number_format in styles:
            if isinstance(value, kind):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = number_format
                return cell
        return value
    for rows in chunks:
        for row in rows:
            sheet.append([value_of(value) for value in row])
    book.save(target)


def _writers(app, admin_id: int, rows: int, sample: int = 5000) -> dict:
    """Both XLSX writers on the same cells: the export's first `sample` rows, cycled."""
    from crm.exports.columns import columns_of
    from crm.exports.services import header_of, row_chunks, source_named
    from crm.exports.xlsx import write_xlsx
    from crm.extensions import db
    from crm.jobs.runner import acting_as
    from crm.models import User
    from werkzeug.datastructures import MultiDict
    with app.app_context(), acting_as(app, db.session.get(User, admin_id)):
        source = source_named("customers")
        columns = columns_of(source)
        header = header_of(columns, "labels")
        cells = []
        for chunk in row_chunks(source, MultiDict(), columns):
            cells += chunk
            if len(cells) >= sample:
                break
    cells = cells[:sample]

    def chunks():
        done = 0
        while done < rows:
            part = cells[: min(len(cells), rows - done)]
            for start in range(0, len(part), 500):
                yield part[start:start + 500]
            done += len(part)
    figures = {}
    for name, writer in (("openpyxl_write_only", openpyxl_write_only), ("crm_exports_xlsx", write_xlsx)):
        with tempfile.TemporaryFile() as target:
            started = time.perf_counter()
            writer(target, header, chunks(), "Customers")
            figures[f"{name}_s"] = round(time.perf_counter() - started, 2)
    figures["ratio"] = round(figures["openpyxl_write_only_s"] / max(figures["crm_exports_xlsx_s"], 0.01), 1)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    url, drop = bench_import._database(os.environ.get("DATABASE_URL"))
    instance = tempfile.mkdtemp(prefix="bench-export-instance-")
    results = {"database": url.split(":")[0], "rows": args.rows}
    try:
        app = bench_import._app(url, instance)
        client, admin_id = bench_import._admin_client(app)
        path = Path(instance) / "bench-customers.csv"
        bench_import.generate(path, args.rows)
        loaded = bench_import.bench_csv(app, client, path)
        results["loaded_customers"] = loaded["customers"]
        seconds, xlsx, rows = _export(app, client, "xlsx")
        results["xlsx_s"] = round(seconds, 2)
        results["xlsx_rows"] = rows
        results["xlsx_mb"] = round(xlsx.stat().st_size / 1024 / 1024, 1)
        seconds, csv_file, rows = _export(app, client, "csv")
        results["csv_s"] = round(seconds, 2)
        results["csv_mb"] = round(csv_file.stat().st_size / 1024 / 1024, 1)
        from openpyxl import load_workbook
        started = time.perf_counter()
        sheet = load_workbook(xlsx, read_only=True).active
        results["xlsx_rows_read_back"] = sum(1 for _row in sheet.iter_rows(min_row=2, values_only=True))
        results["read_back_s"] = round(time.perf_counter() - started, 2)
        results["peak_rss_mb"] = round(bench_import.rss_mb(), 1)
        results["writers_alone"] = _writers(app, admin_id, args.rows)
        results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    finally:
        drop()
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
