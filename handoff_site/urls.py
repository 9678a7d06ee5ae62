from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.endpoints import api
from handoff_site import lockout_views, monitoring, pages

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("lockouts/", lockout_views.lockout_list, name="signin_lockouts"),
    path("lockouts/unlock/", lockout_views.lockout_unlock, name="signin_unlock"),
    path("healthz", pages.healthz, name="healthz"),
    path("prometheus", monitoring.prometheus_metrics, name="prometheus"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("web.urls.queues")),
    path("", include("web.urls.cases")),
]

handler404 = "handoff_site.pages.not_found"

if settings.HANDOFF_DEMO:
    urlpatterns.append(path("demo/bot/", include("demo.urls")))
