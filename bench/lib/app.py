"""Every name bench/ takes from the app, in one place: when a module moves, fix it here.

Import it once Django is set up (``bench.lib.db.setup_django``)."""

from cases.live import events
from cases.metrics.figures import reporting
from cases.models import (
    AgentStatus,
    AttemptedStep,
    Case,
    CaseEvent,
    Delivery,
    Integration,
    Intent,
    IntentCorrection,
    Message,
    Offer,
)
from cases.selectors import QueueFilters, waiting_cases
from cases.services.agent_work import CaseActionError, case_claim, case_resolve, case_take_next
from cases.services.assignment import queue_assignment_change
from cases.services.integrations import integration_create
from cases.services.metrics_rollups import metrics_rollups_backfill
from demo.replay import read_star, star_to_package
from handoff_site.celery import app as celery_app
from queues.models import Membership, Queue
from queues.routing import CompiledRules, RuleSpec, route
from queues.services import queue_ensure, rule_set_create_draft, rule_set_publish

METRICS_MODULE = (
    "cases/metrics/figures.py"  # the file whose functions name a metrics query's source
)

__all__ = [
    "METRICS_MODULE", "AgentStatus", "AttemptedStep", "Case", "CaseActionError", "CaseEvent",
    "CompiledRules", "Delivery", "Integration", "Intent", "IntentCorrection", "Membership",
    "Message", "Offer", "Queue", "QueueFilters", "RuleSpec", "case_claim", "case_resolve",
    "case_take_next", "celery_app", "events", "integration_create", "metrics_rollups_backfill",
    "queue_assignment_change", "queue_ensure", "read_star", "reporting", "route",
    "rule_set_create_draft", "rule_set_publish", "star_to_package", "waiting_cases",
]  # fmt: skip
