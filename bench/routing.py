"""Routing decision time per package, beside a hand-written ``if`` chain of the same rules.

    cd /work/main && .venv/bin/python bench/routing.py [--packages 500] [--json figures.json]

The engine (``queues.routing``) is pure, so this runs in one process with no
database or server:

1. Maps STAR dialogues to handoff packages (``cases.replay.star_to_package``), shaped as the desk
   hands them to the engine (``cases.services._routing_package``: channel, customer, intent,
   trigger, risk flags, facts, the customer's messages). STAR has no customer tiers, lifetime
   values or classifier confidences: each package gets them from a hash of its id, so the rules on
   them compare real values. A package with no trigger gets ``other``, as the desk would derive.
2. Builds rule sets of 10, 100 and 1,000 rules. The 10 are an admin's realistic set (risk flags,
   tiers, languages, intents, facts, confidence, channel, the customer's words; ``any`` / ``all``,
   one nested group); the larger sets put 90 / 990 more rules of the same shapes *before* them,
   with values STAR packages never have, often after a first condition that does hold, so most
   packages are decided late or by the default queue (the worst case that is still realistic).
3. Checks that a hand-written ``if`` chain of the 10 rules picks the same rule for every package.
4. Times each rule set as the desk runs it, compiled once (``CompiledRules.of(rules).route``,
   checked first to decide exactly as ``route()`` for every package), with
   ``time.perf_counter``, every package in turn, for at least ``--seconds`` per rule set and
   ``--min-repeats`` passes. Each pass times every call on its own; a package's time is its
   best over the passes (other processes and the scheduler only ever add to it), and mean /
   p50 / p99 / max are over packages. Each pass is also timed whole, wall-clock and CPU time,
   as a check: on a busy machine the wall-clock figure grows and the CPU time does not. The
   hand-written chain is timed the same way, its passes interleaved with the engine's 10-rule
   set; a call that does nothing is timed too (the timer's own share of every per-call figure).

Targets: under 1 ms per package at 1,000 rules (p99: nearly every package, not the average);
the engine's mean at most 3 times the hand-written chain's at 10 rules. Exit status 0 only when
both pass. When one fails (or with ``--profile``) it profiles the compiled 10- and 1,000-rule
sets (cProfile), with the plain reference ``route()`` timed beside them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import STAR_PATH, percentile, star_packages  # noqa: E402
from queues.routing import (  # noqa: E402  (needs ROOT on sys.path)
    CompiledRules,
    Decision,
    RuleSpec,
    route,
)

DEFAULT_QUEUE = "general"
SIZES = (10, 100, 1000)
TARGET_US_AT_1000 = 1000.0
RATIO_TARGET = 3.0
TIERS = ("bronze", "silver", "silver", "gold", "platinum")


# --- packages ---------------------------------------------------------------------------------


def _unit(text: str, salt: str) -> float:
    """A stable number in [0, 1) from a text."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def routing_shape(package: Mapping[str, Any]) -> dict[str, Any]:
    """A STAR package as the desk gives it to the engine (cases.services._routing_package)."""
    key = str(package.get("external_id", ""))
    customer = dict(package.get("customer") or {})
    customer["tier"] = TIERS[int(_unit(key, "tier") * len(TIERS))]
    customer["lifetime_value"] = round(_unit(key, "value") * 25_000, 2)
    intent = package.get("intent") or {}
    trigger = package.get("trigger") or {}
    return {
        "channel": package.get("channel", ""),
        "customer": customer,
        "intent": {"name": intent["name"], "confidence": round(0.3 + 0.7 * _unit(key, "conf"), 2)}
        if intent.get("name")
        else {},
        "trigger": {"reason": trigger.get("reason") or "other"},
        "risk_flags": list(package.get("risk_flags") or []),
        "facts": dict(package.get("facts") or {}),
        "transcript": [
            {"role": m["role"], "text": m["text"]} for m in package.get("transcript") or []
        ],
    }


def load_packages(path: Path, limit: int) -> list[dict[str, Any]]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_site.settings")
    import django

    django.setup()  # cases.replay imports the API schemas (django-ninja reads the settings)
    return [routing_shape(package) for package in star_packages(path, limit)]


# --- rule sets --------------------------------------------------------------------------------


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


