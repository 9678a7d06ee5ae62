"""Settings for the test suite: the real settings, with test-only defaults filled in first."""

import os
import tempfile
from pathlib import Path

# Tests may run against a real DATABASE_URL (as CI does) without a production SECRET_KEY.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from handoff_site.settings import *  # noqa: F403
from handoff_site.settings import CHANNEL_LAYERS, DATABASES, REDIS_URL

# Hashing test users' passwords with PBKDF2 would dominate the suite's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HANDOFF_ALLOW_PRIVATE_CALLBACKS = True
# Tests read static files in place, whatever the database (no collectstatic manifest needed).
SERVESTATIC_USE_FINDERS = True
STATIC_ROOT = None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A test run shares Redis with whatever else uses it (a dev server, a benchmark): its channel
# groups and task queue get names of their own, so no stray event or task crosses over.
TEST_RUN_ID = os.environ.get("HANDOFF_TEST_RUN_ID") or os.urandom(4).hex()
if REDIS_URL:
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"test-{TEST_RUN_ID}"  # type: ignore[index]
    CELERY_TASK_DEFAULT_QUEUE = f"test-{TEST_RUN_ID}"
else:  # the embedded layer's relay socket: this run's own, not a running desk's var/live.sock
    _socket = os.path.join(tempfile.gettempdir(), f"handoff-live-{TEST_RUN_ID}.sock")
    CHANNEL_LAYERS["default"]["CONFIG"]["path"] = _socket  # type: ignore[index]
# Uploaded attachments of this run, apart from a running desk's var/media (tests that look at the
# files set their own MEDIA_ROOT).
MEDIA_ROOT = Path(tempfile.gettempdir()) / f"handoff-media-{TEST_RUN_ID}"
HANDOFF_DEMO = True  # the demo bot platform's pages are tested too

# One test process holds what production spreads over processes: the test's own thread, the
# in-process servers' request threads (live_server, the ASGI servers of tests/e2e) and the
# long-lived executor threads of async tests all draw on this one pool, and a thread that lives
# on keeps its connection checked out. Production's 8 ran dry in the browser tests.
_pool = DATABASES["default"].get("OPTIONS", {}).get("pool")
if _pool is not None:
    _pool["max_size"] = max(_pool["max_size"], 20)
