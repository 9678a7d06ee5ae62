"""``GET /prometheus``: the desk's own metrics for Prometheus (#18), off unless
``HANDOFF_PROMETHEUS=1``, and then only for a scraper with the bearer token and/or from an
allowed address.

Histograms and the websocket gauge come from ``observability.instruments`` (every process's,
in multiprocess mode); the queue and outbox gauges are read from the database at scrape time by
``DeskCollector``. A new gauge is one more method listed in ``DeskCollector.readers``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from cases.gauges import DeskGauges, desk_gauges
from observability.exposition import scrape


class DeskCollector:
    """The database's figures, read once per scrape."""

    def collect(self) -> Iterator[Metric]:
        figures = desk_gauges()
        for reader in self.readers():
            yield from reader(figures)

    def readers(self) -> Iterable[Callable[[DeskGauges], Iterable[Metric]]]:
        return (self.queues, self.offers, self.callbacks)

    def queues(self, figures: DeskGauges) -> Iterator[Metric]:
        families = {
            "waiting": GaugeMetricFamily(
                "desk_queue_waiting_cases", "Cases waiting for an agent.", labels=["queue"]
            ),
            "oldest": GaugeMetricFamily(
                "desk_queue_oldest_wait_seconds",
                "Seconds the longest-waiting case has waited (0 when none waits).",
                labels=["queue"],
            ),
            "breached": GaugeMetricFamily(
                "desk_queue_sla_breached_cases",
                "Waiting cases past their SLA due time.",
                labels=["queue"],
            ),
            "assigned": GaugeMetricFamily(
                "desk_queue_assigned_cases", "Cases an agent holds.", labels=["queue"]
            ),
        }
        for row in figures.queues:
            families["waiting"].add_metric([row.slug], row.waiting)
            families["oldest"].add_metric([row.slug], row.oldest_wait_seconds)
            families["breached"].add_metric([row.slug], row.breached)
            families["assigned"].add_metric([row.slug], row.assigned)
        yield from families.values()

    def offers(self, figures: DeskGauges) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "desk_queue_offers_open",
            "Cases offered to an agent and not yet accepted or declined (auto-assignment).",
            labels=["queue"],
        )
        for row in figures.queues:
            family.add_metric([row.slug], row.offers_open)
        yield family

    def callbacks(self, figures: DeskGauges) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "desk_callbacks_pending",
            "Callbacks to bots not delivered yet (first try due or a retry scheduled).",
            value=figures.callbacks_pending,
        )
        yield GaugeMetricFamily(
            "desk_callbacks_retrying",
            "Of the pending callbacks, those that failed at least once.",
            value=figures.callbacks_retrying,
        )
        yield GaugeMetricFamily(
            "desk_callbacks_dead",
            "Callbacks that used every retry and were given up (redeliver them on Deliveries).",
            value=figures.callbacks_dead,
        )


def scraper_allowed(request: HttpRequest) -> HttpResponse | None:
    """None when the request may scrape; else the refusal, which says nothing of the desk."""
    networks = settings.HANDOFF_PROMETHEUS_ALLOWED_IPS
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address is None or not any(
            address in ipaddress.ip_network(network) for network in networks
        ):
            return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    token = settings.HANDOFF_PROMETHEUS_TOKEN
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            sent.strip().encode(), token.encode()
        ):
            refused = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
            refused["WWW-Authenticate"] = 'Bearer realm="prometheus"'
            return refused
    return None


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    if not settings.HANDOFF_PROMETHEUS:
        raise Http404  # the site's own 404, as for a path the desk does not have
    refused = scraper_allowed(request)
    if refused is not None:
        return refused
    body, content_type = scrape([DeskCollector()])
    return HttpResponse(body, content_type=content_type)
