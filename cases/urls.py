from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("cases/<int:case_id>/", views.case_detail, name="detail"),
    path("healthz", views.healthz, name="healthz"),
]
