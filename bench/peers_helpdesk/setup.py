"""Run in django-helpdesk's virtualenv by bench/peers.py after ``migrate``: the queues and the
staff users it reads from stdin (JSON: ``queues`` [slug, title], ``users`` [username],
``agent`` the one signed in), a DRF token and a signed-in session for the agent. Prints JSON:
the ids by slug and username, the token, the session cookie."""

import json
import sys

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.test import Client  # noqa: E402
from helpdesk.models import Queue  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

spec = json.load(sys.stdin)
queues = {
    slug: Queue.objects.create(slug=slug, title=title, allow_email_submission=False).pk
    for slug, title in spec["queues"]
}
users = {}
for username in spec["users"]:
    user = User.objects.create_user(username, email=f"{username}@example.com", is_staff=True)
    users[username] = user.pk
agent = User.objects.get(username=spec["agent"])
client = Client()
client.force_login(agent)
print(
    json.dumps(
        {
            "queues": queues,
            "users": users,
            "token": Token.objects.create(user=agent).key,
            "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
        }
    )
)
