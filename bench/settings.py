"""Settings for the benchmarks: the site's own, plus the baseline endpoint's URL."""

import os

from handoff_site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# A run on a shared Redis keeps its tasks to its own queue (its worker and beat read this too).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_CELERY_QUEUE") or "celery"
