"""The bench database and the environment of everything a benchmark runs: arguments, settings,
dropping and migrating the database, statements and COPY on Django's connection, STAR packages
as request bodies, and the vocabulary the seeding draws from."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
STAR_PATH = ROOT.parent / "shared" / "data" / "star" / "dialogues.jsonl.gz"
SHARED_REDIS = "redis://127.0.0.1:6379/0"

# --- arguments and environment -----------------------------------------------------------------


def arguments(
    description: str,
    database: str | None,
    *,
    redis: str | None = None,
    settings: str | None = "bench.settings",
    wait_quiet: float | None = None,
) -> argparse.ArgumentParser:
    """A benchmark's parser with the options they share: the database it drops and recreates,
    Redis (when ``redis`` is a default), settings, waiting for a quiet machine, --json."""
    parser = argparse.ArgumentParser(description=description)
    add = parser.add_argument
    add("--json", type=Path, default=None, help="also write the figures here")
    if database is None:
        return parser
    server = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    add("--database-url", default=server, help=f"PostgreSQL server ({server})")
    add("--database-name", default=database, help=f"dropped and recreated ({database})")
    if redis is not None:
        add("--redis-url", default=redis, help=f"layer and broker ({redis or 'a private Redis'})")
    if settings is not None:
        add("--settings", default=settings, help=f"Django settings ({settings})")
    if wait_quiet is not None:
        add("--wait-quiet", type=float, default=wait_quiet,
            help=f"seconds to wait at most for a quiet machine ({wait_quiet:g})")  # fmt: skip
    return parser


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def conninfo(url: str) -> str:
    """psycopg wants postgresql:// (dj-database-url also takes postgres://)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def environment(
    db_url: str,
    *,
    settings: str = "bench.settings",
    redis_url: str = "",
    pool: tuple[int, int] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The server's and manage.py's environment, also made this process's own: no DEBUG, a fresh
    secret, REDIS_URL only when given (else the in-memory layer), the psycopg pool's sizes."""
    env = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        SECRET_KEY="bench-" + secrets.token_urlsafe(40),
        DATABASE_URL=db_url,
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **extra,
    )
    if pool is not None:
        env.update(DB_POOL_MIN_SIZE=str(pool[0]), DB_POOL_MAX_SIZE=str(pool[1]))
    if redis_url:
        env["REDIS_URL"] = redis_url
    for key in ("DEBUG", "REDIS_URL"):
        if key not in env:
            os.environ.pop(key, None)
    os.environ.update(env)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """manage.py in a process of its own; a failure ends the run."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(args: argparse.Namespace, env: dict[str, str], static_root: str = "") -> str:
    """Drop, recreate and migrate the bench database (and collect the static files into
    ``static_root``, for pages rendered in process); returns the database's URL."""
    import psycopg
    from psycopg import sql

    name = args.database_name
    print(f"preparing database {name} on {urlsplit(args.database_url).netloc} ...", flush=True)
    server = conninfo(database_url(args.database_url, "postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    manage(env, "migrate", "--noinput")
    if static_root:
        manage(env, "collectstatic", "--noinput", "-v", "0")
    return database_url(args.database_url, name)


def setup_django() -> None:
    """Django in this process; never with DEBUG on."""
    import django

    django.setup()
    from django.conf import settings

    if settings.DEBUG:
        raise SystemExit("DEBUG is on: the figures would not be the server's")


def close_connections() -> None:
    """Django's connections closed and its pool too (before a fork, or at the end)."""
    from django.db import connection, connections

    connections.close_all()
    with contextlib.suppress(AttributeError):
        connection.close_pool()  # type: ignore[attr-defined]


def execute(sql: str, params: Any = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def scalar(sql: str, params: Any = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def counts(*tables: str) -> dict[str, int]:
    return {table: int(scalar(f"SELECT count(*) FROM {table}")) for table in tables}


def copy_rows(table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """COPY rows into a table over Django's own connection (psycopg 3)."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor:
        names = ", ".join(f'"{column}"' for column in columns)
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def vacuum_analyze(url: str, *tables: str) -> None:
    """VACUUM ANALYZE the tables (all when none), as autovacuum would between phases."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for table in tables or ("",):
            conn.execute(f"VACUUM ANALYZE {table}".strip())


def pg(url: str, sql: str, params: Any = None) -> Any:
    """One statement on a connection of its own; the first column of the first row."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        row = cursor.fetchone() if cursor.description else None
    return row[0] if row else None


def pg_rows(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


# --- packages --------------------------------------------------------------------------------

MARK = "@@bench-external-id@@"
Template = tuple[bytes, bytes]  # a package's JSON body around its external_id


def star_packages(path: Path, limit: int) -> list[dict[str, Any]]:
    """STAR dialogues as handoff packages (the demo's mapping); none is an error."""
    from bench.lib import app

    packages = [app.star_to_package(dialogue) for dialogue in app.read_star(path, limit)]
    if not packages:
        raise SystemExit(f"no STAR dialogues read from {path}")
    return packages


def template(package: dict[str, Any], **facts: str) -> Template:
    """The package's body, cut where its external_id goes (``facts`` added to its facts)."""
    if facts:
        package = {**package, "facts": {**(package.get("facts") or {}), **facts}}
    body = json.dumps({**package, "external_id": MARK}, separators=(",", ":"))
    prefix, suffix = body.encode().split(MARK.encode(), 1)
    return prefix, suffix


def body(template: Template, external_id: str) -> bytes:
    return template[0] + external_id.encode() + template[1]