BASE_RULES = [
    RuleSpec(
        "Compliance",
        {
            "any": [
                cond("risk_flags", "in", ["chargeback_threat", "legal_threat", "security"]),
                {
                    "all": [
                        cond("intent.name", "starts_with", "bank_fraud"),
                        cond("facts.account_number", "exists"),
                    ]
                },
            ]
        },
        "compliance",
        3,
        300,
    ),
    RuleSpec(
        "VIP",
        {
            "all": [
                cond("customer.tier", "in", ["gold", "platinum"]),
                cond("customer.lifetime_value", "gte", 20_000),
            ]
        },
        "vip",
        2,
        600,
    ),
    RuleSpec(
        "Spanish",
        {
            "any": [
                cond("customer.language", "in", ["es", "es-mx", "es-es"]),
                cond("transcript.customer_text", "contains", "hablar con"),
            ]
        },
        "spanish",
    ),
    RuleSpec(
        "Refunds",
        {
            "all": [
                cond("intent.name", "starts_with", "billing."),
                cond("facts.amounts_mentioned", "exists"),
            ]
        },
        "billing",
    ),
    RuleSpec(
        "Unsure bot",
        {
            "all": [
                cond("intent.confidence", "lte", 0.35),
                cond("trigger.reason", "eq", "low_confidence"),
            ]
        },
        "triage",
    ),
    RuleSpec(
        "Mobile",
        {
            "all": [
                cond("channel", "in", ["sms", "whatsapp"]),
                cond("trigger.reason", "ne", "frustration"),
            ]
        },
        "mobile",
    ),
    RuleSpec(
        "Clinical",
        {
            "all": [
                cond("intent.name", "starts_with", "doctor_"),
                {
                    "any": [
                        cond("facts.symptoms", "exists"),
                        cond("transcript.customer_text", "contains", "emergency"),
                    ]
                },
            ]
        },
        "clinical",
        2,
    ),
    RuleSpec(
        "Travel disruption",
        {
            "all": [
                cond("intent.name", "in", ["plane_book", "plane_search", "trip_directions"]),
                {
                    "any": [
                        cond("transcript.customer_text", "contains", "cancel"),
                        cond("transcript.customer_text", "contains", "missed"),
                    ]
                },
            ]
        },
        "travel",
    ),
    RuleSpec(
        "Annoyed gold",
        {
            "all": [
                cond("risk_flags", "contains", "frustration"),
                cond("customer.tier", "in", ["gold", "platinum"]),
            ]
        },
        "retention",
        2,
    ),
    RuleSpec(
        "Asked for a person",
        {
            "all": [
                cond("trigger.reason", "eq", "customer_request"),
                cond("transcript.customer_text", "contains", "manager"),
            ]
        },
        "escalations",
    ),
]


def filler_rule(i: int) -> RuleSpec:
    """A rule of one of ten realistic shapes that STAR packages never match (often only at its
    last condition)."""
    shapes: list[dict[str, Any]] = [
        {
            "all": [
                cond("intent.name", "starts_with", "party_"),
                cond(f"facts.extra_{i}", "exists"),
            ]
        },
        {
            "any": [
                cond("customer.tier", "eq", f"tier-{i}"),
                cond("risk_flags", "contains", f"f{i}"),
            ]
        },
        {
            "all": [
                cond("transcript.customer_text", "contains", f"order {i:05d}"),
                cond("intent.confidence", "lte", 0.5),
            ]
        },
        {
            "all": [
                cond("customer.language", "in", ["en", "en-gb"]),
                cond("customer.lifetime_value", "gte", 1_000_000 + i),
            ]
        },
        {
            "all": [
                cond("trigger.reason", "eq", "repeated_failure"),
                cond(f"facts.case_{i}", "exists"),
            ]
        },
        {
            "any": [
                cond("intent.name", "in", [f"intent_{i}", f"intent_{i}_b"]),
                cond("channel", "eq", f"channel-{i}"),
            ]
        },
        {
            "all": [
                {"any": [cond(f"facts.x_{i}", "exists"), cond(f"facts.y_{i}", "exists")]},
                cond("customer.tier", "in", ["gold", "platinum"]),
            ]
        },
        {
            "all": [
                cond("intent.confidence", "gte", 0.3),
                cond("intent.name", "starts_with", f"x{i}_"),
            ]
        },
        {"all": [cond("facts.day", "exists"), cond(f"facts.time_{i}", "eq", "noon")]},
        {
            "any": [
                cond("transcript.customer_text", "contains", f"ticket #{i}"),
                cond("transcript.customer_text", "contains", f"ref {i}-"),
            ]
        },
    ]
    shape = shapes[i % len(shapes)]
    return RuleSpec(f"Rule {i}", shape, f"queue-{i % 7}", enabled=i % 20 != 19)


