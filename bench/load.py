"""Load (issue 4, section 8): concurrent clients change stages and add notes against the app
under gunicorn; afterwards the database must hold exactly the writes that were acknowledged.

    python bench/load.py                                   # SQLite: 20 clients, 30 s, 4 workers
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres python bench/load.py
    python bench/load.py --clients 8 --seconds 5           # what tests/test_load.py runs

The run makes its own database (a temporary SQLite file, or a new PostgreSQL database beside
the one DATABASE_URL names, dropped at the end unless --keep), starts `gunicorn -c
gunicorn.conf.py app:app` on a free port of 127.0.0.1, seeds one salesperson per client with
their own customers and opportunities in the default pipeline, and logs every client in.

Each client then loops until the time is up, choosing at random:
- a stage change: POST /opportunities/<id>/stage as htmx sends it (HX-Request, HX-Target,
  X-CSRFToken), half from the opportunity page, half from the board (context=board), always to
  another open stage of the default pipeline, on one of the client's own opportunities;
- a note: POST /notes with customer_id and a body unique to the request;
- a read: GET /opportunities/<id>.
Every answer is counted by kind and status. Afterwards, read straight from the database:
- every acknowledged note (2xx) is there, once, and no note is there that was not asked for;
- each opportunity has exactly as many moves (StageChange rows) as acknowledged stage
  changes, its stage is the last acknowledged one and the same as its history's last row;
- no note without body, customer or author, no history row without its opportunity.
A request whose connection was cut (bench/faults.py kills workers) may or may not have been
committed: it widens the allowed range (acknowledged <= rows <= acknowledged + cut) but never
allows a half-written record.

Nothing leaves 127.0.0.1; every loop and wait is bounded.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "load-test-password-9"
OPEN_STAGE_KEYS = ("discover", "confirm", "needs_analysis", "proposal", "negotiation")
CONNECTION_ERRORS = (http.client.HTTPException, ConnectionError, OSError)


# --- databases -----------------------------------------------------------------------------

def fresh_database(base_url: str | None, prefix: str = "crm_load") -> tuple[str, callable]:
    """A new, empty database and a function that removes it.

    SQLite (or no URL): a file in a new temporary directory. PostgreSQL: a database named
    <prefix>_<random> on the server `base_url` points at (that database itself is untouched).
    """
    from crm.config import normalise_database_url

    if base_url and not base_url.startswith("sqlite"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(normalise_database_url(base_url))
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop():
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"),
                             {"name": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()

        return url.set(database=name).render_as_string(hide_password=False), drop

    directory = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))

    def remove():
        for path in sorted(directory.iterdir(), reverse=True):
            path.unlink(missing_ok=True)
        directory.rmdir()

    return f"sqlite:///{directory / 'crm.sqlite3'}", remove


# --- gunicorn ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gunicorn -c gunicorn.conf.py app:app` with its own database, port and instance dir.

    stdout and stderr go to files in `logdir`; `log_lines()` returns stderr's lines.
    """

    def __init__(self, database_url: str, workers: int = 4, logdir: Path | None = None,
                 env: dict | None = None):
        self.port = free_port()
        self.database_url = database_url
        self.workers = workers
        self.logdir = Path(logdir or tempfile.mkdtemp(prefix="crm-gunicorn-"))
        self.logdir.mkdir(parents=True, exist_ok=True)
        instance = self.logdir / "instance"
        instance.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url, "HOST": "127.0.0.1", "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers), "SECRET_KEY": secrets.token_hex(32),
            "CRM_INSTANCE_DIR": str(instance), "PYTHONPATH": str(ROOT),
            # Every client logs in from 127.0.0.1 with the right password: the login throttle
            # counts only wrong ones, so it never stands in this run's way.
            "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.stdout_path = self.logdir / "gunicorn.out"
        self.stderr_path = self.logdir / "gunicorn.err"
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT,
            env=self.env, stdout=self._stdout, stderr=self._stderr, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until /healthz answers 200 and every worker is up (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.stderr_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok and len(self.worker_pids()) >= self.workers:
                    return
            except CONNECTION_ERRORS:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer on {self.port}:\n{self.stderr_tail()}")

    def worker_pids(self) -> list[int]:
        """The master's children (Linux /proc): the workers."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def wait_workers(self, count: int, exclude: set[int] = frozenset(), timeout: float = 60.0) -> list[int]:
        """Until `count` workers run, none of them in `exclude` (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.worker_pids() if p not in exclude]
            if len(pids) >= count:
                return pids
            time.sleep(0.1)
        raise RuntimeError(f"only {self.worker_pids()} workers after {timeout} s")

    def flask(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """`flask --app app <args>` against the same database and settings."""
        return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def log_lines(self) -> list[str]:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_lines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this Popen created
                self.proc.wait(10)
        self._stdout.close()
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --- HTTP client ---------------------------------------------------------------------------

class Client:
    """An HTTP/1.1 client with a cookie jar for one site (127.0.0.1:port), no retries."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.cookies: dict[str, str] = {}
        self.csrf_token: str | None = None

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, str, dict]:
        """One request; a cut connection raises (the caller decides what that means)."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except CONNECTION_ERRORS:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, text, {k.lower(): v for k, v in response.getheaders()}

    def log_in(self, email: str, password: str) -> None:
        status, html, _ = self.request("GET", "/login")
        if status != 200:
            raise RuntimeError(f"GET /login answered {status}")
        status, html, headers = self.request("POST", "/login", {
            "email": email, "password": password, "csrf_token": csrf_token_from(html)})
        if status not in (302, 303):
            raise RuntimeError(f"login of {email} answered {status}")
        status, html, _ = self.request("GET", headers.get("location", "/"))
        if status in (301, 302, 303):
            status, html, _ = self.request("GET", "/customers")
        self.csrf_token = csrf_token_from(html)

    def close(self) -> None:
        self.conn.close()


def csrf_token_from(html: str) -> str:
    match = (re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
             or re.search(r'name="csrf_token" value="([^"]+)"', html)
             or re.search(r'"X-CSRFToken":\s*"([^"]+)"', html))
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


# --- seeding -------------------------------------------------------------------------------

@dataclass
class Seat:
    """One client's user and records: it is the only one writing to its opportunities."""
    email: str
    customer_ids: list[int]
    stages: dict[int, int]  # opportunity id -> its stage id now


@dataclass
class Plan:
    run: str
    seats: list[Seat]
    open_stage_ids: list[int]

    @property
    def opportunity_ids(self) -> list[int]:
        return [oid for seat in self.seats for oid in seat.stages]


def seed(database_url: str, clients: int, customers: int = 3, opportunities: int = 3,
         run: str | None = None) -> Plan:
    """One salesperson per client, each owning `customers` customers and `opportunities`
    open opportunities in the default pipeline (the schema must exist: the server made it)."""
    from crm import create_app
    from crm.auth.services import create_user
    from crm.pipelines.services import ensure_defaults
    from crm.extensions import db
    from crm.models import Customer, Pipeline, Stage, User
    from crm.opportunities.services import create_opportunity

    run = run or uuid.uuid4().hex[:8]
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "seeding",
                      "SERVER_NAME": None})
    rng = random.Random(run)
    seats = []
    with app.app_context():
        ensure_defaults()
        pipeline = db.session.execute(db.select(Pipeline).order_by(Pipeline.position, Pipeline.id)).scalars().first()
        stages = {s.key: s for s in db.session.execute(
            db.select(Stage).where(Stage.pipeline_id == pipeline.id)).scalars()}
        open_stages = [stages[key] for key in OPEN_STAGE_KEYS if key in stages]
        if len(open_stages) < 3:
            raise RuntimeError("the default pipeline has fewer than 3 open stages")
        password_hash = None  # hashed once: hashing is slow on purpose
        for i in range(clients):
            email = f"load-{run}-{i}@example.com"
            if password_hash is None:
                user = create_user(email=email, name=f"Load {i}", password=PASSWORD,
                                   role="sales", language="en")
                password_hash = user.password_hash
            else:
                user = User(email=email, name=f"Load {i}", role="sales", language="en",
                            timezone="Asia/Shanghai", active=True, password_hash=password_hash)
                db.session.add(user)
            db.session.flush()
            owned = []
            for j in range(customers):
                customer = Customer(name=f"负载客户 {run} {i}-{j}", owner_id=user.id,
                                    created_by_id=user.id)
                db.session.add(customer)
                owned.append(customer)
            db.session.flush()
            opps = {}
            for j in range(opportunities):
                stage = rng.choice(open_stages)
                opp = create_opportunity(title=f"Load deal {run} {i}-{j}", customer=owned[j % len(owned)],
                                         stage=stage, user=user)
                db.session.flush()
                opps[opp.id] = stage.id
            seats.append(Seat(email=user.email, customer_ids=[c.id for c in owned], stages=opps))
        db.session.commit()
        open_ids = [s.id for s in open_stages]
        db.session.remove()
        db.engine.dispose()
    return Plan(run=run, seats=seats, open_stage_ids=open_ids)


