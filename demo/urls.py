from django.urls import path

from demo import views

app_name = "demo_bot"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("hooks/<int:integration_id>/", views.receive, name="receive"),
]
