"""The benchmark settings plus the commit probe (``bench.probe``)."""

from bench.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.probe.ProbeConfig"]  # noqa: F405
