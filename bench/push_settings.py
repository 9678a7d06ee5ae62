"""The benchmark settings plus the push benchmark's commit probe (``bench.push_probe``)."""

from bench.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.push_probe.PushProbeConfig"]  # noqa: F405
