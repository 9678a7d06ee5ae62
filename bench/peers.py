"""The desk beside django-helpdesk 2.6.1 on the same cases, server and load (bench/README.md).

django-helpdesk runs from a virtualenv this script makes (``--helpdesk-venv``, outside the
repository) with the desk's own Django, psycopg and uvicorn versions; its project is
``bench/peers_helpdesk``. Both databases hold the same cases: the desk's are seeded as
bench/pages.py seeds them, then copied into django-helpdesk's tables as tickets (a message is a
follow-up) by COPY between the two databases."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import pages
from bench.lib import db, http, procs, report, seed
from bench.lib.stats import summary

HELPDESK = "django-helpdesk==2.6.1"
# The desk's own versions of these, so that only the application differs.
SHARED_PINS = (
    "Django",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "uvicorn",
    "uvloop",
    "httptools",
)
DEFAULT_VENV = Path.home() / ".cache" / "handoff-bench" / "helpdesk-venv"
HELPDESK_SETTINGS = "bench.peers_helpdesk.settings"
SIDES = ("desk", "helpdesk")
OPERATIONS = ("create", "queue", "search", "filter + search", "case")
# Desk status -> django-helpdesk's (1 open, 3 resolved); priority 3 (urgent) .. 0 -> 1 .. 4.
TICKETS_SQL = """
COPY (
  SELECT c.id, left(c.customer_name || ': ' || c.summary, 200), c.handed_off_at, c.updated_at,
         c.customer_email, CASE c.status WHEN 'resolved' THEN 3 ELSE 1 END,
         c.status = 'awaiting_customer', c.summary, c.resolution_code, 4 - c.priority,
         c.sla_due_at, u.helpdesk, q.helpdesk, md5(c.id::text)::uuid::text
  FROM cases_case c
  JOIN unnest(%(queue_desk)s::bigint[], %(queue_hd)s::int[]) AS q(desk, helpdesk)
    ON q.desk = c.queue_id
  LEFT JOIN unnest(%(user_desk)s::int[], %(user_hd)s::int[]) AS u(desk, helpdesk)
    ON u.desk = c.assignee_id
) TO STDOUT"""
TICKET_COLUMNS = (
    "id, title, created, modified, submitter_email, status, on_hold, description, resolution, "
    "priority, due_date, assigned_to_id, queue_id, secret_key"
)
FOLLOWUPS_SQL = """
COPY (
  SELECT m.case_id, m.sent_at, initcap(m.role), m.text, m.role <> 'note', u.helpdesk
  FROM cases_message m
  LEFT JOIN unnest(%(user_desk)s::int[], %(user_hd)s::int[]) AS u(desk, helpdesk)
    ON u.desk = m.author_id
  ORDER BY m.case_id, m.seq
) TO STDOUT"""
FOLLOWUP_COLUMNS = "ticket_id, date, title, comment, public, user_id"


# --- django-helpdesk's virtualenv and database ------------------------------------------------


def helpdesk_venv(path: Path) -> Path:
    """The virtualenv's python, made (or remade when the pins changed) with pip from PyPI."""
    pins = [HELPDESK, *(f"{name}=={version(name)}" for name in SHARED_PINS)]
    python, marker = path / "bin" / "python", path / "bench-pins.txt"
    if python.exists() and marker.exists() and marker.read_text().split() == pins:
        return python
    print(f"installing {' '.join(pins)} into {path} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *pins], check=True)
    marker.write_text("\n".join(pins) + "\n")
    return python


def helpdesk_prepare(python: Path, env: dict[str, str], url: str, spec: dict[str, Any]) -> Any:
    """Drop, recreate and migrate django-helpdesk's database; its queues, users, token and
    session (``bench/peers_helpdesk/setup.py``)."""
    name = url.rsplit("/", 1)[1]
    db.pg(db.database_url(url, "postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    db.pg(db.database_url(url, "postgres"), f'CREATE DATABASE "{name}"')
    for command in (["-m", "django", "migrate", "--noinput"], ["bench/peers_helpdesk/setup.py"]):
        done = subprocess.run(
            [python, *command], cwd=db.ROOT, env=env, input=json.dumps(spec), text=True,
            capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"django-helpdesk {command[-1]} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout)


def copy_cases(desk_url: str, helpdesk_url: str, ids: dict[str, Any]) -> dict[str, int]:
    """The desk's cases as tickets and their messages as follow-ups, streamed by COPY."""
    import psycopg

    found = {}
    with (
        psycopg.connect(db.conninfo(desk_url)) as source,
        psycopg.connect(db.conninfo(helpdesk_url)) as target,
    ):
        copies = [("helpdesk_ticket", TICKET_COLUMNS, TICKETS_SQL),
                  ("helpdesk_followup", FOLLOWUP_COLUMNS, FOLLOWUPS_SQL)]  # fmt: skip
        for table, columns, sql in copies:
            with (
                source.cursor().copy(sql, ids) as out,
                target.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as into,
            ):
                for block in out:
                    into.write(block)
            target.commit()
        for table in ("helpdesk_ticket", "helpdesk_followup"):
            target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT max(id) FROM {table}))")  # fmt: skip
            row = target.execute(f"SELECT count(*) FROM {table}").fetchone()
            found[table] = int(row[0]) if row else 0
        target.commit()
    db.vacuum_analyze(helpdesk_url)
    return found


class HelpdeskServer(procs.Server):
    """uvicorn serving bench/peers_helpdesk/asgi.py from django-helpdesk's virtualenv, with the
    options the desk's server runs with."""

    def __init__(self, python: Path, env: dict[str, str], workers: int, logs: Path) -> None:
        self.workers, self.port = workers, procs.free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop, self.http = "uvloop", "httptools"
        command = [
            str(python), "-m", "uvicorn", "bench.peers_helpdesk.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--loop", self.loop, "--http", self.http, "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        procs.Logged.__init__(self, "helpdesk", command, env, logs)


# --- the load generator, in a process of its own -----------------------------------------------


async def load_setup(sides: dict[str, dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Per side: a transport over connections spread on both workers, and each operation as a
    coroutine of requests (a django-helpdesk list is its page and then the data the page's
    table asks for: a person waits for both)."""
    transports = {name: http.Transport(side["url"], concurrency) for name, side in sides.items()}
    for name, side in sides.items():
        await transports[name].balance(concurrency, side["workers"])
    counter = [0]
    datatables: dict[str, str] = {}

    async def get(side: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        return await transports[side].request("GET", path, headers)

    async def one(side: str, operation: str) -> str:
        """One operation; '' when it answered as expected, else what went wrong."""
        spec = sides[side]
        cookie = {"Cookie": f"sessionid={spec['session']}"}
        if operation == "create":
            counter[0] += 1
            body = spec["bodies"][counter[0] % len(spec["bodies"])]
            body = body.replace(db.MARK, f"peers-{time.time_ns()}-{counter[0]}")
            status, content = await transports[side].request(
                "POST", spec["create"], spec["create_headers"], body.encode()
            )
            return "" if status == 201 else f"{status}: {content[:200]!r}"
        path = spec["paths"][operation]
        status, content = await get(side, path, cookie)
        if status != 200:
            return f"{status}: {content[:200]!r}"
        if side == "helpdesk" and operation != "case":
            if path not in datatables:  # the URL the page's DataTable asks (it never changes)
                found = re.search(rb"datatables_ticket_list/([A-Za-z0-9+/=]*)", content)
                if not found:
                    return "no datatables URL in the ticket list"
                datatables[path] = (
                    f"/datatables_ticket_list/{found.group(1).decode()}?draw=1&start=0&length=25"
                    "&order%5B0%5D%5Bcolumn%5D=5&order%5B0%5D%5Bdir%5D=asc&search%5Bvalue%5D="
                )
            status, content = await get(side, datatables[path], cookie)
            if status != 200:
                return f"{status}: {content[:200]!r}"
        return ""

    async def batch(side: str, operation: str, count: int, pids: list[int], database: str
                    ) -> dict[str, Any]:  # fmt: skip
        """``count`` operations by ``concurrency`` clients (closed loop), their latencies and
        the CPU the side's server and PostgreSQL backends used meanwhile."""
        latencies: list[float] = []
        errors: list[str] = []
        todo = iter(range(count))

        async def client() -> None:
            for _ in todo:
                started = time.perf_counter()
                problem = await one(side, operation)
                latencies.append(time.perf_counter() - started)
                if problem:
                    errors.append(problem)

        before = procs.snapshot(pids, database)
        await asyncio.gather(*(client() for _ in range(concurrency)))
        cpu = procs.cpu_use(before, procs.snapshot(pids, database))
        return {"latencies": latencies, "errors": errors, "cpu": cpu,
                "seconds": time.perf_counter() - before.at}  # fmt: skip

    async def close() -> None:
        for transport in transports.values():
            transport.close()

    return {"batch": batch, "close": close}


# --- the run ---------------------------------------------------------------------------------


def seed_both(args: Namespace, python: Path, hd_env: dict[str, str], hd_url: str) -> Any:
    """The desk seeded as bench/pages.py seeds it, django-helpdesk's copy, both signed in."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from bench.lib import app

    seeded = pages.seed_desk(args)
    started = time.perf_counter()
    users = dict(User.objects.values_list("username", "pk"))
    queues = dict(app.Queue.objects.values_list("slug", "pk"))
    spec = {"queues": [[s, n] for s, n, *_ in seed.QUEUES], "users": sorted(users),
            "agent": "bench-agent"}  # fmt: skip
    hd = helpdesk_prepare(python, hd_env, hd_url, spec)
    ids = {
        "queue_desk": [queues[s] for s in hd["queues"]], "queue_hd": list(hd["queues"].values()),
        "user_desk": [users[u] for u in hd["users"]], "user_hd": list(hd["users"].values()),
    }  # fmt: skip
    copied = copy_cases(db.database_url(args.database_url, args.database_name), hd_url, ids)
    client = Client()
    client.force_login(User.objects.get(pk=seeded["agent_id"]))
    _, api_key = app.integration_create(name="peers-bench")
    seeded |= {"helpdesk": copied, "copy_seconds": round(time.perf_counter() - started, 1)}
    return seeded, hd, client.cookies[settings.SESSION_COOKIE_NAME].value, api_key


def create_bodies(args: Namespace, billing_hd: int) -> tuple[list[str], list[str]]:
    """The same STAR dialogues as the desk's handoff packages and as django-helpdesk tickets
    (title: the customer and the first message; description: the transcript), a mark where
    the unique id goes."""
    desk, helpdesk = [], []
    for package in db.star_packages(args.star, args.packages):
        prefix, suffix = db.template(package)
        desk.append((prefix + db.MARK.encode() + suffix).decode())
        lines = [f"{m.get('role', '')}: {m.get('text', '')}" for m in package.get("transcript", [])]
        name = (package.get("customer") or {}).get("name") or "Customer"
        helpdesk.append(json.dumps({
            "queue": billing_hd, "priority": 3, "submitter_email": "customer@example.com",
            "title": f"{name}: {(lines or ['handoff'])[0][:120]}",
            "description": db.MARK + "\n" + "\n".join(lines),
        }))  # fmt: skip
    return desk, helpdesk


def render(figures: dict[str, Any]) -> str:
    config, seeded = figures["config"], figures["seeded"]
    lines = report.header(
        "side by side with django-helpdesk", figures,
        f"servers : uvicorn --workers {config['workers']} (uvloop, httptools) each, psycopg pool "
        f"{config['pool_min']}-{config['pool_max']} per worker, one PostgreSQL; django-helpdesk "
        f"{config['helpdesk']} in {config['venv']}",
        f"data    : {seeded['cases']:,} cases on each side ({seeded['waiting']:,} waiting in "
        f"billing; {seeded['helpdesk']['helpdesk_followup']:,} follow-ups / messages); case "
        f"#{seeded['big_case_id']} has {seeded['big_case_messages']} messages; desk seeded in "
        f"{seeded['seconds']:.0f} s, django-helpdesk's copy in {seeded['copy_seconds']:.0f} s",
        f"load    : {config['rounds']} interleaved rounds (desk, helpdesk, ...) of "
        f"{config['per_round']} operations each, concurrency {config['concurrency']}, after a "
        "warm-up round; one client process",
        "",
    )  # fmt: skip
    rows = []
    for op in OPERATIONS:
        d, h = figures["results"]["desk"][op], figures["results"]["helpdesk"][op]
        rows.append((op, d["p50"], d["p95"], h["p50"], h["p95"], h["p50"] / d["p50"],
                     d["server_ms"], d["pg_ms"], h["server_ms"], h["pg_ms"],
                     d["errors"] + h["errors"]))  # fmt: skip
    lines += report.table(
        "operation<17|desk p50>10.1f|p95>8.1f|helpdesk p50>14.1f|p95>8.1f|ratio p50>10.1f"
        "|desk CPU ms srv>16.1f|pg>6.1f|helpdesk CPU srv>17.1f|pg>6.1f|errors>7",
        rows,
    )
    load = figures["load"]
    lines += [
        "",
        f"ratio = helpdesk p50 / desk p50 (> 1: the desk is faster). CPU ms = server or "
        "PostgreSQL CPU per operation. Machine: "
        f"{load['machine_cores']:.2f} of {config['cores']} cores busy on average while "
        f"measuring, {load['other_cores']:.2f} by other processes; the client used "
        f"{load['client_cores']:.2f}; load average {' '.join(map(str, load['loadavg']))} at "
        "the end.",
        *figures["notes"],
    ]
    for side, errors in figures["error_samples"].items():
        lines += [f"{side} errors: {sample}" for sample in errors[:3]]
    return "\n".join(lines)


def main() -> int:
    parser = db.arguments(
        "The desk beside django-helpdesk 2.6.1: same cases, server and load.",
        "handoff_bench_peers",
        wait_quiet=120.0,
    )
    add = parser.add_argument
    add("--helpdesk-database", default="handoff_bench_peers_helpdesk",
        help="django-helpdesk's, dropped and recreated (handoff_bench_peers_helpdesk)")  # fmt: skip
    add("--helpdesk-venv", type=Path, default=DEFAULT_VENV, help=f"({DEFAULT_VENV})")
    add("--cases", type=int, default=100_000, help="cases (100,000)")
    add("--waiting", type=int, default=10_000, help="waiting cases in billing (10,000)")
    add("--messages", type=int, default=500, help="messages of the big case (500)")
    add("--transcript", type=int, default=8, help="messages of every other case (8)")
    add("--rounds", type=int, default=6, help="interleaved rounds (6)")
    add("--per-round", type=int, default=8, help="operations per side and round (8)")
    add("--concurrency", type=int, default=4, help="clients per side (4)")
    add("--workers", type=int, default=2, help="uvicorn workers per side (2)")
    add("--pool-min", type=int, default=2, help="psycopg pool min_size per worker (2)")
    add("--pool-max", type=int, default=8, help="psycopg pool max_size per worker (8)")
    add("--packages", type=int, default=200, help="STAR dialogues created, round robin (200)")
    add("--star", type=Path, default=db.STAR_PATH, help="STAR dialogues.jsonl.gz")
    add("--flag", default="security", help="the desk's risk flag filtered on (security)")
    add("--search", default="okaf", help="search term, a name fragment (okaf)")
    add("--seed", type=int, default=7, help="random seed for the data")
    args = parser.parse_args()
    if args.cases < args.waiting + 10 or min(args.waiting, args.rounds, args.per_round) < 1:
        parser.error("--cases must exceed --waiting; --waiting, --rounds, --per-round >= 1")

    started_at, wall = report.utc_timestamp(), time.perf_counter()
    python = helpdesk_venv(args.helpdesk_venv)
    hd_url = db.database_url(args.database_url, args.helpdesk_database)
    pool = (args.pool_min, args.pool_max)
    with tempfile.TemporaryDirectory(prefix="handoff-bench-peers-") as tmp:
        desk_url = db.database_url(args.database_url, args.database_name)
        env = db.environment(desk_url, settings=args.settings, pool=pool, STATIC_ROOT=tmp)
        machine = report.machine(db.prepare(args, env, tmp))
        hd_env = env | {"DJANGO_SETTINGS_MODULE": HELPDESK_SETTINGS, "DATABASE_URL": hd_url}
        db.setup_django()
        seeded, hd, desk_session, api_key = seed_both(args, python, hd_env, hd_url)
        db.close_connections()
        desk_bodies, hd_bodies = create_bodies(args, hd["queues"]["billing"])
        big = seeded["big_case_id"]
        queue = "/queues/billing/"
        hd_queue = f"/tickets/?queue={hd['queues']['billing']}&status=1&assigned_to=-1"
        sides = {
            "desk": {
                "session": desk_session, "bodies": desk_bodies, "create": http.INTAKE_PATH,
                "create_headers": {"Content-Type": "application/json",
                                   "Authorization": f"Bearer {api_key}"},
                "paths": {"queue": queue, "search": f"{queue}?q={args.search}",
                          "filter + search": f"{queue}?flag={args.flag}&q={args.search}",
                          "case": f"/cases/{big}/"},
            },
            "helpdesk": {
                "session": hd["session"], "bodies": hd_bodies, "create": "/api/tickets/",
                "create_headers": {"Content-Type": "application/json",
                                   "Authorization": f"Token {hd['token']}"},
                "paths": {"queue": hd_queue, "search": f"{hd_queue}&q={args.search}",
                          "filter + search": f"{hd_queue}&priority=1&q={args.search}",
                          "case": f"/tickets/{big}/"},
            },
        }  # fmt: skip
        logs = Path(tmp)
        servers = {"desk": procs.Server(env, args.workers, logs)}
        load = None
        try:
            servers["helpdesk"] = HelpdeskServer(python, hd_env, args.workers, logs)
            pids = {side: server.wait_ready() for side, server in servers.items()}
            for side, server in servers.items():
                sides[side] |= {"url": server.base_url, "workers": args.workers}
            print(f"servers up: desk {servers['desk'].base_url}, django-helpdesk "
                  f"{servers['helpdesk'].base_url}", flush=True)  # fmt: skip
            load = procs.Helper("load", load_setup, sides, args.concurrency)
            databases = {"desk": args.database_name, "helpdesk": args.helpdesk_database}
            quiet = procs.wait_for_quiet(args.wait_quiet, args.database_name)
            samples: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
                lambda: defaultdict(list)
            )
            for number in range(args.rounds + 1):  # round 0 warms up
                print(f"round {number}/{args.rounds} ...", flush=True)
                for op in OPERATIONS:
                    order = SIDES if number % 2 else SIDES[::-1]  # neither always goes first
                    for side in order:
                        found = load.call("batch", wait=600, side=side, operation=op,
                                          count=args.per_round, pids=pids[side],
                                          database=databases[side])  # fmt: skip
                        servers[side].check_alive()
                        if number:
                            samples[side][op].append(found)
        finally:
            if load is not None:
                load.close()
            for server in servers.values():
                server.stop()

    results: dict[str, dict[str, dict[str, Any]]] = {}
    cpu_keys = ("machine_cores", "other_cores", "client_cores")
    load_seen: dict[str, list[float]] = defaultdict(list)
    error_samples: dict[str, list[str]] = {}
    for side in SIDES:
        results[side] = {}
        for op in OPERATIONS:
            batches = samples[side][op]
            latencies = [value for b in batches for value in b["latencies"]]
            count = len(latencies)
            server = sum(b["cpu"]["server_cores"] * b["seconds"] for b in batches)
            pg = sum(b["cpu"]["postgres_cores"] * b["seconds"] for b in batches)
            errors = [e for b in batches for e in b["errors"]]
            error_samples[side] = error_samples.get(side, []) + errors[:2]
            results[side][op] = summary(latencies, 1000, (50, 95)) | {
                "count": count, "errors": len(errors),
                "server_ms": server * 1000 / count if count else math.nan,
                "pg_ms": pg * 1000 / count if count else math.nan,
            }  # fmt: skip
            for key in cpu_keys:
                load_seen[key] += [b["cpu"][key] for b in batches]
    config = machine | dict(
        workers=args.workers, pool_min=args.pool_min, pool_max=args.pool_max,
        rounds=args.rounds, per_round=args.per_round, concurrency=args.concurrency,
        helpdesk=HELPDESK.split("==")[1], venv=str(args.helpdesk_venv),
    )  # fmt: skip
    notes = [
        f"desk: create = POST {http.INTAKE_PATH} (a STAR package: the case, its transcript "
        "as messages, routing, events); lists = /queues/billing/ (waiting cases, oldest "
        f"first), ?q={args.search}, ?flag={args.flag}&q={args.search}; case = the case page.",
        "django-helpdesk: create = POST /api/tickets/ (DRF token; the same dialogue as title "
        "and description); lists = /tickets/ filtered to billing, open, unassigned (the "
        f"waiting cases), its page and then the DataTable's JSON (25 rows); &q={args.search}; "
        "filter = &priority=1 (the desk's priority 3, 5% of cases, as the security flag); "
        "case = /tickets/<id>/ with 500 follow-ups.",
        f"other processes used {quiet:.2f} cores before measuring.",
    ]
    figures: dict[str, Any] = {
        "started_at": started_at, "config": config, "seeded": seeded, "results": results,
        "load": {key: round(mean(values), 3) for key, values in load_seen.items()}
        | {"loadavg": [round(v, 2) for v in os.getloadavg()]},
        "notes": notes, "error_samples": error_samples,
        "seconds": round(time.perf_counter() - wall),
    }  # fmt: skip
    text = render(figures) + f"\n\nwhole run: {figures['seconds']} s"
    ok = all(r["errors"] == 0 for side in results.values() for r in side.values())
    return report.finish(text, figures, args.json, ok)


if __name__ == "__main__":
    report.run_main(main)
