"""Callbacks that need a person (admins): dead and failing deliveries with every attempt, and
"Redeliver" (same webhook-id), which updates its row in place over HTMX."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from cases.callbacks import outbox as deliveries
from cases.models import Delivery, Integration
from web.forms.deliveries import DeliveryFilterForm

PAGE_SIZE = 50
# Admins only (the roles migration gives no other role this permission): a delivery's payload
# is what the customer is told, and its responses come from the bot platform.
manages_deliveries = permission_required("cases.change_delivery", raise_exception=True)


@login_required
@manages_deliveries
@require_GET
@vary_on_headers("HX-Request")
def delivery_list(request: HttpRequest) -> HttpResponse:
    filters = DeliveryFilterForm(request.GET)
    show, integration_id = filters.show_value(), filters.integration_id()
    rows = deliveries.deliveries_needing_attention(show=show, integration_id=integration_id)
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {
        "page": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
        "show": show,
        "integration_id": integration_id,
        "query": query,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cases/_deliveries_table.html", context)
    context["integrations"] = Integration.objects.order_by("name").only("pk", "name")
    return render(request, "cases/deliveries.html", context)


@login_required
@manages_deliveries
@require_POST
def delivery_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    try:
        deliveries.delivery_redeliver(delivery_id=delivery_id)
    except Delivery.DoesNotExist:
        raise Http404("No such delivery") from None
    if request.htmx:  # type: ignore[attr-defined]
        row = deliveries.delivery_rows(Delivery.objects.filter(pk=delivery_id)).get()
        return render(request, "cases/_delivery_row.html", {"delivery": row})
    messages.success(request, f"Delivery #{delivery_id} queued again with the same webhook-id.")
    return redirect("cases:deliveries")
