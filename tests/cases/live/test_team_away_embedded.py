"""The Quickstart's own stack (SQLite, the relayed in-memory layer, a Celery worker with beat on
the filesystem broker): a customer told by the worker's sweep that nobody is online reaches the
supervisor's open page as an alert, through the relay to the web process."""

from __future__ import annotations

import json

import pytest

from tests.servers import embedded_env, embedded_python, embedded_web, embedded_worker, free_port
from tests.sockets import receive, socket_to

# A queue that tells a customer after a minute alone, nobody of it online, a case there for half
# an hour, and a supervisor with a session (not a member of the queue: their page is no agent).
DESK = """
import json
from datetime import timedelta
from django.test import Client
from django.utils import timezone
from queues.models import Queue
from tests.factories import CaseFactory, MembershipFactory, UserFactory

queue = Queue.objects.create(slug="night", name="Night", is_default=True, unstaffed_after_minutes=1)
MembershipFactory(queue=queue)
case = CaseFactory(
    queue=queue,
    handed_off_at=timezone.now() - timedelta(minutes=30),
    sla_due_at=timezone.now() + timedelta(hours=1),
)
client = Client()
client.force_login(UserFactory(username="sue", role="supervisor"))
print(json.dumps({"case": case.pk, "cookie": f"sessionid={client.cookies['sessionid'].value}"}))
"""


@pytest.mark.slow
def test_the_workers_team_away_alert_reaches_the_supervisors_page(tmp_path):
    env = embedded_env(tmp_path / "var")
    embedded_python(env, "from django.core.management import call_command\ncall_command('migrate')")
    desk = json.loads(embedded_python(env, DESK))
    with (
        embedded_web(env, free_port()) as server,
        socket_to(server, desk["cookie"]) as ws,
    ):
        receive(ws, kind="hello")
        # when the worker's beat runs the sweep (every 15 s)
        with embedded_worker(env):
            alert = receive(ws, kind="alert", timeout=90)

    # then the supervisor's page hears the alert, naming the case
    assert alert["kind"] == "case.team_away" and alert["case_id"] == desk["case"]
