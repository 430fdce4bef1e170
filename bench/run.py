"""Measure the CRM under gunicorn against a generated database, beside a bare Flask route
(bench/bare.py: one indexed query) served the same way, the ceiling this machine allows.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python bench/run.py

Both servers run `gunicorn -c gunicorn.conf.py` with WEB_CONCURRENCY=1 (--workers) on free
ports of 127.0.0.1. The client (http.client, keep-alive, one connection per client thread)
logs in as the generated admin, then for every endpoint: a warm-up, --requests requests one
at a time (latency: p50, p95, p99), then --clients threads sending --throughput requests in
all (requests/s). Every request is bounded; nothing leaves 127.0.0.1.

Before the first and after the last GET it reads the database's write counter (SQLite:
PRAGMA data_version on a connection held open; PostgreSQL: inserted + updated + deleted
tuples in pg_stat_user_tables); any difference means a GET wrote to the database.

Targets (issue 4, one worker): list pages, pages and htmx swaps median within 3x the bare
route's and p95 <= 25 ms; reports p95 <= 200 ms. Leads (issue 11, section 6): the lead list
and the lead page median within 1.2x the customer list's, in the same run (printed under the
table, from the table and from a turn-about measure of the three).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import BENCH_ADMIN, BENCH_PASSWORD  # noqa: E402

LIST_P95_MS = 25.0
REPORT_P95_MS = 200.0
MAX_RATIO = 3.0
# Issue 11: these pages' median against the customer list's, in the same run.
LEAD_RATIO = 1.2
LEAD_PAGES = ("lead list", "lead page")


# --- servers -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn, started with the repository's gunicorn.conf.py."""

    def __init__(self, app: str, database_url: str, workers: int, log: Path, secret: str):
        self.port = free_port()
        env = dict(os.environ, DATABASE_URL=database_url, HOST="127.0.0.1", PORT=str(self.port),
                   WEB_CONCURRENCY=str(workers), SECRET_KEY=secret, PYTHONPATH=str(ROOT))
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], cwd=ROOT, env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer on {self.port}; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group only
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


# --- client ------------------------------------------------------------------------------

class Client:
    """A keep-alive HTTP/1.1 client with a cookie jar of one site."""

    def __init__(self, port: int, cookies: dict | None = None):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = dict(cookies or {})

    def request(self, method: str, path: str, body: dict | None = None,
                headers: dict | None = None) -> tuple[int, str, dict]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn's max_requests recycles the worker: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, text, dict(response.getheaders())

    def close(self):
        self.conn.close()


def csrf_token(html: str) -> str:
    match = (re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
             or re.search(r'name="csrf_token" value="([^"]+)"', html)
             or re.search(r'"X-CSRFToken":\s*"([^"]+)"', html)
             or re.search(r'name="csrf-token" content="([^"]+)"', html))
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def log_in(port: int) -> tuple[dict, str]:
    client = Client(port)
    status, html, _ = client.request("GET", "/login")
    token = csrf_token(html)
    status, html, headers = client.request(
        "POST", "/login", {"email": BENCH_ADMIN, "password": BENCH_PASSWORD, "csrf_token": token})
    if status not in (302, 303):
        raise RuntimeError(f"login failed ({status}); was the database made by bench/generate.py?")
    status, html, _ = client.request("GET", "/customers")
    token = csrf_token(html)
    client.close()
    return client.cookies, token


# --- the database's write counter -------------------------------------------------------

class WriteCounter:
    def __init__(self, database_url: str):
        from sqlalchemy import create_engine

        from crm.config import normalise_database_url
        self.url = normalise_database_url(database_url)
        self.postgres = self.url.startswith("postgresql")
        self.engine = create_engine(self.url)
        self.conn = self.engine.connect()

    def read(self) -> int:
        if self.postgres:
            # A server backend flushes its table statistics within PGSTAT_IDLE_INTERVAL (10 s).
            time.sleep(11)
            self.conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            value = self.conn.exec_driver_sql(
                "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
            ).scalar()
            self.conn.rollback()
            return int(value)
        value = self.conn.exec_driver_sql("PRAGMA data_version").scalar()
        return int(value)

    def one(self, sql: str):
        value = self.conn.exec_driver_sql(sql).scalar()
        self.conn.rollback()
        return value

    def close(self):
        self.conn.close()
        self.engine.dispose()