def rule_set(size: int) -> list[RuleSpec]:
    return [filler_rule(i) for i in range(size - len(BASE_RULES))] + list(BASE_RULES)


# --- the hand-written baseline: the same 10 rules as plain Python ------------------------------


def hand_written(package: Mapping[str, Any]) -> str | None:
    """The name of the first of BASE_RULES that holds, written out by hand."""
    customer = package.get("customer") or {}
    intent = package.get("intent") or {}
    name = str(intent.get("name") or "").lower()
    confidence = intent.get("confidence")
    tier = str(customer.get("tier") or "").lower()
    value = customer.get("lifetime_value")
    language = str(customer.get("language") or "").lower()
    reason = str((package.get("trigger") or {}).get("reason") or "").lower()
    flags = [str(flag).lower() for flag in package.get("risk_flags") or []]
    facts = package.get("facts") or {}
    channel = str(package.get("channel") or "").lower()
    said = "\n".join(
        m["text"] for m in package.get("transcript") or [] if m.get("role") == "customer"
    ).lower()

    def has(fact: str) -> bool:
        return facts.get(fact) not in (None, [])

    if any(flag in ("chargeback_threat", "legal_threat", "security") for flag in flags) or (
        name.startswith("bank_fraud") and has("account_number")
    ):
        return "Compliance"
    if tier in ("gold", "platinum") and isinstance(value, int | float) and value >= 20_000:
        return "VIP"
    if language in ("es", "es-mx", "es-es") or "hablar con" in said:
        return "Spanish"
    if name.startswith("billing.") and has("amounts_mentioned"):
        return "Refunds"
    if isinstance(confidence, int | float) and confidence <= 0.35 and reason == "low_confidence":
        return "Unsure bot"
    if channel in ("sms", "whatsapp") and reason != "frustration":
        return "Mobile"
    if name.startswith("doctor_") and (has("symptoms") or "emergency" in said):
        return "Clinical"
    if name in ("plane_book", "plane_search", "trip_directions") and (
        "cancel" in said or "missed" in said
    ):
        return "Travel disruption"
    if "frustration" in flags and tier in ("gold", "platinum"):
        return "Annoyed gold"
    if reason == "customer_request" and "manager" in said:
        return "Asked for a person"
    return None


QUEUE_OF = {rule.name: rule.queue for rule in BASE_RULES}


def hand_written_queue(package: Mapping[str, Any]) -> str:
    matched = hand_written(package)
    return QUEUE_OF[matched] if matched else DEFAULT_QUEUE


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    rules: int
    calls: int
    passes: int
    mean_us: float  # over packages, of each package's best time over the passes
    p50_us: float  # the same, percentiles
    p99_us: float
    max_us: float
    pass_mean_us: float  # the median whole pass, per package: wall-clock
    pass_cpu_mean_us: float  # and this process's CPU time (what a busy machine does not inflate)
    decided_by: dict[str, int]


class Timer:
    """Each pass times the packages in turn, all at once (wall-clock and CPU), then each call on
    its own. A package's time is its best over the passes: the scheduler and the other processes
    only ever add to it, and what varies from package to package stays."""

    def __init__(self, call: Callable[[dict[str, Any]], Any], packages: list[dict[str, Any]]):
        self.call = call
        self.packages = packages
        self.pass_seconds: list[float] = []
        self.pass_cpu_seconds: list[float] = []
        self.samples: list[list[float]] = [[] for _ in packages]

    def one_pass(self) -> None:
        call, packages, clock = self.call, self.packages, time.perf_counter
        cpu_started, started = time.process_time(), clock()
        for package in packages:
            call(package)
        self.pass_seconds.append(clock() - started)
        self.pass_cpu_seconds.append(time.process_time() - cpu_started)
        for package, samples in zip(packages, self.samples, strict=True):
            t0 = clock()
            call(package)
            samples.append(clock() - t0)

    def figures(self, label: str, rules: int, decided_by: dict[str, int]) -> Figures:
        count = len(self.packages)
        per_package = sorted(min(samples) for samples in self.samples)
        return Figures(
            label=label,
            rules=rules,
            calls=2 * len(self.pass_seconds) * count,
            passes=len(self.pass_seconds),
            mean_us=sum(per_package) / count * 1e6,
            p50_us=percentile(per_package, 50) * 1e6,
            p99_us=percentile(per_package, 99) * 1e6,
            max_us=per_package[-1] * 1e6,
            pass_mean_us=statistics.median(self.pass_seconds) / count * 1e6,
            pass_cpu_mean_us=statistics.median(self.pass_cpu_seconds) / count * 1e6,
            decided_by=decided_by,
        )


