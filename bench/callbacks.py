"""Intake commit → signed callback, one worker's rate, Celery idle, SLA marks (bench/README.md)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from celery import shared_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, http, procs, report
from bench.lib.stats import percentile, summary

CALLBACK_P99_TARGET_S = 1.0
ENQUEUE_P99_TARGET_MS = 50.0
SLA_P99_TARGET_S = 2.0
PROBE_TASK = "bench.callbacks.probe"
SLA_FACT = "bench_sla"


@cache
def probe_redis() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


@shared_task(name=PROBE_TASK, ignore_result=True)
def probe(key: str, sent: float) -> None:
    """A trivial task that notes when the worker started it, for enqueue → start."""
    probe_redis().rpush(key, f"{sent} {time.time()}")


def receiver_main(secret: str, out_path: str, ready: Connection) -> None:
    """The bot platform: HTTP/1.1 with keep-alive, a thread per connection; verifies every
    signature with the ``standardwebhooks`` library and notes each callback's arrival."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    hook, lock = Webhook(secret), threading.Lock()
    out = open(out_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115  (lives with the process)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            arrived, headers = time.time(), dict(self.headers)
            try:
                payload, verified = hook.verify(body, headers), True
            except (WebhookVerificationError, ValueError):
                payload, verified = json.loads(body or b"{}"), False
            self.send_response(204 if verified else 401)
            self.send_header("content-length", "0")
            self.end_headers()
            case_id = (payload.get("data") or {}).get("case_id")
            record = {"webhook_id": headers.get("webhook-id", ""), "case_id": case_id,
                      "arrived": arrived, "verified": verified}  # fmt: skip
            with lock:
                out.write(json.dumps(record) + "\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ready.send(server.server_address[1])
    server.serve_forever()


class Receiver:
    def __init__(self, secret: str, logs: Path) -> None:
        self.path = logs / "received.jsonl"
        self.path.touch()
        parent, child = procs.SPAWN.Pipe()
        self.process = procs.SPAWN.Process(
            target=receiver_main, args=(secret, str(self.path), child), daemon=True
        )
        self.process.start()
        if not parent.poll(10):
            raise SystemExit("the receiver did not start")
        self.url = f"http://127.0.0.1:{parent.recv()}/hooks/desk"

    def records(self) -> list[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.endswith("\n")]

    def received(self, case_ids: set[int]) -> int:
        return len({r["webhook_id"] for r in self.records() if r.get("case_id") in case_ids})

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def setup_desk(run_id: str, sla_seconds: int) -> tuple[str, Any]:
    """A default queue with a one-hour SLA, a short-SLA queue a published rule sends
    ``bench_sla: short`` packages to, and an integration; its key and the integration."""
    from bench.lib import app

    app.Queue.objects.update(is_default=False)
    app.queue_ensure(slug="bench-general", name="Bench general", sla_seconds=3600, is_default=True)
    app.queue_ensure(slug="bench-sla", name="Bench SLA", sla_seconds=sla_seconds)
    when = {"all": [{"field": f"facts.{SLA_FACT}", "op": "eq", "value": "short"}]}
    rules = [{"name": "short SLA for the bench", "conditions": when, "queue": "bench-sla"}]
    app.rule_set_publish(ruleset=app.rule_set_create_draft(rules=rules), note="bench/callbacks.py")
    integration, api_key = app.integration_create(name=f"bench-callbacks-{run_id}")
    return api_key, integration


def callback_figures(sent: list[http.Sent], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each handoff's callback, once: arrival - the Delivery row's created_at (inside the
    intake's transaction: an upper bound) and - the client's 201 (after the commit)."""
    from bench.lib import app

    by_case = {s.case_id: s for s in sent if s.case_id is not None}
    rows = {
        row["webhook_id"]: row
        for row in app.Delivery.objects.filter(case_id__in=list(by_case), kind="handoff.accepted")
        .values("webhook_id", "case_id", "created_at", "attempts")
    }  # fmt: skip
    seen: set[str] = set()
    duplicates = unverified = 0
    commit, answered, arrivals = [], [], []
    for record in records:
        row = rows.get(record["webhook_id"])
        if row is None:
            continue
        if record["webhook_id"] in seen:
            duplicates += 1
            continue
        seen.add(record["webhook_id"])
        unverified += not record["verified"]
        arrivals.append(float(record["arrived"]))
        commit.append(arrivals[-1] - row["created_at"].timestamp())
        answered.append(arrivals[-1] - by_case[row["case_id"]].answered)
    return {
        "received": len(seen),
        "expected": len(rows),
        "duplicates": duplicates,
        "unverified": unverified,
        "retried": sum(1 for row in rows.values() if row["attempts"] > 1),
        "span": max(arrivals) - min(arrivals) if arrivals else 0.0,
        "commit_to_callback_ms": summary(commit, 1000, digits=1),
        "response_to_callback_ms": summary(answered, 1000, digits=1),
    }


def sla_lateness(case_ids: list[int]) -> tuple[list[float], int]:
    """Seconds from each case's due time to its ``sla_breached`` event; how many lack one."""
    from bench.lib import app

    due = dict(app.Case.objects.filter(pk__in=case_ids).values_list("pk", "sla_due_at"))
    marked = dict(
        app.CaseEvent.objects.filter(case_id__in=case_ids, kind="sla_breached").values_list(
            "case_id", "created_at"
        )
    )
    return sorted((marked[pk] - due[pk]).total_seconds() for pk in marked), len(due) - len(marked)


def probe_latencies(count: int, run_id: str) -> list[float]:
    """Enqueue → start of ``count`` trivial tasks sent one at a time to an idle worker (ms)."""
    from bench.lib import app

    key, found = f"bench-callbacks-probe-{run_id}", []
    for n in range(count + 5):  # the first five warm the connections and are not counted
        sent = time.time()
        app.celery_app.send_task(PROBE_TASK, args=[key, sent])
        answer = probe_redis().blpop([key], timeout=10)
        if answer is None:
            raise RuntimeError("a probe task did not start within 10 s")
        sent_at, started = (float(v) for v in answer[1].split())
        if n >= 5:
            found.append((started - sent_at) * 1000)
        time.sleep(random.uniform(0.02, 0.08))  # not in step with beat's one-second tasks
    return sorted(found)


def wait_until(what: str, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            print(f"  gave up waiting for {what} after {timeout:.0f} s", flush=True)
            return
        time.sleep(0.2)


def run_phases(args: Any, run_id: str, env: dict[str, str], logs: Path, started: list[Any]) -> Any:
    from bench.lib import app

    api_key, integration = setup_desk(run_id, args.sla_seconds)
    receiver = Receiver(integration.signing_secret, logs)
    started.append(receiver)
    app.Integration.objects.filter(pk=integration.pk).update(callback_url=receiver.url)
    packages = db.star_packages(args.star, args.packages)
    plain = [db.template(p) for p in packages]
    short = [db.template(p, **{SLA_FACT: "short"}) for p in packages]

    def bodies(prefix: str, count: int, every: int) -> list[tuple[bytes, bool]]:
        marked = [every > 0 and n % every == every - 1 for n in range(count)]
        return [
            (db.body((short if sla else plain)[n % len(plain)], f"{prefix}-{n:05d}"), sla)
            for n, sla in enumerate(marked)
        ]

    server = procs.Server(env, args.server_workers, logs)
    started.append(server)
    server.wait_ready()

    def post(payloads: list[tuple[bytes, bool]], rate: float, connections: int) -> list[http.Sent]:
        return asyncio.run(http.post_handoffs(
            server.base_url, api_key, lambda n: payloads[n][0], len(payloads), rate, connections,
            args.server_workers,
        ))  # fmt: skip

    print(f"server up at {server.base_url}, receiver at {receiver.url}", flush=True)
    quiet = procs.wait_for_quiet(args.wait_quiet, args.database_name) if args.wait_quiet else None
    node = f"bench-callbacks-{run_id}@localhost"

    print(f"burst: {args.burst} handoffs with no worker running ...", flush=True)
    burst = post(bodies("burst", args.burst, 0), 0, 16)
    burst_ids = {s.case_id for s in burst if s.case_id is not None}
    worker = procs.celery(
        env, logs, "worker", "-n", node, "--concurrency", str(args.concurrency), "--pool",
        "prefork", "-I", "bench.callbacks", "--loglevel", "warning",
    )  # fmt: skip
    started.append(worker)
    procs.worker_answering(worker, app.celery_app, node)
    cpu = worker.cpu_seconds()
    wait_until(
        "the burst's callbacks",
        lambda: receiver.received(burst_ids) >= len(burst_ids),
        max(60.0, len(burst_ids) / 5),
    )
    drained = callback_figures(burst, receiver.records())
    rate = (drained["received"] - 1) / drained["span"] if drained["span"] > 0 else float("nan")
    drained |= {
        "handoffs": len(burst),
        "intake_errors": sum(1 for s in burst if s.status not in (200, 201)),
        "deliveries_per_second_per_worker": round(rate / args.concurrency, 1),
        "worker_cpu_ms_per_delivery": round(
            (worker.cpu_seconds() - cpu) * 1000 / max(drained["received"], 1), 2
        ),
    }
    print(f"  {drained['received']} delivered in {drained['span']:.2f} s: {rate:.1f}/s", flush=True)

    beat = procs.celery(
        env, logs, "beat", "--schedule", str(logs / "schedule"), "--loglevel", "warning"
    )
    started.append(beat)
    time.sleep(3.0)  # beat's first ticks, the worker back to idle
    beat.check_alive()
    print(f"idle: {args.probes} probe tasks, one at a time ...", flush=True)
    probes = probe_latencies(args.probes, run_id)

    rate_now = args.rate or max(round(rate / 2, 1), 1.0)
    print(f"latency: {args.handoffs} handoffs at {rate_now:.1f}/s ...", flush=True)
    cpu, began = worker.cpu_seconds(), time.monotonic()
    payloads = bodies(f"run-{run_id}", args.handoffs, args.sla_every)
    sent = post(payloads, rate_now, 32)
    sending = time.monotonic() - began
    case_ids = {s.case_id for s in sent if s.case_id is not None}
    wait_until("the callbacks", lambda: receiver.received(case_ids) >= len(case_ids), 120)
    sla_ids = [s.case_id for s in sent if payloads[s.number][1] and s.case_id is not None]
    wait_until("the SLA breaches", lambda: sla_lateness(sla_ids)[1] == 0, args.sla_seconds + 30)
    got = callback_figures(sent, receiver.records())
    late, unmarked = sla_lateness(sla_ids)
    got |= {
        "handoffs": len(sent),
        "rate": rate_now,
        "worker_share": round(rate_now / rate, 2) if rate > 0 else None,
        "achieved_rate": round(len(sent) / sending, 1),
        "intake_errors": sum(1 for s in sent if s.status not in (200, 201)),
        "intake_ms_p99": summary([(s.answered - s.sent) for s in sent], 1000, digits=1)["p99"],
        "worker_busy": round((worker.cpu_seconds() - cpu) / (time.monotonic() - began), 3),
    }
    targets = {
        "enqueue_to_start_p99_ms": (percentile(probes, 99), ENQUEUE_P99_TARGET_MS),
        "commit_to_callback_p99_s": (got["commit_to_callback_ms"]["p99"] / 1000,
                                     CALLBACK_P99_TARGET_S),
        "sla_marked_late_p99_s": (percentile(late, 99), SLA_P99_TARGET_S),
    }  # fmt: skip
    complete = (
        got["intake_errors"] == drained["intake_errors"] == unmarked == 0
        and got["received"] == got["expected"] == len(case_ids)
        and drained["received"] == drained["expected"] == len(burst_ids)
        and not any(phase[k] for phase in (got, drained) for k in ("duplicates", "unverified"))
    )
    return {
        "others_busy_cores_at_start": None if quiet is None else round(quiet, 2),
        "burst": drained,
        "idle": {"probes": len(probes), "enqueue_to_start_ms": summary(probes, pcts=(50, 99))},
        "latency": got,
        "sla": {"cases": len(sla_ids), "unmarked": unmarked, "sla_seconds": args.sla_seconds,
                "late_s": summary(late, pcts=(50, 99), digits=3)},
        "targets": {k: {"value": round(v, 3), "target": t, "pass": v < t}
                    for k, (v, t) in targets.items()},
        "complete": complete,
    }  # fmt: skip


def render(figures: dict[str, Any]) -> str:
    run, burst, idle, lat, sla = (figures[k] for k in ("run", "burst", "idle", "latency", "sla"))
    targets, commit = figures["targets"], lat["commit_to_callback_ms"]

    def passed(name: str) -> str:
        return report.verdict(targets[name]["pass"])

    return "\n".join([
        "",
        f"bench/callbacks.py  {run['started']}  cores {run['cores']}  load {run['load']} → "
        f"{run['load_after']}; other processes used {figures['others_busy_cores_at_start']} "
        "cores at the start",
        "",
        f"burst ({burst['handoffs']} handoffs queued, then one worker process):",
        f"  deliveries per second per worker  {burst['deliveries_per_second_per_worker']}   "
        f"({burst['received']}/{burst['expected']} in {burst['span']:.3f} s, worker CPU "
        f"{burst['worker_cpu_ms_per_delivery']} ms a delivery)",
        f"idle ({idle['probes']} probe tasks, beat running):",
        f"  enqueue → task start  p50 {idle['enqueue_to_start_ms']['p50']} ms  p99 "
        f"{idle['enqueue_to_start_ms']['p99']} ms   target p99 < {ENQUEUE_P99_TARGET_MS:.0f} ms  "
        + passed("enqueue_to_start_p99_ms"),
        f"latency ({lat['handoffs']} handoffs at {lat['rate']}/s = {lat['worker_share']} of the "
        f"burst's rate, achieved {lat['achieved_rate']}/s; intake p99 {lat['intake_ms_p99']} ms, "
        f"{lat['intake_errors']} errors):",
        f"  intake commit → callback received  p50 {commit['p50']} ms  p90 {commit['p90']} ms  "
        f"p99 {commit['p99']} ms  max {commit['max']} ms   target p99 < "
        f"{CALLBACK_P99_TARGET_S * 1000:.0f} ms  " + passed("commit_to_callback_p99_s"),
        "    (from the Delivery row's created_at, inside the intake's transaction: an upper "
        f"bound; from the client's 201: p50 {lat['response_to_callback_ms']['p50']} ms, p99 "
        f"{lat['response_to_callback_ms']['p99']} ms)",
        f"  callbacks {lat['received']}/{lat['expected']} received, {lat['duplicates']} "
        f"duplicates, {lat['unverified']} unverified, {lat['retried']} retried; worker busy "
        f"{lat['worker_busy'] * 100:.0f}% of a core",
        f"  SLA breach marked after due ({sla['cases']} cases, {sla['sla_seconds']} s SLA)  p50 "
        f"{sla['late_s']['p50']} s  p99 {sla['late_s']['p99']} s  max {sla['late_s']['max']} s   "
        f"target p99 < {SLA_P99_TARGET_S:.0f} s  {passed('sla_marked_late_p99_s')}  "
        f"({sla['unmarked']} unmarked)",
        "",
        "all callbacks arrived once and verified, no intake errors: "
        + ("yes" if figures["complete"] else "NO"),
        f"result: {report.verdict(figures['pass'])}",
    ])  # fmt: skip


def main() -> int:
    parser = db.arguments(
        "Intake commit → signed callback, a worker's delivery rate, enqueue → start, SLA marks.",
        "handoff_bench_callbacks",
        redis="",
        settings=None,
        wait_quiet=60.0,
    )
    add = parser.add_argument
    add("--handoffs", type=int, default=1000, help="latency phase (1000)")
    add("--burst", type=int, default=1000, help="throughput phase (1000)")
    add("--rate", type=float, default=10.0, help="handoffs/s in the latency phase (10; 0: half "
        "the burst's deliveries per second)")  # fmt: skip
    add("--probes", type=int, default=200, help="idle probe tasks (200)")
    add("--sla-every", type=int, default=5, help="every n-th handoff breaches its SLA (5)")
    add("--sla-seconds", type=int, default=3, help="the short queue's SLA (3)")
    add("--server-workers", type=int, default=1, help="uvicorn workers (1)")
    add("--concurrency", type=int, default=1, help="Celery worker processes (1)")
    add("--packages", type=int, default=200, help="STAR dialogues used (200)")
    add("--star", type=Path, default=db.STAR_PATH)
    add("--logs", type=Path, default=None, help="keep the processes' logs here")
    args = parser.parse_args()
    if min(args.handoffs, args.burst, args.probes, args.concurrency, args.server_workers) < 1:
        parser.error("--handoffs, --burst, --probes and the process counts must be positive")
    run_id, run = secrets.token_hex(4), {"started": report.utc_timestamp()}
    started: list[Any] = []  # everything to stop, in the order it started
    with tempfile.TemporaryDirectory(prefix="handoff-bench-callbacks-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        try:
            if not args.redis_url:
                if shutil.which("redis-server") is None:
                    raise SystemExit("no redis-server on PATH: pass --redis-url")
                started.append(procs.PrivateRedis(logs))
            env = db.environment(
                db.database_url(args.database_url, args.database_name),
                redis_url=args.redis_url or started[0].url,
                CHANNEL_LAYER_PREFIX=f"bench-callbacks-{run_id}",
                HANDOFF_ALLOW_PRIVATE_CALLBACKS="1",  # the receiver is on loopback
            )
            run |= report.machine(db.prepare(args, env))
            db.setup_django()
            figures = run_phases(args, run_id, env, logs, started)
        finally:
            for process in reversed(started):
                process.stop()
    run["load_after"] = report.machine()["load"]
    figures["run"] = run
    figures["pass"] = figures["complete"] and all(t["pass"] for t in figures["targets"].values())
    return report.finish(render(figures), figures, args.json, figures["pass"])


if __name__ == "__main__":
    report.run_main(main)
