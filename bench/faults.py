"""Faults (issue 4, section 8): a gunicorn worker killed in the middle of a request loses
nothing that was committed and leaves nothing half-written.

    python bench/faults.py                                  # SQLite: 20 clients, 30 s, 4 workers
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres python bench/faults.py
    python bench/faults.py --clients 8 --seconds 6          # what tests/test_load.py runs

The same clients as bench/load.py (stage changes, notes, reads) run against 4 workers; from the
middle of the run a worker busy with them gets SIGKILL (no chance to finish or clean up), and
again, a few seconds apart, until a kill has cut a request in flight (at most --kills kills).
The master starts a new worker each time. Afterwards, from the database:
- every write answered 2xx, before and after the kill, is there (and exactly once);
- a request cut by the kill may be there or not, never half: every note has its body,
  customer and author, every stage change its opportunity, and each opportunity's stage is
  the one its history ends in;
- the workers are back to 4 and answered requests after the kill.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import (Results, Server, fresh_database, report, run_load, seed,  # noqa: E402
                        verify)


@dataclass
class Kills:
    pids: list[int] = field(default_factory=list)
    cut_after: list[int] = field(default_factory=list)  # requests cut so far, after each kill
    answered_before: int = 0  # 2xx answers before the first kill
    replaced: bool = False  # the master brought the workers back to their number

    @property
    def cut_a_request(self) -> bool:
        return bool(self.cut_after) and self.cut_after[-1] > 0


def busy_workers(server: Server) -> list[int]:
    """The workers holding an accepted connection now: in the middle of a request (a sync
    worker accepts, answers and closes). Read from /proc: the ESTABLISHED TCP sockets on the
    server's port, and which worker has them open."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            if local_port == server.port and parts[3] == "01":  # 01: ESTABLISHED
                inodes.add(parts[9])
    busy = []
    for pid in server.worker_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                busy.append(pid)
                break
    return busy


def _pick_victim(server: Server, already: list[int], wait: float = 3.0) -> int | None:
    """A worker in the middle of a request if one shows up within `wait` s, else any."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        busy = [pid for pid in busy_workers(server) if pid not in already]
        if busy:
            return busy[0]
        time.sleep(0.005)
    workers = [pid for pid in server.worker_pids() if pid not in already]
    return workers[0] if workers else None


def killer(server: Server, kills: Kills, max_kills: int = 3, gap: float = 2.0,
           start: float = 0.5):
    """A `during` for run_load: SIGKILL a worker from the middle of the run until a kill has
    cut a request (at most `max_kills`), waiting for the master to replace each one."""
    def during(results: Results, began: float, deadline: float) -> None:
        middle = began + (deadline - began) * start
        time.sleep(max(0.0, middle - time.monotonic()))
        kills.answered_before = results.ok()
        for _ in range(max_kills):
            if time.monotonic() > deadline - 1.0:
                break
            victim = _pick_victim(server, kills.pids)
            if victim is None:
                break
            os.kill(victim, signal.SIGKILL)  # a worker of the server this run started
            kills.pids.append(victim)
            server.wait_workers(server.workers, exclude=set(kills.pids), timeout=60)
            time.sleep(0.5)  # let the clients see the cut connection
            kills.cut_after.append(results.cut())
            if kills.cut_a_request:
                break
            time.sleep(gap)
        kills.replaced = len(server.wait_workers(server.workers, exclude=set(kills.pids),
                                                 timeout=60)) >= server.workers
    return during


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=3, help="at most this many workers killed")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)

    url, drop = fresh_database(args.database_url, prefix="crm_faults")
    dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    server = Server(url, workers=args.workers)
    failed = True
    try:
        server.wait_ready()
        plan = seed(url, args.clients)
        kills = Kills()
        results = run_load(server.port, plan, args.seconds, during=killer(server, kills, args.kills))
        check = verify(url, plan, results)
        print(report(f"{dialect}, {args.clients} clients, {args.workers} workers, "
                     f"{len(kills.pids)} worker(s) killed", results, check))
        answered_after = results.ok() - kills.answered_before
        print(f"  killed {kills.pids}; requests cut: {results.cut()}; 2xx before the first kill "
              f"{kills.answered_before}, after {answered_after}; workers replaced: {kills.replaced}")
        failed = (not check.ok or results.server_errors() > 0 or bool(results.errors)
                  or not kills.pids or not kills.replaced or answered_after <= 0)
        if failed:
            print(f"  FAILED; gunicorn's log: {server.stderr_path}")
    finally:
        server.stop()
        if not args.keep:
            drop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