def measure(timers: list[Timer], seconds: float, min_repeats: int) -> float:
    """Interleaved passes (one of each timer in turn) until each ran ``seconds`` or more; the
    share of the wall-clock time this process had a CPU for."""
    for timer in timers:  # warm-up, not counted
        for package in timer.packages:
            timer.call(package)
    gc.collect()
    cpu_started, started = time.process_time(), time.perf_counter()
    while True:
        for timer in timers:
            timer.one_pass()
        done = all(
            len(t.pass_seconds) >= min_repeats and 2 * sum(t.pass_seconds) >= seconds
            for t in timers
        )
        if done:
            return (time.process_time() - cpu_started) / (time.perf_counter() - started)


def decided_by(rules: list[RuleSpec], packages: list[dict[str, Any]]) -> dict[str, int]:
    """Where the packages land: the default queue, one of the 10 real rules, or earlier."""
    position = {rule.name: index for index, rule in enumerate(rules)}
    first_base = len(rules) - len(BASE_RULES)
    counts: Counter[str] = Counter()
    for package in packages:
        matched = route(package, rules, DEFAULT_QUEUE).matched_rule
        if matched is None:
            counts["default queue"] += 1
        elif position[matched] >= first_base:
            counts[f"rule {position[matched] + 1} of {len(rules)} ({matched})"] += 1
        else:
            counts["an earlier rule"] += 1
    return dict(counts.most_common())


def check_baseline(packages: list[dict[str, Any]]) -> None:
    """The hand-written chain and the engine pick the same rule for every package."""
    for package in packages:
        decision: Decision = route(package, BASE_RULES, DEFAULT_QUEUE)
        by_hand = hand_written(package)
        if decision.matched_rule != by_hand or decision.queue != hand_written_queue(package):
            raise SystemExit(
                "the hand-written chain disagrees with the engine: "
                f"{decision.matched_rule!r} vs {by_hand!r} for {package.get('intent')}"
            )


# --- profile ----------------------------------------------------------------------------------


def profile(rules: list[RuleSpec], packages: list[dict[str, Any]], top: int) -> dict[str, Any]:
    """Where the time goes at this rule set: cProfile's top functions by own time over the
    compiled engine (what the desk runs), and the plain reference ``route()`` timed beside it."""
    compiled = CompiledRules.of(rules)
    profiler = cProfile.Profile()
    profiler.enable()
    for package in packages:
        compiled.route(package, DEFAULT_QUEUE)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    clock = time.perf_counter
    started = clock()
    for package in packages:
        compiled.route(package, DEFAULT_QUEUE)
    compiled_seconds = clock() - started
    started = clock()
    for package in packages:
        route(package, rules, DEFAULT_QUEUE)
    route_seconds = clock() - started
    return {
        "cprofile_top": out.getvalue(),
        "compiled_us": compiled_seconds / len(packages) * 1e6,
        "reference_route_us": route_seconds / len(packages) * 1e6,
    }


# --- report -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--star", type=Path, default=STAR_PATH, help="STAR dialogues (.jsonl.gz)")
    parser.add_argument("--packages", type=int, default=500, help="STAR packages (default 500)")
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="time spent per rule set, at least"
    )
    parser.add_argument("--min-repeats", type=int, default=5, help="passes per rule set, at least")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--profile", action="store_true", help="profile even when targets pass")
    args = parser.parse_args(argv)
    if args.packages < 1 or args.seconds <= 0 or args.min_repeats < 1:
        parser.error("--packages, --seconds and --min-repeats must be positive")
    return args


