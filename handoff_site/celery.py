import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

from handoff_site import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_site.settings")

broker.register()  # the embedded default's broker URL, deskfs://
app = Celery("handoff_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def publish_live_events_from_one_loop(**_: Any) -> None:
    # Worker processes have no server event loop: each one (every forked child too) gets a
    # long-lived loop for the live events its tasks publish; cases/live/events.py says why.
    # Imported here, not at the top: this module loads with the settings, before the apps.
    from cases.live.events import publish_from_own_loop

    publish_from_own_loop()
