"""Push assignment's figures (issue 17), from the offers of the period's cases.

- time to first offer: handoff → the case's first offer, median per queue;
- time to acceptance: handoff → the accepted offer, median per queue;
- offers declined and timed out, per queue and per agent;
- load balance: each agent's share of the queue's accepted offers against their share of the
  queue's capacity (1.0 is even; 2.0 twice their share, 0.5 half).
"""

from __future__ import annotations

from collections import defaultdict
from statistics import median
from typing import Any

from cases.metrics.figures import Filters, cases_in
from cases.models import Offer, person_name
from queues.models import Membership

ENDS = ("accepted", "declined", "timed_out", "withdrawn")


def _offers(filters: Filters) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in Offer.objects.filter(case__in=cases_in(filters).values("pk"))
        .order_by("offered_at")
        .values(
            "case_id",
            "agent_id",
            "queue_id",
            "queue__name",
            "state",
            "offered_at",
            "answered_at",
            "case__handed_off_at",
        )
    ]


def _seconds(values: list[float]) -> float | None:
    return round(median(values), 1) if values else None


def offers_by_queue(filters: Filters) -> list[dict[str, Any]]:
    """Per queue: cases offered, median seconds to the first offer and to acceptance, and how
    the offers ended."""
    first: dict[int, float] = {}
    accepted: dict[int, float] = {}
    rows: dict[int, dict[str, Any]] = {}
    offers = _offers(filters)
    for offer in offers:
        queue = offer["queue_id"]
        row = rows.setdefault(
            queue, {"queue": offer["queue__name"], "offers": 0} | dict.fromkeys(ENDS, 0)
        )
        row["offers"] += 1
        if offer["state"] in ENDS:
            row[offer["state"]] += 1
        wait = (offer["offered_at"] - offer["case__handed_off_at"]).total_seconds()
        first.setdefault(offer["case_id"], wait)
        if offer["state"] == "accepted" and offer["answered_at"]:
            took = (offer["answered_at"] - offer["case__handed_off_at"]).total_seconds()
            accepted[offer["case_id"]] = took
    queue_of = {o["case_id"]: o["queue_id"] for o in offers}
    out = []
    for queue_id, row in rows.items():
        cases = [c for c, q in queue_of.items() if q == queue_id]
        out.append(
            {
                "queue": row["queue"],
                "cases_offered": len(cases),
                "median_s_to_first_offer": _seconds([first[c] for c in cases if c in first]),
                "median_s_to_acceptance": _seconds([accepted[c] for c in cases if c in accepted]),
                "offers": row["offers"],
                **{end: row[end] for end in ENDS},
            }
        )
    return sorted(out, key=lambda r: r["queue"])


def offers_by_agent(filters: Filters) -> list[dict[str, Any]]:
    """Per agent and queue: offers and how they ended, and the load balance figure."""
    counts: dict[tuple[int, int], dict[str, Any]] = {}
    names: dict[int, str] = {}
    for offer in _offers(filters):
        key = (offer["queue_id"], offer["agent_id"])
        names[offer["queue_id"]] = offer["queue__name"]
        row = counts.setdefault(key, {"offers": 0} | dict.fromkeys(ENDS, 0))
        row["offers"] += 1
        if offer["state"] in ENDS:
            row[offer["state"]] += 1
    queue_ids = {q for q, _ in counts}
    capacity: dict[tuple[int, int], int] = {}
    agents: dict[int, Any] = {}
    for membership in Membership.objects.filter(queue_id__in=queue_ids).select_related("agent"):
        capacity[(membership.queue_id, membership.agent_id)] = membership.capacity
        agents[membership.agent_id] = membership.agent
    accepted_in: dict[int, int] = defaultdict(int)
    capacity_in: dict[int, int] = defaultdict(int)
    for (queue_id, _), row in counts.items():
        accepted_in[queue_id] += row["accepted"]
    for (queue_id, _), cap in capacity.items():
        capacity_in[queue_id] += cap
    out = []
    for (queue_id, agent_id), row in counts.items():
        share = row["accepted"] / accepted_in[queue_id] if accepted_in[queue_id] else None
        cap_share = (
            capacity.get((queue_id, agent_id), 0) / capacity_in[queue_id]
            if capacity_in[queue_id]
            else None
        )
        out.append(
            {
                "queue": names[queue_id],
                "agent": person_name(agents.get(agent_id)) or f"agent {agent_id}",
                **row,
                "share_of_cases": None if share is None else round(share, 3),
                "share_of_capacity": None if cap_share is None else round(cap_share, 3),
                "balance": round(share / cap_share, 2) if share is not None and cap_share else None,
            }
        )
    return sorted(out, key=lambda r: (r["queue"], r["agent"]))
