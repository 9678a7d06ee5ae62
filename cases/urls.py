from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("queues/<slug:slug>/", views.queue_detail, name="queue"),
    path("take-next/", views.take_next, name="take_next"),
    path("cases/<int:case_id>/", views.case_detail, name="detail"),
    path("cases/<int:case_id>/<slug:action>/", views.case_action, name="action"),
    path("healthz", views.healthz, name="healthz"),
]