# --- measuring ---------------------------------------------------------------------------

@dataclass
class Endpoint:
    name: str
    kind: str  # "list", "page", "swap", "report", "bare"
    method: str
    paths: list[str]
    body: callable = None  # (client index, request index) -> dict
    headers: dict = field(default_factory=dict)
    server: str = "app"
    expect: tuple = (200,)
    # For the throughput clients (1..n): their own paths, e.g. one opportunity each.
    client_paths: list[str] = field(default_factory=list)


@dataclass
class Result:
    endpoint: Endpoint
    latencies_ms: list[float]
    throughput: float
    errors: int
    statuses: dict

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        k = min(len(data) - 1, max(0, int(round(q / 100 * len(data) + 0.5)) - 1))
        return data[k]

    @property
    def p50(self):
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def measure(endpoint: Endpoint, port: int, cookies: dict, *, warmup: int, requests: int,
            clients: int, throughput_requests: int, max_seconds: float) -> Result:
    statuses: dict[int, int] = {}
    errors = 0

    def one(client: Client, c: int, i: int) -> float:
        nonlocal errors
        if c and endpoint.client_paths:
            path = endpoint.client_paths[(c - 1) % len(endpoint.client_paths)]
        else:
            path = endpoint.paths[i % len(endpoint.paths)]
        body = endpoint.body(c, i) if endpoint.body else None
        started = time.perf_counter()
        status, _, _ = client.request(endpoint.method, path, body, endpoint.headers)
        elapsed = (time.perf_counter() - started) * 1000
        statuses[status] = statuses.get(status, 0) + 1
        if status not in endpoint.expect:
            errors += 1
        return elapsed

    client = Client(port, cookies)
    for i in range(warmup):
        one(client, 0, i)
    statuses.clear()
    errors = 0
    latencies = []
    deadline = time.monotonic() + max_seconds
    for i in range(warmup, warmup + requests):
        latencies.append(one(client, 0, i))
        if time.monotonic() > deadline:
            break
    client.close()

    per_client = max(1, throughput_requests // clients)
    done = [0] * clients

    def worker(c: int):
        cl = Client(port, cookies)
        stop = time.monotonic() + max_seconds
        for i in range(per_client):
            one(cl, c + 1, i)
            done[c] += 1
            if time.monotonic() > stop:
                break
        cl.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return Result(endpoint, latencies, sum(done) / elapsed if elapsed else 0.0, errors, statuses)


# --- the endpoints -----------------------------------------------------------------------

def endpoints(counter: WriteCounter, token: str, app_client: Client) -> tuple[list[Endpoint], list[str]]:
    """What to measure, with ids picked from the generated database; and notes on skips."""
    one = counter.one
    n_customers = int(one("SELECT MAX(id) FROM customers"))
    tag_id = one("SELECT tag_id FROM customer_tags GROUP BY tag_id ORDER BY COUNT(*) LIMIT 1")
    stages = [row for row in counter.conn.exec_driver_sql(
        "SELECT s.id FROM stages s JOIN pipelines p ON p.id = s.pipeline_id "
        "WHERE s.kind = 'open' ORDER BY p.position, s.position").scalars()]
    counter.conn.rollback()
    step = max(1, n_customers // 97)
    customer_ids = list(range(1, n_customers + 1, step))[:50]
    opp_ids = [row for row in counter.conn.exec_driver_sql(
        f"SELECT id FROM opportunities WHERE status = 'open' AND stage_id IN ({stages[1]}, {stages[2]}) "
        "ORDER BY id LIMIT 120").scalars()]
    counter.conn.rollback()
    htmx = {"HX-Request": "true", "X-CSRFToken": token}
    notes: list[str] = []

    def stage_body(c: int, i: int) -> dict:
        # Each client thread moves its own opportunity back and forth between two open stages.
        return {"stage_id": stages[1 + (i % 2)], "csrf_token": token}

    # The moves rotate over 49 opportunities (an odd number, so that each one alternates
    # between the two stages from one visit to the next): moving a single deal hundreds of
    # times would measure a stage history no real deal has.
    stage_paths = [f"/opportunities/{oid}/stage" for oid in opp_ids[60:109]]

    def note_body(c: int, i: int) -> dict:
        return {"kind": "call", "body": f"Benchmark note {c}-{i}: called, they want a quote.",
                "customer_id": str(customer_ids[i % len(customer_ids)]), "csrf_token": token}

    result = [
        Endpoint("bare: one indexed query", "bare", "GET",
                 [f"/customer/{cid}" for cid in customer_ids], server="bare"),
        # The app's own floor: a signed-in request answered with the layout and nothing else
        # (the 404 page: session, user and badge query, CSRF, Babel, the base template).
        Endpoint("floor: signed-in 404 page", "floor", "GET", ["/bench-no-such-page"], expect=(404,)),
        Endpoint("customer list", "list", "GET", ["/customers"]),
        Endpoint("customer list, search q=beijing", "list", "GET", ["/customers?q=beijing"]),
        Endpoint("customer list, search q=科技 (htmx)", "list", "GET",
                 ["/customers?q=%E7%A7%91%E6%8A%80"],
                 headers={"HX-Request": "true", "HX-Target": "customer-results"}),
        Endpoint(f"customer list, tag={tag_id}", "list", "GET", [f"/customers?tag={tag_id}"]),
        Endpoint("customer page", "page", "GET", [f"/customers/{cid}" for cid in customer_ids]),
        Endpoint("opportunity list", "list", "GET", ["/opportunities"]),
        Endpoint("opportunity page", "page", "GET", [f"/opportunities/{oid}" for oid in opp_ids[1:51]]),
        Endpoint("board /pipeline", "list", "GET", ["/pipeline"]),
        Endpoint("task list /tasks", "list", "GET", ["/tasks"]),
    ]
    try:
        n_leads = int(one("SELECT COUNT(*) FROM leads") or 0)
    except Exception:  # a database generated before leads existed
        counter.conn.rollback()
        n_leads = 0
    lead_ids = []
    if n_leads:
        lead_step = max(1, n_leads // 53)
        lead_ids = [row for row in counter.conn.exec_driver_sql(
            f"SELECT id FROM leads WHERE status != 'converted' AND id % {lead_step} = 0 "
            "ORDER BY id LIMIT 50").scalars()]
        counter.conn.rollback()
        result += [
            Endpoint("lead list", "list", "GET", ["/leads"]),
            Endpoint("lead list, search q=wang (htmx)", "list", "GET", ["/leads?q=wang"],
                     headers={"HX-Request": "true", "HX-Target": "lead-results"}),
            Endpoint("lead page", "page", "GET", [f"/leads/{lid}" for lid in lead_ids]),
        ]
    else:
        notes.append("No leads measured: the database has none (bench/generate.py --leads 0?).")
    # Reports: whatever /reports links to, if the area exists yet.
    status, html, _ = app_client.request("GET", "/reports")
    if status == 200:
        links = sorted(set(re.findall(r'href="(/reports/[^"#?]*)"', html)))[:10]
        result.append(Endpoint("report index /reports", "report", "GET", ["/reports"]))
        for link in links:
            result.append(Endpoint(f"report {link}", "report", "GET", [link]))
    else:
        notes.append(f"No reports measured: GET /reports answered {status} (no report pages yet).")
    result += [
        Endpoint("stage change (htmx POST)", "swap", "POST", stage_paths, body=stage_body,
                 headers=dict(htmx, **{"HX-Target": "stage-widget"}),
                 client_paths=[f"/opportunities/{oid}/stage" for oid in opp_ids[110:120]]),
        Endpoint("note add (htmx POST /notes)", "swap", "POST", ["/notes"], body=note_body,
                 headers=dict(htmx, **{"HX-Target": "timeline-items"})),
    ]
    if lead_ids:
        def lead_note_body(c: int, i: int) -> dict:
            return {"kind": "visit", "body": f"Benchmark visit {c}-{i}.",
                    "lead_id": str(lead_ids[i % len(lead_ids)]), "csrf_token": token}
        result.append(Endpoint("note add on a lead (htmx POST /notes, rescored)", "swap", "POST",
                               ["/notes"], body=lead_note_body,
                               headers=dict(htmx, **{"HX-Target": "timeline-items"})))
    return result, notes


def verdict(result: Result, bare_p50: float) -> str:
    kind = result.endpoint.kind
    if kind == "bare":
        return "(ceiling)"
    if kind == "floor":
        return "(the app's floor)"
    p95 = result.pct(95)
    if kind == "report":
        return "ok" if p95 <= REPORT_P95_MS else f"MISS (p95 > {REPORT_P95_MS:.0f} ms)"
    misses = []
    if result.p50 > MAX_RATIO * bare_p50:
        misses.append(f"median > {MAX_RATIO:.0f}x bare")
    if p95 > LIST_P95_MS:
        misses.append(f"p95 > {LIST_P95_MS:.0f} ms")
    return "ok" if not misses else "MISS (" + ", ".join(misses) + ")"


def print_table(results: list[Result], title: str, out=sys.stdout) -> None:
    bare = next(r for r in results if r.endpoint.kind == "bare")
    print(f"\n{title}\n", file=out)
    print("| endpoint | kind | n | p50 ms | p95 ms | p99 ms | req/s | p50 / bare | target |", file=out)
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |", file=out)
    for r in results:
        errors = f" ({r.errors} unexpected: {r.statuses})" if r.errors else ""
        print(f"| {r.endpoint.name} | {r.endpoint.kind} | {len(r.latencies_ms)} | {r.p50:.1f} | "
              f"{r.pct(95):.1f} | {r.pct(99):.1f} | {r.throughput:.0f} | "
              f"{r.p50 / bare.p50:.1f}x | {verdict(r, bare.p50)}{errors} |", file=out)


def interleaved(eps: list[Endpoint], port: int, cookies: dict, requests: int) -> dict[str, float]:
    """The medians of `eps` measured turn about (one request of each, again and again) on one
    connection: a machine whose load drifts during a run weighs on each alike, which the
    one-endpoint-after-another table cannot promise. {name: median ms}."""
    client = Client(port, cookies)
    times: dict[str, list[float]] = {e.name: [] for e in eps}
    for i in range(requests + 5):
        for e in eps:
            started = time.perf_counter()
            status, _, _ = client.request("GET", e.paths[i % len(e.paths)], None, e.headers)
            if i >= 5 and status in e.expect:  # the first five: warm-up
                times[e.name].append((time.perf_counter() - started) * 1000)
    client.close()
    return {name: statistics.median(values) for name, values in times.items() if values}


def print_interleaved(medians: dict[str, float], requests: int, out=sys.stdout) -> None:
    base = medians.get("customer list")
    if not base:
        return
    print(f"\nTurn about, {requests} rounds (customer list, lead list, lead page):", file=out)
    for name in LEAD_PAGES:
        if name in medians:
            ratio = medians[name] / base
            print(f"{name}: median {medians[name]:.1f} ms = {ratio:.2f}x the customer list's "
                  f"{base:.1f} ms (target <= {LEAD_RATIO}x: {'ok' if ratio <= LEAD_RATIO else 'MISS'})",
                  file=out)


def print_lead_ratios(results: list[Result], out=sys.stdout) -> None:
    """Issue 11: the lead list's and the lead page's median against the customer list's."""
    by_name = {r.endpoint.name: r for r in results}
    customers = by_name.get("customer list")
    if customers is None:
        return
    for name in LEAD_PAGES:
        if name in by_name:
            ratio = by_name[name].p50 / customers.p50
            print(f"{name}: median {by_name[name].p50:.1f} ms = {ratio:.2f}x the customer list's "
                  f"{customers.p50:.1f} ms (target <= {LEAD_RATIO}x: "
                  f"{'ok' if ratio <= LEAD_RATIO else 'MISS'})", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--requests", type=int, default=300, help="latency requests per endpoint")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for throughput")
    parser.add_argument("--throughput", type=int, default=200,
                        help="requests in all for the throughput measure, per endpoint")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="cap on each phase of each endpoint")
    parser.add_argument("--only", help="measure only endpoints whose name contains this")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--logs", default="/tmp", help="where the gunicorn logs go")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")

    secret = secrets.token_hex(16)
    logs = Path(args.logs)
    app_server = Server("app:app", args.database_url, args.workers, logs / "bench-app.log", secret)
    bare_server = Server("bench.bare:app", args.database_url, args.workers, logs / "bench-bare.log", secret)
    counter = None
    try:
        app_server.wait()
        bare_server.wait()
        cookies, token = log_in(app_server.port)
        counter = WriteCounter(args.database_url)
        probe = Client(app_server.port, cookies)
        eps, notes = endpoints(counter, token, probe)
        probe.close()
        if args.only:
            eps = [e for e in eps if e.kind == "bare" or args.only in e.name
                   or (e.name == "customer list" and "lead" in args.only)]
        ports = {"app": app_server.port, "bare": bare_server.port}
        results: list[Result] = []
        gets = [e for e in eps if e.method == "GET"]
        posts = [e for e in eps if e.method != "GET"]
        before = counter.read()
        for e in gets:
            r = measure(e, ports[e.server], cookies, warmup=args.warmup, requests=args.requests,
                        clients=args.clients, throughput_requests=args.throughput,
                        max_seconds=args.max_seconds)
            print(f"  {e.name}: p50 {r.p50:.1f} ms, p95 {r.pct(95):.1f} ms, {r.throughput:.0f} req/s"
                  + (f", {r.errors} unexpected statuses {r.statuses}" if r.errors else ""), flush=True)
            results.append(r)
        compared = [e for e in gets if e.name in ("customer list", *LEAD_PAGES)]
        turn_about = (interleaved(compared, ports["app"], cookies, args.requests)
                      if len(compared) > 1 else {})
        after = counter.read()
        get_writes = after - before
        for e in posts:
            r = measure(e, ports[e.server], cookies, warmup=args.warmup, requests=args.requests,
                        clients=args.clients, throughput_requests=args.throughput,
                        max_seconds=args.max_seconds)
            print(f"  {e.name}: p50 {r.p50:.1f} ms, p95 {r.pct(95):.1f} ms, {r.throughput:.0f} req/s"
                  + (f", {r.errors} unexpected statuses {r.statuses}" if r.errors else ""), flush=True)
            results.append(r)
        dialect = "PostgreSQL" if counter.postgres else "SQLite"
        customers = counter.one("SELECT COUNT(*) FROM customers")
        title = (f"{dialect}, {customers:,} customers, {args.workers} gunicorn worker(s), "
                 f"{args.requests} sequential requests per endpoint after {args.warmup} warm-up, "
                 f"throughput with {args.clients} clients")
        print_table(results, title)
        print_lead_ratios(results)
        print_interleaved(turn_about, args.requests)
        if get_writes:
            print(f"\nWRITES ON GET: the database's write counter moved by {get_writes} during the GETs.")
        else:
            print("\nNo database write during the GETs (write counter unchanged).")
        for note in notes:
            print(note)
        if args.json:
            Path(args.json).write_text(json.dumps({
                "title": title, "get_writes": get_writes, "notes": notes,
                "results": [{"name": r.endpoint.name, "kind": r.endpoint.kind, "n": len(r.latencies_ms),
                             "p50": r.p50, "p95": r.pct(95), "p99": r.pct(99),
                             "rps": r.throughput, "errors": r.errors, "statuses": r.statuses}
                            for r in results]}, ensure_ascii=False, indent=1))
        return 0
    finally:
        if counter is not None:
            counter.close()
        app_server.stop()
        bare_server.stop()


if __name__ == "__main__":
    sys.exit(main())
