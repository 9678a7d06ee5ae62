from django.urls import path

from web.views import console as console_views
from web.views import routing as views

app_name = "queues"

urlpatterns = [
    path("routing/", views.editor, name="editor"),
    path("routing/draft/", views.draft_start, name="draft_start"),
    path("routing/rules/new/", views.rule_edit, name="rule_new"),
    path("routing/rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("routing/rules/<int:rule_id>/<slug:change>/", views.rule_change, name="rule_change"),
    path("routing/dry-run/", views.draft_dry_run, name="dry_run"),
    path("routing/test/", views.test_package, name="test"),
    path("routing/publish/", views.draft_publish, name="publish"),
    path("routing/versions/", views.versions, name="versions"),
    path("routing/versions/<int:version>/rollback/", views.rollback, name="rollback"),
    path("console/", console_views.console, name="console"),
    path("console/<slug:slug>/", console_views.console_queue, name="console_queue"),
    path("console/<slug:slug>/reassign/", console_views.reassign_cases, name="reassign"),
    path("console/<slug:slug>/hours/", console_views.queue_hours, name="hours"),
    path("console/<slug:slug>/members/", console_views.set_membership, name="membership"),
    path("console/<slug:slug>/assignment/", console_views.queue_assignment, name="assignment"),
    path("console/<slug:slug>/overall-cap/", console_views.overall_cap, name="overall_cap"),
]
