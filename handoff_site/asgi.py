"""ASGI entry point: Django for HTTP, Channels for the desk's websockets."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_site.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from cases.live.relay import lifespan  # noqa: E402
from cases.live.urls import websocket_urlpatterns  # noqa: E402
from handoff_site.origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The embedded mode's web process receives the other processes' live events while it
        # serves (cases/live/relay.py); with Redis it has nothing to start.
        "lifespan": lifespan,
        "http": django_asgi_app,
        # Only this desk's own pages, port included (handoff_site/origin.py).
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# What is loaded by now (Django, the apps, compiled templates and URL patterns) lives as long as
# the process. Frozen, it is left out of the cyclic collector's full passes, which otherwise walk
# it all and stall one request in ten on a long case page.
gc.collect()
gc.freeze()
