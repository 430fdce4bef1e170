"""Custom fields at 100,000 customers (issue 10, section 3): fill a benchmark workspace's
customers with 10 custom fields (two filterable, one multiple choice), then measure the
customer list filtered and sorted on custom fields against the plain list, in process
(Flask's test client, as the admin), alternating the pages; the figure is the ratio of the
medians, with the statements each page ran.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python bench/generate.py          # the workspace
    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python bench/custom_fields.py --fill
    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python bench/custom_fields.py     # measure

`--fill` defines the fields (through crm.fields.services, which creates the expression
indexes of the filterable and listed ones) and gives every customer values (seeded: the same
seed, the same values), then ANALYZEs. `--requests` (default 30) per page, `--plans` prints
each query's plan (EXPLAIN) for the custom pages.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIELDS = [
    # key, type, label_zh, label_en, filterable, show_in_list
    ("contract_no", "text", "合同编号", "Contract no.", False, True),
    ("fleet_size", "integer", "车队规模", "Fleet size", True, True),
    ("decision_date", "date", "决策日期", "Decision date", True, True),
    ("products", "multi_choice", "产品", "Products", False, True),
    ("channel", "choice", "客户来源渠道", "Lead channel", False, False),
    ("annual_value", "money", "年度价值", "Annual value", False, False),
    ("margin", "decimal", "毛利率", "Margin", False, False),
    ("vip", "boolean", "重点客户", "Key account", False, False),
    ("homepage", "url", "主页", "Homepage", False, False),
    ("remarks", "long_text", "备注", "Remarks", False, False),
]
OPTIONS = {"products": [("α 产品", "Alpha"), ("β 产品", "Beta"), ("γ 产品", "Gamma"), ("δ 产品", "Delta")],
           "channel": [("展会", "Trade show"), ("官网", "Website"), ("转介绍", "Referral")]}
PAGES = {
    "plain list": "/customers",
    "filtered (fleet ≥ 50) + sorted by decision date": "/customers?cf_fleet_size_min=50&sort=-cf_decision_date",
    "filtered (a month of decision dates) + sorted by fleet": (
        "/customers?cf_decision_date_min={month_start}&cf_decision_date_max={month_end}&sort=-cf_fleet_size"),
    "filtered (fleet 100-120) + sorted by fleet": "/customers?cf_fleet_size_min=100&cf_fleet_size_max=120&sort=cf_fleet_size",
}


def _values(rng: random.Random, customer_id: int, today: date) -> dict:
    custom = {"contract_no": f"HT-{2020 + customer_id % 7}-{customer_id:06d}"}
    if rng.random() < 0.9:
        custom["fleet_size"] = rng.randint(1, 500)
    if rng.random() < 0.8:
        custom["decision_date"] = (today + timedelta(days=rng.randint(-365, 365))).isoformat()
    products = [key for key in ("alpha", "beta", "gamma", "delta") if rng.random() < 0.35]
    if products:
        custom["products"] = products
    custom["channel"] = rng.choice(["trade_show", "website", "referral"])
    if rng.random() < 0.6:
        custom["annual_value"] = {"amount": f"{rng.randint(1_000, 5_000_000)}.{rng.randint(0, 99):02d}",
                                  "currency": rng.choice(["CNY", "CNY", "USD"])}
    if rng.random() < 0.5:
        custom["margin"] = f"0.{rng.randint(1, 60):02d}"
    custom["vip"] = rng.random() < 0.1
    if rng.random() < 0.3:
        custom["homepage"] = f"https://example-{customer_id}.com"
    if rng.random() < 0.2:
        custom["remarks"] = "跟进中，年底前决定。 Decision by the end of the year."
    return custom


def fill(app, seed: int) -> None:
    from sqlalchemy import bindparam, text, update

    from crm.extensions import db
    from crm.fields import services
    from crm.models import Customer, CustomField

    with app.test_request_context():
        started = time.perf_counter()
        if db.session.execute(db.select(CustomField.id)).first() is None:
            for key, kind, zh, en, filterable, listed in FIELDS:
                field = services.save_field("customer", None, {
                    "key": key, "type": kind, "label_zh": zh, "label_en": en,
                    "filterable": filterable, "show_in_list": listed, "restricted": key == "margin"})
                if key in OPTIONS:
                    services.save_options(field, [{"label_zh": z, "label_en": e} for z, e in OPTIONS[key]])
            db.session.commit()
        for field in db.session.execute(db.select(CustomField)).scalars():
            services.sync_index(field)  # (again: indexes of an older tree are brought up to date)
        db.session.commit()
        ids = list(db.session.execute(db.select(Customer.id).order_by(Customer.id)).scalars())
        rng = random.Random(seed)
        today = date.today()
        table = Customer.__table__
        statement = update(table).where(table.c.id == bindparam("b_id")).values(custom=bindparam("b_custom"))
        for start in range(0, len(ids), 5_000):
            rows = [{"b_id": i, "b_custom": _values(rng, i, today)} for i in ids[start:start + 5_000]]
            db.session.execute(statement, rows)
            db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"filled {len(ids):,} customers with {len(FIELDS)} custom fields in "
              f"{time.perf_counter() - started:.1f} s")


def _client(app):
    from crm.extensions import db
    from crm.models import User
    from tests.conftest import session_user_id

    with app.app_context():
        admin_id = db.session.execute(db.select(User.id).where(User.role == "admin")
                                      .order_by(User.id)).scalars().first()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, admin_id)
        session["_fresh"] = True
    return client


def measure(app, requests: int, plans: bool) -> dict:
    from sqlalchemy import event

    from crm.extensions import db

    today = date.today()
    month_start = today.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    pages = {name: path.format(month_start=month_start.isoformat(), month_end=month_end.isoformat())
             for name, path in PAGES.items()}
    client = _client(app)
    statements: dict[str, list[str]] = {}
    times: dict[str, list[float]] = {name: [] for name in pages}
    with app.app_context():
        engine = db.engine
        current: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            current.append((statement, parameters))
        event.listen(engine, "before_cursor_execute", count)
        try:
            for name, path in pages.items():  # warm-up
                for _ in range(3):
                    assert client.get(path).status_code == 200, path
            for _ in range(requests):
                for name, path in pages.items():  # alternating, so that noise hits all alike
                    current.clear()
                    started = time.perf_counter()
                    response = client.get(path)
                    times[name].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                    statements[name] = list(current)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        if plans:  # the plan of each page's longest statement (the list's own)
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            with engine.connect() as connection:
                for name, found in statements.items():
                    statement, parameters = max(found, key=lambda pair: len(pair[0]))
                    print(f"--- {name}")
                    for row in connection.exec_driver_sql(prefix + statement, parameters):
                        print("   ", " ".join(map(str, row)))
    plain = statistics.median(times["plain list"])
    result = {}
    print(f"{'page':62} {'median ms':>10} {'min ms':>8} {'ratio':>6} {'stmts':>6}")
    for name in pages:
        median = statistics.median(times[name])
        result[name] = {"median_ms": round(median, 1), "min_ms": round(min(times[name]), 1),
                        "ratio": round(median / plain, 2), "statements": len(statements[name])}
        print(f"{name:62} {median:10.1f} {min(times[name]):8.1f} {median / plain:6.2f} "
              f"{len(statements[name]):6d}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--fill", action="store_true", help="define the fields and fill the values")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or DATABASE_URL")
    from crm import create_app
    from crm.config import normalise_database_url
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(args.database_url),
                      "LOGIN_THROTTLE_ENABLED": False, "WTF_CSRF_ENABLED": False})
    app.logger.disabled = True
    import logging
    logging.getLogger("crm.request").disabled = True
    if args.fill:
        fill(app, args.seed)
    result = measure(app, args.requests, args.plans)
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
