"""The benchmark settings plus the capacity benchmark's probes (``bench.capacity_probe``)."""

from bench.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.capacity_probe.CapacityProbeConfig"]  # noqa: F405
MIDDLEWARE = ["bench.capacity_probe.cpu_header", *MIDDLEWARE]  # noqa: F405
