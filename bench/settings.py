"""Settings for the benchmarks: the site's own, plus the baseline endpoint's URL."""

from handoff_site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
