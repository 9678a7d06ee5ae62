from django.urls import path

from queues import views

app_name = "queues"

urlpatterns = [
    path("", views.editor, name="editor"),
    path("draft/", views.draft_start, name="draft_start"),
    path("rules/new/", views.rule_edit, name="rule_new"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/<slug:change>/", views.rule_change, name="rule_change"),
    path("dry-run/", views.draft_dry_run, name="dry_run"),
    path("test/", views.test_package, name="test"),
    path("publish/", views.draft_publish, name="publish"),
    path("versions/", views.versions, name="versions"),
    path("versions/<int:version>/rollback/", views.rollback, name="rollback"),
]
