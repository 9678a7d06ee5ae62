from django.urls import path

from cases import delivery_views, metrics_views, views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("queues/<slug:slug>/", views.queue_detail, name="queue"),
    path("take-next/", views.take_next, name="take_next"),
    path("cases/<int:case_id>/", views.case_detail, name="detail"),
    path("cases/<int:case_id>/<slug:action>/", views.case_action, name="action"),
    path("metrics/", metrics_views.metrics_page, name="metrics"),
    path("metrics/<slug:table>.csv", metrics_views.metrics_csv, name="metrics_csv"),
    path("metrics/intent-corrections.jsonl", metrics_views.corrections_jsonl, name="corrections"),
    path("deliveries/", delivery_views.delivery_list, name="deliveries"),
    path(
        "deliveries/<int:delivery_id>/redeliver/",
        delivery_views.delivery_redeliver,
        name="delivery_redeliver",
    ),
    path("healthz", views.healthz, name="healthz"),
]
