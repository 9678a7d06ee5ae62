from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cases.api import api

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("queues.urls")),
    path("", include("cases.urls")),
]

handler404 = "cases.views.not_found"

if settings.HANDOFF_DEMO:
    urlpatterns.append(path("demo/bot/", include("demo_bot.urls")))
