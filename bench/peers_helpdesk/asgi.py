"""The ASGI application uvicorn serves for django-helpdesk."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers_helpdesk.settings")
application = get_asgi_application()
