"""What every report shares: the run's header, number formats, PASS/FAIL, the JSON file."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine(db_url: str = "") -> dict[str, Any]:
    """What a run measured on: the cores, platform, load average, Python, the libraries the
    figures depend on and, given the bench database, PostgreSQL."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for dist in ("django", "psycopg", "uvicorn", "channels", "channels-redis", "websockets"):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{dist} {version(dist)}")
    if db_url:
        from bench.lib.db import pg

        found.append(f"PostgreSQL {pg(db_url, 'SHOW server_version').split()[0]}")
    return {
        "cores": os.cpu_count(),
        "machine": platform.platform(terse=True),
        "load": [round(value, 2) for value in os.getloadavg()],
        "software": f"Python {platform.python_version()}, " + ", ".join(found),
    }


def header(title: str, figures: dict[str, Any], *lines: str) -> list[str]:
    """A report's first lines: what ran, when (``figures["started_at"]``), on what (its
    ``config``)."""
    config = figures["config"]
    load = " ".join(f"{value:.1f}" for value in config.get("load", []))
    return [
        "",
        f"Handoff Desk {title}, {figures['started_at']}",
        "",
        f"machine : {config['cores']} cores, {config['machine']}, load average {load} at the start",
        f"software: {config['software']}",
        *lines,
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure for a table: 'missing' for infinity (a frame that never came), '-' for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "missing"
    return f"{value:,.{digits}f}"


def table(columns: str, rows: Iterable[Iterable[Any]], indent: str = "") -> list[str]:
    """Lines of a table. ``columns``: "title<16|title>9.2f|…", each column's title and the
    format of its values (the title takes the alignment and width); text in a left-aligned
    column is cut to leave a space, NaN and infinity print as '-' and 'missing'."""
    specs = []
    for column in columns.split("|"):
        at = min(i for i in (column.find("<"), column.find(">")) if i >= 0)
        found = re.match(r"[<>](\d*)", column[at:])
        specs.append((column[:at], column[at:], column[at] + (found.group(1) if found else "")))
    lines = [indent + "".join(f"{title:{plain}}" for title, _, plain in specs)]
    for row in rows:
        cells = []
        for value, (_, spec, plain) in zip(row, specs, strict=True):
            if isinstance(value, str) or not math.isfinite(value):
                text = fmt(value) if not isinstance(value, str) else value
                width = int(plain[1:] or 0)
                cut = text[: width - 1] if plain[0] == "<" and width else text
                cells.append(f"{cut:{plain}}")
            else:
                cells.append(f"{value:{spec}}")
        lines.append(indent + "".join(cells))
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def finish(text: str, figures: dict[str, Any], path: Path | None, passed: bool) -> int:
    """Print the report, write the figures as JSON when asked; the exit status."""
    print(text, flush=True)
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {path}")
    return 0 if passed else 1


def notes(lines: list[str], others: dict[str, float] | None = None) -> list[str]:
    """The honesty notes, and a line for each phase during which other processes used more
    than 0.3 cores (``others``: phase → their cores)."""
    lines += [f"During {name}, other processes used {cores:.2f} cores: its figures are slower and "
              "noisier than a quiet machine gives." for name, cores in (others or {}).items()
              if cores > 0.3]  # fmt: skip
    return ["", "honesty notes:", *(f"  - {line}" for line in lines)] if lines else []


def run_main(main: Any) -> None:
    """Exit with main's status; Ctrl-C exits 130 with one line (its cleanup has run)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; the processes it started were stopped", file=sys.stderr)
        sys.exit(130)
