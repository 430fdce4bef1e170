"""Duplicates at 100,000 customers (issue 12, section 5): generate customers (seeded; about
one in twenty a near-copy of another: a legal suffix, a city prefix, full-width letters, the
same phone or email), time the refresh of the precomputed pairs (crm.duplicates.refresh,
the job's own code), then measure /duplicates/customer against /customers in process (Flask's
test client, as the admin and as a salesperson), alternating the pages: median ms and the
statements each page ran.

    python bench/duplicates.py --database-url sqlite:////tmp/dups.sqlite3 [--count 100000]

The database is emptied and built with create_all. `--requests` (default 20) per page.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CITIES = ["北京", "上海", "深圳", "杭州", "成都", ""]
WORDS = list("星辰海洋远航华信科技贸易云端智能数据制造新能源光电医疗教育物流金融安达恒通盛泰")
SUFFIXES = ["有限公司", "科技有限公司", "公司", "", "集团"]


def _name(rng) -> str:
    core = "".join(rng.choice(WORDS) for _ in range(rng.randint(3, 5)))
    return rng.choice(CITIES) + core + rng.choice(SUFFIXES)


def generate(app, count: int, seed: int) -> None:
    from sqlalchemy import insert

    from crm.extensions import db
    from crm.models import Customer, User
    from crm.pipelines.services import ensure_defaults
    from crm.search import search_keys
    rng = random.Random(seed)
    with app.app_context():
        db.drop_all()
        db.create_all()
        admin = User(email="admin@bench.test", name="Admin", role="admin")
        seller = User(email="sales@bench.test", name="Sales", role="sales")
        for user in (admin, seller):
            user.set_password("bench-password-123")
            db.session.add(user)
        db.session.flush()
        ensure_defaults()
        rows = []
        for n in range(count):
            if rows and rng.random() < 0.05:
                base = rng.choice(rows)
                name = base["name"].replace("有限公司", "") + rng.choice(["", "有限公司", " "])
                phone, email = rng.choice([(base["phone"], None), (None, base["email"]), (None, None)])
            else:
                name, phone, email = _name(rng), f"1{rng.randint(3, 9)}{rng.randint(0, 10**9 - 1):09d}", f"c{n}@example{n % 997}.cn"
            rows.append({"name": name, "phone": phone, "email": email, "kind": "company",
                         "owner_id": seller.id if n % 2 else admin.id, "custom": {},
                         "search_index": search_keys(name, phone or "", email or ""),
                         "version": 1})
        started = time.perf_counter()
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Customer), rows[start:start + 5000])
        db.session.commit()
        print(f"generated {count:,} customers in {time.perf_counter() - started:.1f} s")


def _client(app, role):
    from crm.extensions import db
    from crm.models import User
    from tests.conftest import session_user_id
    with app.app_context():
        user_id = db.session.scalars(db.select(User.id).where(User.role == role)).first()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user_id)
        session["_fresh"] = True
    return client


def measure(app, requests: int) -> None:
    import resource

    from sqlalchemy import event

    from crm.duplicates.refresh import refresh
    from crm.extensions import db
    with app.app_context():
        started = time.perf_counter()
        pairs = refresh("customer")
        db.session.commit()
        took = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"refresh: {pairs:,} pairs in {took:.1f} s (peak RSS {rss:.0f} MB)")
    pages = {"customer list": "/customers", "duplicates page": "/duplicates/customer"}
    for role in ("admin", "sales"):
        client = _client(app, role)
        times = {name: [] for name in pages}
        statements = {}
        with app.app_context():
            current: list = []

            def count(conn, cursor, statement, parameters, context, executemany):
                current.append(statement)
            event.listen(db.engine, "before_cursor_execute", count)
            try:
                for path in pages.values():
                    for _ in range(3):
                        assert client.get(path).status_code == 200, path
                for _ in range(requests):
                    for name, path in pages.items():
                        current.clear()
                        started = time.perf_counter()
                        assert client.get(path).status_code == 200
                        times[name].append((time.perf_counter() - started) * 1000)
                        statements[name] = len(current)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
        for name in pages:
            print(f"{role:6} {name:16} median {statistics.median(times[name]):8.1f} ms  "
                  f"statements {statements[name]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1212)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--no-generate", action="store_true")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or DATABASE_URL")
    import logging

    from crm import create_app
    from crm.config import normalise_database_url
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(args.database_url),
                      "LOGIN_THROTTLE_ENABLED": False, "WTF_CSRF_ENABLED": False})
    logging.getLogger("crm.request").disabled = True
    if not args.no_generate:
        generate(app, args.count, args.seed)
    measure(app, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
