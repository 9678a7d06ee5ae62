"""The push settings plus the CPU of each request's thread in ``X-Bench-CPU`` (``bench.probe``)."""

from bench.push_settings import *  # noqa: F403

MIDDLEWARE = ["bench.probe.cpu_header", *MIDDLEWARE]  # noqa: F405
