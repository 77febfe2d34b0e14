"""What every benchmark needs: its own PostgreSQL database and Django set up against it."""

import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database_url(name: str) -> str:
    """DATABASE_URL with the database swapped for the benchmark's own `name`."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("the benchmarks need DATABASE_URL pointing at PostgreSQL")
    return urlunparse(parsed._replace(path=f"/{name}"))


def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres", dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def setup_django(url: str, *, urlconf: str | None = None) -> None:
    """Django against `url`, with settings fit for a benchmark (fast hashing, no lockout)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closedlost.settings")
    os.environ["AXES_ENABLED"] = "0"
    import django

    django.setup()
    from django.conf import settings

    if urlconf:
        settings.ROOT_URLCONF = urlconf
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False


def median_ms(call, repeat: int) -> float:
    """Median wall time of `call()` over `repeat` runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextmanager
def summary_triggers_off():
    """For a bulk load: empty the dashboards' summary (loss history, facts, rollup), switch off the
    triggers that keep it, and rebuild it once at the end (statement by statement over a million
    deals, the triggers would take far longer)."""
    from django.db import connection

    from insights.rollup import rollup_rebuild

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgrelid::regclass::text FROM pg_trigger"
            " WHERE NOT tgisinternal AND tgname LIKE 'insights\\_%' ORDER BY tgname"
        )
        triggers = cursor.fetchall()
        cursor.execute(
            "TRUNCATE insights_losshistory, insights_dealfact, insights_rollup, insights_rollupday"
        )
        for name, table in triggers:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.in_atomic_block:  # a test's transaction: deferred checks pending block ALTER
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for name, table in triggers:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
    started = time.perf_counter()
    rollup_rebuild(at_once=True)  # an empty summary: one bulk pass, nothing to wait for
    print(f"dashboard summary rebuilt in {time.perf_counter() - started:.1f} s", flush=True)
