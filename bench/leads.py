"""Leads at full size (issue 11, section 6), against a database made by bench/generate.py
(200,000 leads with 400,000 follow-up notes beside the 100,000 customers):

1. a scoring rule change recomputes every open lead's score in the background: a rule is
   added, then removed, each time through the rescore-leads job's own path
   (crm.jobs.runner.run_job, progress written chunk by chunk), timed (target < 60 s);
2. the lead list, its search, and the lead page beside the customer list, in process
   (Flask's test client, as the admin and as a salesperson), alternating the pages: median
   ms and the statements each ran (budget 8, the lead page's median target 1.2x the
   customer list's; bench/run.py measures the same under gunicorn).

    python bench/leads.py --database-url sqlite:////tmp/bench.sqlite3 [--requests 20]

The database keeps the scores of the last recompute (the rule is removed again).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rescore(app) -> None:
    from crm.extensions import db
    from crm.jobs.runner import run_job
    from crm.jobs.services import create_job
    from crm.leads.scoring import run_rescore_job
    from crm.models import Job, Lead, ScoringRule, User

    with app.app_context():
        admin = db.session.scalars(db.select(User).where(User.role == "admin")).first()
        open_leads = db.session.execute(db.select(db.func.count(Lead.id)).where(
            Lead.status != "converted")).scalar()
        for change in ("add a rule: each call +3", "remove it again"):
            if change.startswith("add"):
                db.session.add(ScoringRule(kind="note_kind", note_kind="call", points=3))
            else:
                rule = db.session.scalars(db.select(ScoringRule).where(
                    ScoringRule.note_kind == "call", ScoringRule.points == 3)).first()
                db.session.delete(rule)
            job = create_job("rescore-leads", admin)
            db.session.commit()
            job_id = job.id
            started = time.perf_counter()
            run_job(app, run_rescore_job, job_id)
            took = time.perf_counter() - started
            db.session.expire_all()
            job = db.session.get(Job, job_id)
            average = db.session.execute(db.select(db.func.avg(Lead.score))).scalar()
            print(f"rescore-leads after '{change}': {job.status}, {job.done:,}/{job.total:,} "
                  f"of {open_leads:,} open leads in {took:.1f} s (target < 60 s), "
                  f"average score {float(average):.1f}")


def _client(app, user_id):
    from tests.conftest import session_user_id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(app, user_id)
        session["_fresh"] = True
    return client


def pages(app, requests: int) -> None:
    from sqlalchemy import event

    from crm.extensions import db
    from crm.models import Lead, User
    with app.app_context():
        users = {"admin": db.session.scalars(db.select(User.id).where(User.role == "admin")).first()}
        # The salesperson with the most leads, and leads of theirs for the page.
        seller, _count = db.session.execute(
            db.select(Lead.owner_id, db.func.count()).join(User, User.id == Lead.owner_id)
            .where(User.role == "sales").group_by(Lead.owner_id)
            .order_by(db.func.count().desc())).first()
        users["sales"] = seller
        lead_ids = {role: list(db.session.scalars(
            db.select(Lead.id).where(Lead.status != "converted", Lead.owner_id == seller)
            .order_by(Lead.id).limit(requests))) for role in users}
    for role, user_id in users.items():
        client = _client(app, user_id)
        paths = {"customer list": lambda i: "/customers", "lead list": lambda i: "/leads",
                 "lead list, search q=wang": lambda i: "/leads?q=wang",
                 "lead page": lambda i: f"/leads/{lead_ids[role][i % len(lead_ids[role])]}"}
        times = {name: [] for name in paths}
        statements = {}
        with app.app_context():
            current: list = []

            def count(conn, cursor, statement, parameters, context, executemany):
                current.append(statement)
            event.listen(db.engine, "before_cursor_execute", count)
            try:
                for path in paths.values():
                    for i in range(3):
                        assert client.get(path(i)).status_code == 200, path(i)
                for i in range(requests):
                    for name, path in paths.items():
                        current.clear()
                        started = time.perf_counter()
                        assert client.get(path(i)).status_code == 200
                        times[name].append((time.perf_counter() - started) * 1000)
                        statements[name] = len(current)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
        base = statistics.median(times["customer list"])
        for name in paths:
            median = statistics.median(times[name])
            print(f"{role:6} {name:26} median {median:7.1f} ms  {median / base:4.2f}x the "
                  f"customer list  statements {statements[name]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--no-rescore", action="store_true")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or DATABASE_URL")
    import logging

    from crm import create_app
    from crm.config import normalise_database_url
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(args.database_url),
                      "LOGIN_THROTTLE_ENABLED": False, "WTF_CSRF_ENABLED": False})
    logging.getLogger("crm.request").disabled = True
    logging.getLogger("crm.jobs").disabled = True
    if not args.no_rescore:
        rescore(app)
    pages(app, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
