from django.urls import path

from web.views import assignment as assignment_views
from web.views import attachments as attachment_views
from web.views import canned as canned_views
from web.views import cases as views
from web.views import deliveries as delivery_views
from web.views import escalation as escalation_views
from web.views import metrics as metrics_views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("queues/<slug:slug>/", views.queue_detail, name="queue"),
    path("take-next/", views.take_next, name="take_next"),
    path("me/state/", assignment_views.agent_state, name="agent_state"),
    path("offers/<int:offer_id>/accept/", assignment_views.offer_accept, name="offer_accept"),
    path("offers/<int:offer_id>/decline/", assignment_views.offer_decline, name="offer_decline"),
    path("cases/<int:case_id>/", views.case_detail, name="detail"),
    path(
        "cases/<int:case_id>/attachments/<int:attachment_id>/",
        attachment_views.attachment_file,
        name="attachment",
    ),
    path("cases/<int:case_id>/canned/", canned_views.canned_picker, name="canned_picker"),
    path("cases/<int:case_id>/compose/", views.case_compose, name="compose"),
    path("cases/<int:case_id>/guard/", views.case_guard, name="guard"),
    path("cases/<int:case_id>/<slug:action>/", views.case_action, name="action"),
    path("canned/", canned_views.canned_list, name="canned_list"),
    path("canned/new/", canned_views.canned_new, name="canned_new"),
    path("canned/preview/", canned_views.canned_preview, name="canned_preview"),
    path("canned/<int:reply_id>/", canned_views.canned_edit, name="canned_edit"),
    path("canned/<int:reply_id>/archive/", canned_views.canned_archive, name="canned_archive"),
    path("metrics/", metrics_views.metrics_page, name="metrics"),
    path("metrics/<slug:table>.csv", metrics_views.metrics_csv, name="metrics_csv"),
    path("metrics/intent-corrections.jsonl", metrics_views.corrections_jsonl, name="corrections"),
    path(
        "metrics/risk-flag-reviews.jsonl",
        metrics_views.flag_reviews_jsonl,
        name="flag_reviews",
    ),
    path("escalation/", escalation_views.editor, name="escalation"),
    path("escalation/draft/", escalation_views.draft_start, name="escalation_draft"),
    path("escalation/draft/save/", escalation_views.draft_save, name="escalation_save"),
    path("escalation/dry-run/", escalation_views.draft_dry_run, name="escalation_dry_run"),
    path("escalation/publish/", escalation_views.draft_publish, name="escalation_publish"),
    path(
        "escalation/versions/<int:version>/rollback/",
        escalation_views.rollback,
        name="escalation_rollback",
    ),
    path("deliveries/", delivery_views.delivery_list, name="deliveries"),
    path(
        "deliveries/<int:delivery_id>/redeliver/",
        delivery_views.delivery_redeliver,
        name="delivery_redeliver",
    ),
]