# --- the load ------------------------------------------------------------------------------

@dataclass
class Results:
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    acked_notes: set[str] = field(default_factory=set)
    cut_notes: set[str] = field(default_factory=set)
    acked_moves: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    cut_moves: Counter = field(default_factory=Counter)
    last_was_cut: set[int] = field(default_factory=set)  # opportunities whose last move was cut
    errors: list[str] = field(default_factory=list)  # unexpected answers, for the report
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str) -> Counter:
        return self.statuses[kind]

    def total(self, kind: str | None = None, predicate=lambda s: True) -> int:
        kinds = [kind] if kind else list(self.statuses)
        return sum(n for k in kinds for s, n in self.statuses[k].items() if predicate(s))

    def ok(self, kind: str | None = None) -> int:
        return self.total(kind, lambda s: isinstance(s, int) and 200 <= s < 300)

    def server_errors(self) -> int:
        return self.total(None, lambda s: isinstance(s, int) and s >= 500)

    def cut(self) -> int:
        return self.total(None, lambda s: s == "cut")


HTMX_PAGE = {"HX-Request": "true", "HX-Target": "stage-widget", "HX-Current-URL": "/opportunities"}


def _client_loop(port: int, seat: Seat, plan: Plan, results: Results, clock: dict,
                 index: int, mix: dict[str, float], barrier: threading.Barrier) -> None:
    rng = random.Random(f"{plan.run}-{index}")
    client = Client(port)
    try:
        client.log_in(seat.email, PASSWORD)
    except Exception as exc:  # noqa: BLE001 - reported, the run fails on it
        with results.lock:
            results.errors.append(f"client {index}: {exc}")
        barrier.abort()
        return
    try:
        barrier.wait(timeout=180)  # all logged in: the clock starts (the barrier's action)
    except threading.BrokenBarrierError:
        return
    deadline = clock["deadline"]
    # What each opportunity may be in: one stage, or two after a cut request.
    possible = {oid: {sid} for oid, sid in seat.stages.items()}
    kinds, weights = zip(*mix.items())
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        kind = rng.choices(kinds, weights)[0]
        started_at = time.perf_counter()
        if kind == "stage":
            candidates = [oid for oid, states in possible.items()
                          if len(states) < len(plan.open_stage_ids)]
            if not candidates:
                kind = "note"
            else:
                oid = rng.choice(candidates)
                target = rng.choice([s for s in plan.open_stage_ids if s not in possible[oid]])
                board = rng.random() < 0.5
                form = {"stage_id": target}
                headers = {"X-CSRFToken": client.csrf_token, **HTMX_PAGE}
                if board:
                    form["context"] = "board"
                    headers["HX-Target"] = f"card-{oid}"
                    headers["HX-Current-URL"] = "/pipeline"
                try:
                    status, body, _ = client.request("POST", f"/opportunities/{oid}/stage", form, headers)
                except CONNECTION_ERRORS:
                    status = "cut"
                with results.lock:
                    results.statuses["stage"][status] += 1
                    if status == "cut":
                        results.cut_moves[oid] += 1
                        results.last_was_cut.add(oid)
                        possible[oid].add(target)
                    elif 200 <= status < 300:
                        if "<html" in body:
                            results.errors.append(f"stage {oid}: a whole page for an htmx request")
                        results.acked_moves[oid].append(target)
                        results.last_was_cut.discard(oid)
                        possible[oid] = {target}
                        results.latencies["stage"].append(time.perf_counter() - started_at)
                    else:
                        results.errors.append(f"stage {oid} -> {target}: {status} {body[:200]!r}")
                continue
        if kind == "note":
            text = f"load {plan.run} c{index} n{seq}: 客户回电，确认了报价 / called back about the quote"
            form = {"customer_id": rng.choice(seat.customer_ids), "kind": rng.choice(["call", "visit", "email"]),
                    "body": text, "csrf_token": client.csrf_token}
            headers = {"HX-Request": "true", "HX-Target": "timeline-items",
                       "X-CSRFToken": client.csrf_token}
            try:
                status, body, _ = client.request("POST", "/notes", form, headers)
            except CONNECTION_ERRORS:
                status = "cut"
            with results.lock:
                results.statuses["note"][status] += 1
                if status == "cut":
                    results.cut_notes.add(text)
                elif 200 <= status < 300:
                    if "<html" in body:
                        results.errors.append("note: a whole page for an htmx request")
                    results.acked_notes.add(text)
                    results.latencies["note"].append(time.perf_counter() - started_at)
                else:
                    results.errors.append(f"note: {status} {body[:200]!r}")
        elif kind == "read":
            oid = rng.choice(list(seat.stages))
            try:
                status, body, _ = client.request("GET", f"/opportunities/{oid}")
            except CONNECTION_ERRORS:
                status = "cut"
            with results.lock:
                results.statuses["read"][status] += 1
                if isinstance(status, int) and 200 <= status < 300:
                    results.latencies["read"].append(time.perf_counter() - started_at)
                elif status != "cut":
                    results.errors.append(f"read {oid}: {status} {body[:200]!r}")
    client.close()


