"""Import speed (issue 12, section 5), in one process on a fresh database, through the UI's
own code path (Flask's test client: upload, mapping, preview, run; the job runs inside the run
request, JOBS_IMMEDIATE, on the same code a worker runs):

1. the Maven data set (`crm import-maven`'s cleaning, then each file imported as an
   ImportBatch run by the job runner): budget 10 s on SQLite;
2. a generated 100,000-row GB18030 customer CSV, 12 columns (name, type, industry, region,
   city, phone, email, address, tags, primary contact, and 2 custom fields: a choice and a
   date): budget 60 s for the run on SQLite and PostgreSQL, the process under 300 MB
   resident (peak RSS, getrusage).

    python bench/import.py                                   # SQLite in a temporary folder
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_import python bench/import.py
    python bench/import.py --rows 20000 --skip-maven         # smaller

The PostgreSQL database is created (and dropped after) when it does not exist. Figures go
to stdout as JSON; docs/benchmarks.md keeps the last run's.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAVEN = ROOT.parent / "shared" / "datasets" / "maven-crm"
if not MAVEN.is_dir():
    MAVEN = Path("/work/shared/datasets/maven-crm")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
WORDS = "星辰云帆海湾新星东方华夏长城蓝天金桥瑞丰恒通博远启明鼎盛中科智联"
CITIES = [("华东", "上海"), ("华北", "北京"), ("华南", "深圳"), ("华东", "杭州"), ("西南", "成都")]
INDUSTRIES = ["制造", "贸易", "电子", "医疗", "教育", "物流"]
TAGS = ["重点", "VIP", "外贸", "新客户", "老客户", "渠道"]
HEADER = ["客户名称", "类型", "所属行业", "地区", "城市", "联系电话", "邮箱", "地址", "标签",
          "联系人", "客户等级", "签约日期"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, rows: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="gb18030") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            region, city = rng.choice(CITIES)
            name = f"{city}{''.join(rng.sample(WORDS, 4))}{n:06d}有限公司"
            tags = "，".join(rng.sample(TAGS, rng.randint(0, 3)))
            writer.writerow([name, "公司", rng.choice(INDUSTRIES), region, city,
                             f"1{rng.randint(30, 99)}{n:08d}", f"c{n}@example.cn",
                             f"{city}市{rng.randint(1, 999)}号", tags,
                             rng.choice(SURNAMES) + rng.choice("芳伟娜敏静丽强磊军"),
                             rng.choice(["重要", "普通", ""]),
                             f"{rng.randint(2018, 2026)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"])


def _database(url: str | None):
    """The database URL to use and a function that drops it after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    if not url:
        folder = tempfile.mkdtemp(prefix="bench-import-")
        return f"sqlite:///{folder}/bench.sqlite3", lambda: None
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url, lambda: None
    name = parsed.database
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    return url, drop


def _app(url: str, instance: str):
    os.environ["CRM_INSTANCE_DIR"] = instance
    from crm import create_app
    from crm.config import normalise_database_url
    from crm.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": True,
                      "LOGIN_THROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        db.create_all()
    return app


def _admin_client(app):
    from crm.extensions import db
    from crm.fields.services import save_field, save_options
    from crm.models import User
    from crm.pipelines.services import ensure_defaults
    from tests.conftest import session_user_id
    with app.app_context():
        admin = User(email="bench@example.com", name="Bench Admin", role="admin", language="zh_CN")
        admin.password_hash = "!"
        db.session.add(admin)
        ensure_defaults()
        level = save_field("customer", None, {"key": "level", "label_zh": "客户等级",
                                              "label_en": "Level", "type": "choice"})
        save_options(level, [{"key": "key", "label_zh": "重要", "label_en": "Key"},
                             {"key": "normal", "label_zh": "普通", "label_en": "Normal"}])
        save_field("customer", None, {"key": "signed", "label_zh": "签约日期",
                                      "label_en": "Signed on", "type": "date"})
        db.session.commit()
        admin_id = admin.id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, admin_id)
        session["_fresh"] = True
    return client, admin_id


def bench_csv(app, client, path: Path) -> dict:
    import re
    from crm.extensions import db
    from crm.models import Customer, ImportBatch
    figures = {}
    started = time.perf_counter()
    with open(path, "rb") as handle:
        response = client.post("/import", data={"kind": "customers", "file": (handle, path.name)},
                               content_type="multipart/form-data")
    import_id = int(re.search(r"/import/(\d+)", response.headers["Location"]).group(1))
    page = client.get(f"/import/{import_id}/map").get_data(as_text=True)
    form = {"on_match": "update", "mode": "valid", "encoding": "gb18030", "delimiter": ","}
    for index in range(len(HEADER)):
        select = re.search(rf'<select name="col_{index}".*?</select>', page, re.S).group(0)
        chosen = re.search(r'value="([^"]*)" selected', select)
        form[f"col_{index}"] = chosen.group(1) if chosen else ""
    assert client.post(f"/import/{import_id}/map", data=form).status_code == 303, form
    figures["upload_and_map_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    preview = client.get(f"/import/{import_id}/preview")
    assert preview.status_code == 200
    figures["preview_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    assert client.post(f"/import/{import_id}/run").status_code == 303
    figures["run_s"] = round(time.perf_counter() - started, 2)
    with app.app_context():
        imp = db.session.get(ImportBatch, import_id)
        figures["counts"] = imp.counts
        figures["status"] = imp.status
        figures["customers"] = db.session.execute(db.select(db.func.count(Customer.id))).scalar_one()
    figures["mapping"] = sorted(k for key, k in form.items() if key.startswith("col_") and k)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-maven", action="store_true")
    parser.add_argument("--skip-csv", action="store_true")
    args = parser.parse_args(argv)
    url, drop = _database(os.environ.get("DATABASE_URL"))
    instance = tempfile.mkdtemp(prefix="bench-import-instance-")
    results = {"database": url.split(":")[0], "rows": args.rows}
    try:
        app = _app(url, instance)
        client, admin_id = _admin_client(app)
        if not args.skip_maven and MAVEN.is_dir():
            from crm.extensions import db
            from crm.imports.maven import import_maven
            from crm.models import User
            with app.test_request_context():
                started = time.perf_counter()
                report = import_maven(MAVEN, user=db.session.get(User, admin_id))
                results["maven_s"] = round(time.perf_counter() - started, 2)
                results["maven_report"] = [line for line in report if "created" in line or "unchanged" in line]
        if not args.skip_csv:
            path = Path(instance) / "bench-customers.csv"
            started = time.perf_counter()
            generate(path, args.rows)
            results["generate_s"] = round(time.perf_counter() - started, 2)
            results["file_mb"] = round(path.stat().st_size / 1024 / 1024, 1)
            results["csv"] = bench_csv(app, client, path)
        results["peak_rss_mb"] = round(rss_mb(), 1)
    finally:
        drop()
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
