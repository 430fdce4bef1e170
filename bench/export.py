"""Export speed (issue 12, section 5): 100,000 customers to XLSX under 30 s, through the UI's
own code path (Flask's test client: GET /customers/export.xlsx; past EXPORT_JOB_THRESHOLD rows
that is a background job, run here inside the request, JOBS_IMMEDIATE, on the same code a
worker runs). The customers are loaded first by bench/import.py's generated GB18030 CSV and
its import run, so the rows carry contacts, tags and two custom fields, as a team's would.

    python bench/export.py                                    # SQLite in a temporary folder
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_export python bench/export.py
    python bench/export.py --rows 20000                       # smaller

Also timed: the same rows as CSV (UTF-8 with BOM), and the XLSX read back with openpyxl
(rows counted) to show the file is whole. Figures go to stdout as JSON.
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    url, drop = bench_import._database(os.environ.get("DATABASE_URL"))
    instance = tempfile.mkdtemp(prefix="bench-export-instance-")
    results = {"database": url.split(":")[0], "rows": args.rows}
    try:
        app = bench_import._app(url, instance)
        client, _admin_id = bench_import._admin_client(app)
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
    finally:
        drop()
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