DEFAULT_MIX = {"stage": 0.45, "note": 0.45, "read": 0.10}


def run_load(port: int, plan: Plan, seconds: float, mix: dict[str, float] | None = None,
             during=None) -> Results:
    """Every seat's client logs in, then all loop together for `seconds`.

    `during(results, began, deadline)` runs in the calling thread meanwhile (bench/faults.py).
    """
    results = Results()
    mix = mix or DEFAULT_MIX
    clock: dict[str, float] = {}

    def start_clock():
        clock["began"] = time.monotonic()
        clock["deadline"] = clock["began"] + seconds

    barrier = threading.Barrier(len(plan.seats) + 1, action=start_clock)
    threads = [threading.Thread(target=_client_loop, daemon=True,
                                args=(port, seat, plan, results, clock, i, mix, barrier))
               for i, seat in enumerate(plan.seats)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=180)
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join(timeout=30)
        results.errors.append("the clients could not all log in")
        return results
    if during is not None:
        during(results, clock["began"], clock["deadline"])
    for thread in threads:
        thread.join(timeout=seconds + 120)
    results.seconds = time.monotonic() - clock["began"]
    return results


# --- checking ------------------------------------------------------------------------------

@dataclass
class Check:
    problems: list[str]
    notes_in_db: int
    moves_in_db: int

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(database_url: str, plan: Plan, results: Results) -> Check:
    """Compare the database with what the server acknowledged (see the module docstring)."""
    from sqlalchemy import bindparam, create_engine, text

    problems: list[str] = []
    engine = create_engine(database_url)
    prefix = f"load {plan.run} %"
    ids = plan.opportunity_ids
    with engine.connect() as conn:
        bodies = [row[0] for row in conn.execute(
            text("SELECT body FROM notes WHERE body LIKE :p"), {"p": prefix})]
        counted = Counter(bodies)
        duplicates = [b for b, n in counted.items() if n > 1]
        if duplicates:
            problems.append(f"{len(duplicates)} notes saved twice, e.g. {duplicates[0]!r}")
        stored = set(counted)
        missing = results.acked_notes - stored
        if missing:
            problems.append(f"{len(missing)} acknowledged notes are not in the database, "
                            f"e.g. {sorted(missing)[0]!r}")
        unasked = stored - results.acked_notes - results.cut_notes
        if unasked:
            problems.append(f"{len(unasked)} notes in the database were never acknowledged")
        broken = conn.execute(text(
            "SELECT COUNT(*) FROM notes n LEFT JOIN customers c ON c.id = n.customer_id "
            "LEFT JOIN users u ON u.id = n.author_id "
            "WHERE n.body IS NULL OR n.body = '' OR c.id IS NULL OR u.id IS NULL "
            "OR n.kind IS NULL OR n.created_at IS NULL")).scalar()
        if broken:
            problems.append(f"{broken} notes without body, customer, author or time")

        moves = dict(conn.execute(text(
            "SELECT opportunity_id, COUNT(*) FROM stage_changes "
            "WHERE from_stage_id IS NOT NULL AND opportunity_id IN :ids GROUP BY opportunity_id"
        ).bindparams(bindparam("ids", expanding=True)), {"ids": ids}).all())
        rows = conn.execute(text(
            "SELECT o.id, o.stage_id, (SELECT s.to_stage_id FROM stage_changes s "
            "WHERE s.opportunity_id = o.id ORDER BY s.id DESC LIMIT 1) "
            "FROM opportunities o WHERE o.id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)), {"ids": ids}).all()
        orphans = conn.execute(text(
            "SELECT COUNT(*) FROM stage_changes s LEFT JOIN opportunities o "
            "ON o.id = s.opportunity_id WHERE o.id IS NULL")).scalar()
        if orphans:
            problems.append(f"{orphans} stage changes without their opportunity")
    engine.dispose()

    for oid in ids:
        acked = len(results.acked_moves.get(oid, []))
        cut = results.cut_moves.get(oid, 0)
        found = moves.get(oid, 0)
        if not acked <= found <= acked + cut:
            problems.append(f"opportunity {oid}: {found} moves in the history, {acked} acknowledged"
                            + (f" and {cut} cut" if cut else ""))
    for oid, stage_id, last_history in rows:
        if stage_id != last_history:
            problems.append(f"opportunity {oid} is in stage {stage_id} but its history ends in "
                            f"{last_history}")
        acked = results.acked_moves.get(oid)
        if acked and oid not in results.last_was_cut and stage_id != acked[-1]:
            problems.append(f"opportunity {oid} is in stage {stage_id}, last acknowledged {acked[-1]}")
    return Check(problems=problems, notes_in_db=len(bodies), moves_in_db=sum(moves.values()))


# --- report --------------------------------------------------------------------------------

def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f}"


def report(label: str, results: Results, check: Check) -> str:
    lines = [f"{label}: {results.seconds:.1f} s"]
    lines.append(f"  {'kind':<6} {'requests':>8} {'2xx':>6} {'4xx':>5} {'5xx':>5} {'cut':>5} "
                 f"{'req/s':>6} {'p50 ms':>7} {'p95 ms':>7}")
    for kind in ("stage", "note", "read"):
        c = results.statuses.get(kind, Counter())
        total = sum(c.values())
        if not total:
            continue
        two = sum(n for s, n in c.items() if isinstance(s, int) and 200 <= s < 300)
        four = sum(n for s, n in c.items() if isinstance(s, int) and 400 <= s < 500)
        five = sum(n for s, n in c.items() if isinstance(s, int) and s >= 500)
        lat = results.latencies.get(kind, [])
        lines.append(f"  {kind:<6} {total:>8} {two:>6} {four:>5} {five:>5} {c.get('cut', 0):>5} "
                     f"{total / max(results.seconds, 0.001):>6.1f} {_ms(lat, 0.5):>7} {_ms(lat, 0.95):>7}")
    acked_moves = sum(len(v) for v in results.acked_moves.values())
    lines.append(f"  database: {check.moves_in_db} stage changes for {acked_moves} acknowledged; "
                 f"{check.notes_in_db} notes for {len(results.acked_notes)} acknowledged")
    lines.append("  " + ("OK: no 5xx, no lost write" if check.ok and not results.server_errors()
                         else "FAILED: " + "; ".join(check.problems[:10] + results.errors[:5])))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="SQLite (default: a temporary file) or a PostgreSQL server's URL: "
                             "a new database is made beside the one named")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)

    url, drop = fresh_database(args.database_url)
    failed = True
    dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    server = Server(url, workers=args.workers)
    try:
        server.wait_ready()
        plan = seed(url, args.clients)
        results = run_load(server.port, plan, args.seconds)
        check = verify(url, plan, results)
        print(report(f"{dialect}, {args.clients} clients, {args.workers} workers", results, check))
        failed = not check.ok or results.server_errors() or results.errors
        if failed:
            print(f"  gunicorn's log: {server.stderr_path}")
    finally:
        server.stop()
        if not args.keep:
            drop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