def show(f: Figures) -> str:
    return (
        f"  {f.label:<22} {f.mean_us:8.1f} {f.p50_us:8.1f} {f.p99_us:8.1f} {f.max_us:8.1f}"
        f"   {f.pass_mean_us:8.1f} {f.pass_cpu_mean_us:8.1f}   {f.passes:>6} {f.calls:>9,}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), ", end="")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs; GC on; one process, no database")
    packages = load_packages(args.star, args.packages)
    said = [
        sum(len(m["text"]) for m in p["transcript"] if m["role"] == "customer") for p in packages
    ]
    print(
        f"{len(packages)} STAR packages ({args.star.name}); customer's words per package: "
        f"mean {sum(said) / len(said):.0f} chars, max {max(said)}"
    )
    check_baseline(packages)
    print("hand-written chain: same rule as the engine's 10-rule set for every package")

    results: dict[int, Figures] = {}
    baseline: Figures | None = None
    cpu_share: dict[str, float] = {}
    sets = {size: rule_set(size) for size in SIZES}
    for size, rules in sets.items():
        # What the desk runs: the rule set compiled once (as the published set is, per process).
        compiled = CompiledRules.of(rules)
        for package in packages:
            assert compiled.route(package, DEFAULT_QUEUE) == route(package, rules, DEFAULT_QUEUE)
        engine = Timer(partial(compiled.route, default_queue=DEFAULT_QUEUE), packages)
        timers = [engine]
        by_hand = Timer(hand_written_queue, packages)
        if size == len(BASE_RULES):
            timers.append(by_hand)
        cpu_share[str(size)] = measure(timers, args.seconds, args.min_repeats)
        results[size] = engine.figures(f"engine, {size:,} rules", size, decided_by(rules, packages))
        if size == len(BASE_RULES):
            baseline = by_hand.figures("hand-written if chain", size, results[size].decided_by)
    assert baseline is not None
    nothing = Timer(lambda p: None, packages)
    measure([nothing], 0.1, args.min_repeats)
    overhead = nothing.figures("a call doing nothing", 0, {})

    print()
    print("decision time per package, µs: each package's best of the passes (mean, p50, p99, max);")
    print("the median whole pass per package, wall-clock and CPU time")
    print(
        f"  {'':<22} {'mean':>8} {'p50':>8} {'p99':>8} {'max':>8}   {'pass':>8} {'CPU':>8}"
        f"   {'passes':>6} {'calls':>9}"
    )
    print(show(overhead))
    print(show(baseline))
    for size in SIZES:
        print(show(results[size]))
    busiest = min(cpu_share.values())
    if busiest < 0.9:
        print(
            f"  ! the machine was busy: this process had a CPU {busiest:.0%} of the time at "
            "worst; the whole-pass wall-clock column is inflated (CPU time is not, and the "
            "best-of-passes columns much less)"
        )
    print()
    for size in SIZES:
        landed = ", ".join(f"{n} {where}" for where, n in results[size].decided_by.items())
        print(f"  {size:>5,} rules, decided by: {landed}")
    print()

    at_1000 = results[1000]
    ratio = results[10].mean_us / baseline.mean_us
    target_ok = at_1000.p99_us < TARGET_US_AT_1000
    ratio_ok = ratio <= RATIO_TARGET
    print(
        f"{'PASS' if target_ok else 'FAIL'}  1,000 rules: p99 {at_1000.p99_us:.0f} µs "
        f"(mean {at_1000.mean_us:.0f} µs) per package, target < {TARGET_US_AT_1000:.0f} µs"
    )
    print(
        f"{'PASS' if ratio_ok else 'FAIL'}  10 rules: engine {results[10].mean_us:.1f} µs / "
        f"hand-written {baseline.mean_us:.1f} µs = {ratio:.2f} times, "
        f"target ≤ {RATIO_TARGET:.0f} times"
    )

    profiled: dict[str, Any] | None = None
    if args.profile or not (target_ok and ratio_ok):
        profiled = {}
        for size in (10, 1000):
            found = profile(sets[size], packages, top=12)
            profiled[str(size)] = found
            print()
            print(f"profile, {size:,} rules (cProfile, by own time):")
            print(
                f"  one unprofiled pass: compiled {found['compiled_us']:.1f} µs per package, "
                f"the reference route() {found['reference_route_us']:.1f} µs"
            )
            print("\n".join("  " + line for line in found["cprofile_top"].strip().splitlines()))

    if args.json:
        figures = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "packages": len(packages),
            "hand_written": asdict(baseline),
            "call_doing_nothing": asdict(overhead),
            "engine": {str(size): asdict(f) for size, f in results.items()},
            "ratio_10_rules": ratio,
            "cpu_share_while_measuring": cpu_share,
            "targets": {
                "p99_us_at_1000_rules": TARGET_US_AT_1000,
                "ratio_at_10_rules": RATIO_TARGET,
            },
            "pass": {"1000_rules": target_ok, "ratio": ratio_ok},
            "profile": profiled,
        }
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0 if target_ok and ratio_ok else 1


if __name__ == "__main__":
    sys.exit(main())
