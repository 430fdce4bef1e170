"""The pool sweep over 100,000 customers (issue 11 part 6, issue 18): generate owned
customers (seeded: ten salespeople, received 0..120 days ago, levels A/B/C or none, a third
with a recent note, some open or won opportunities, some locked), turn on the three reclaim
rules with days of their own for levels A and C, then time the sweep (crm.pools.sweep, the
scheduled job's own code: warnings, then returns) and count its statements; then the /pool
list against /customers in process (median ms and statements, as a salesperson).

    python bench/pools.py --database-url sqlite:////tmp/pools.sqlite3 [--count 100000]

The database is emptied and built with create_all. The sweep runs at an injected `now`.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def generate(app, count: int, seed: int, now) -> None:
    from sqlalchemy import insert, select

    from crm.extensions import db
    from crm.models import Customer, CustomerLevel, Note, Opportunity, Pool, Stage, User
    from crm.pipelines.services import ensure_defaults
    from crm.pools.services import ensure_defaults as ensure_pool_defaults
    rng = random.Random(seed)
    with app.app_context():
        db.drop_all()
        db.create_all()
        users = [User(email=f"sales{i}@bench.test", name=f"Sales {i}", role="sales") for i in range(10)]
        for user in users:
            user.set_password("bench-password-123")
            db.session.add(user)
        db.session.flush()
        ensure_defaults()
        ensure_pool_defaults()
        levels = {lv.key: lv.id for lv in db.session.execute(select(CustomerLevel)).scalars()}
        level_choices = [levels["a"], levels["b"], levels["c"], None]
        rows = []
        for n in range(count):
            rows.append({"name": f"客户{n:06d}", "kind": "company", "owner_id": users[n % 10].id,
                         "owner_since": now - timedelta(days=rng.randint(0, 120)),
                         "level_id": rng.choice(level_choices), "custom": {}, "search_index": f"kehu{n}",
                         "version": 1, "created_at": now - timedelta(days=200), "updated_at": now,
                         "locked_at": now if rng.random() < 0.01 else None})
        started = time.perf_counter()
        for start in range(0, count, 5000):
            db.session.execute(insert(Customer), rows[start:start + 5000])
        db.session.flush()
        ids = list(db.session.execute(select(Customer.id)).scalars())
        notes = [{"kind": "call", "body": "跟进", "customer_id": cid, "author_id": users[0].id,
                  "happened_at": now - timedelta(days=rng.randint(0, 60)), "created_at": now,
                  "updated_at": now}
                 for cid in ids if rng.random() < 0.33]
        for start in range(0, len(notes), 5000):
            db.session.execute(insert(Note), notes[start:start + 5000])
        stages = {s.kind: s for s in db.session.execute(select(Stage)).scalars()}
        deals = []
        for cid in rng.sample(ids, count // 10):
            kind = "won" if rng.random() < 0.3 else "open"
            stage = stages[kind]
            deals.append({"title": "Deal", "customer_id": cid, "pipeline_id": stage.pipeline_id,
                          "stage_id": stage.id, "status": kind, "owner_id": users[0].id,
                          "amount": 0, "currency": "CNY", "version": 1, "custom": {},
                          "stage_entered_at": now, "last_activity_at": now, "created_at": now,
                          "updated_at": now})
        for start in range(0, len(deals), 5000):
            db.session.execute(insert(Opportunity), deals[start:start + 5000])
        pool = db.session.execute(select(Pool).where(Pool.kind == "customer")).scalar_one()
        pool.no_followup_on, pool.no_followup_days = True, 30
        pool.no_open_opportunity_on, pool.no_open_opportunity_days = True, 60
        pool.not_won_on, pool.not_won_days = True, 90
        pool.level_days = {"no_followup": {str(levels["a"]): 60, str(levels["c"]): 15}}
        pool.exempt_won, pool.warn_days = True, 3
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # Statistics, as autovacuum keeps them on a live database (a bulk load has none).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        print(f"generated {count:,} customers, {len(notes):,} notes, {len(deals):,} opportunities "
              f"in {time.perf_counter() - started:.1f} s")


def _client(app):
    from crm.extensions import db
    from crm.models import User
    from tests.conftest import session_user_id
    with app.app_context():
        user_id = db.session.scalars(db.select(User.id).where(User.role == "sales")).first()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user_id)
        session["_fresh"] = True
    return client


def measure(app, requests: int, now) -> None:
    from sqlalchemy import event, func, select

    from crm.extensions import db
    from crm.models import Customer
    from crm.pools.sweep import sweep
    with app.app_context():
        statements: list = []

        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)
        event.listen(db.engine, "before_cursor_execute", count)
        started = time.perf_counter()
        result = sweep(now)
        db.session.commit()
        took = time.perf_counter() - started
        event.remove(db.engine, "before_cursor_execute", count)
        left = db.session.execute(select(func.count()).select_from(Customer)
                                  .where(Customer.owner_id.is_not(None))).scalar_one()
        if db.engine.dialect.name == "postgresql":
            # The sweep changed two thirds of the rows: autovacuum analyses such a table soon
            # after; the pages are measured with its statistics.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
    print(f"sweep: returned {result.returned:,}, warned {result.warned:,}, {len(statements)} "
          f"statements, {took:.1f} s ({left:,} customers still owned)")
    client = _client(app)
    pages = {"customer list": "/customers", "pool list": "/pool"}
    times = {name: [] for name in pages}
    counts = {}
    with app.app_context():
        current: list = []

        def count_page(conn, cursor, statement, parameters, context, executemany):
            current.append(statement)
        event.listen(db.engine, "before_cursor_execute", count_page)
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
                    counts[name] = len(current)
        finally:
            event.remove(db.engine, "before_cursor_execute", count_page)
    for name in pages:
        print(f"sales  {name:14} median {statistics.median(times[name]):8.1f} ms  statements {counts[name]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1811)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or DATABASE_URL")
    import logging

    from crm import create_app
    from crm.config import normalise_database_url
    from crm.models import utcnow
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(args.database_url),
                      "LOGIN_THROTTLE_ENABLED": False, "WTF_CSRF_ENABLED": False})
    logging.getLogger("crm.request").disabled = True
    now = utcnow()
    generate(app, args.count, args.seed, now)
    measure(app, args.requests, now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
