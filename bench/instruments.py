"""What the Prometheus instruments cost on the hot path (#18): intake CPU per handoff with the
intake histogram and with a no-op in its place, interleaved rounds in one process, and one
observation alone in each of prometheus-client's modes (bench/README.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OBSERVE = "from observability.instruments import INTAKE_SECONDS as h"


def observation_us(multiprocess_dir: str | None) -> float:
    """Microseconds for one ``with INTAKE_SECONDS.time()`` around nothing, in a fresh process
    (prometheus-client picks its mode at import)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    code = (
        "import timeit; "
        f"t = min(timeit.repeat('with h.time(): pass', {OBSERVE!r}, number=100000, repeat=5)); "
        "print(t / 100000 * 1e6)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


class NoInstrument:
    def time(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def intake_cpu_ms(rounds: int, per_round: int) -> tuple[float, float]:
    """Median CPU milliseconds per handoff (process time), with and without the histogram."""
    os.environ["HANDOFF_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-instruments-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_site.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from cases.package import HandoffPackage
    from cases.services import intake
    from tests.factories import IntegrationFactory, QueueFactory, full_package

    QueueFactory(slug="general", name="General", is_default=True)
    integration: Any = IntegrationFactory(name="bench-bot")
    real: Any = intake.INTAKE_SECONDS
    serial = iter(range(10**9))

    def one_round(instrument: Any) -> float:
        intake.INTAKE_SECONDS = instrument
        packages = [
            HandoffPackage.model_validate(full_package(external_id=f"b-{next(serial)}"))
            for _ in range(per_round)
        ]
        started = time.process_time()
        for package in packages:
            intake.handoff_receive(integration=integration, package=package)
        return (time.process_time() - started) / per_round * 1000

    one_round(real)  # warm-up
    with_histogram, without = [], []
    for _ in range(rounds):
        with_histogram.append(one_round(real))
        without.append(one_round(NoInstrument()))
    intake.INTAKE_SECONDS = real
    return median(with_histogram), median(without)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        single, multi = observation_us(None), observation_us(directory)
    print(f"one observation: {single:.2f} us (one process), {multi:.2f} us (multiprocess mode)")
    with_histogram, without = intake_cpu_ms(options.rounds, options.per_round)
    print(
        f"intake CPU per handoff (median of {options.rounds} interleaved rounds of "
        f"{options.per_round}, SQLite): {with_histogram:.3f} ms with the histogram, "
        f"{without:.3f} ms without ({with_histogram - without:+.3f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
