"""Benchmark: a first sync ("bring in deals") of a HubSpot portal of --deals deals (default
50,000), each with its company and one or two contacts, from an empty closedlost.

The portal is the tests' loopback HubSpot (crm.tests.fake_hubspot.Portal), answered in-process:
what HubSpot's side costs (building its JSON answers) is timed apart and taken out, so the figure
is our own processing: reading the pages, mirroring, upserting companies and contacts, writing
the deals (new ones set-based, as the import does), their closes and history, and the links.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_sync.py
       [--deals 50000]
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import bench_database_url, setup_django  # noqa: E402

BENCH_DB = os.environ.get("BENCH_SYNC_DB", "closedlost_bench_sync")


def fresh_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    admin.close()


def backend_cpu(connection) -> float | None:
    """CPU seconds the database server's process for our connection has used (same machine only):
    with the machine loaded by others, wall time says little; CPU time does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_portal(deals: int):
    from crm.tests.fake_hubspot import Portal

    now = datetime.now(UTC)
    portal = Portal()
    sales = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin"]
    portal.pipeline(
        "default",
        "Sales Pipeline",
        [
            *((s, s.title(), 0.2 * (n + 1), False) for n, s in enumerate(sales)),
            ("closedwon", "Closed Won", 1.0, True),
            ("closedlost", "Closed Lost", 0.0, True),
        ],
    )
    companies, contacts = max(1, deals // 10), max(2, deals * 8 // 10)
    for n in range(companies):
        portal.company(
            str(10_000_000 + n), f"Company {n}", f"c{n}.example", ["Retail", "Health"][n % 2], 10 + n % 500
        )
    for n in range(contacts):
        portal.contact(
            str(20_000_000 + n),
            f"First{n}",
            "Last",
            f"buyer{n}@c{n % companies}.example",
            n % 97 == 0,
            company=str(10_000_000 + n % companies),
        )
    reasons = ["Price too high", "No budget", "went with a cheaper tool", ""]
    for i in range(1, deals + 1):
        path = sales[: 1 + i % 4]
        kind = i % 5
        final, closed = [], None
        if kind in (2, 3):
            final, closed = ["closedlost"], now - timedelta(days=i % 700)
        elif kind == 4:
            final, closed = ["closedwon"], now - timedelta(days=i % 700)
        people = [(str(20_000_000 + i % contacts), "Primary buyer")]
        if i % 2:
            people.append((str(20_000_000 + (i * 7) % contacts), ""))
        portal.deal(
            str(1_000_000 + i),
            name=f"Deal {i}",
            pipeline="default",
            stages=path + final,
            owner="101" if i % 2 else "102",
            amount=str(1000 + i % 90_000),
            created=now - timedelta(days=800),
            changed=now - timedelta(days=1),
            closed=closed,
            reason=reasons[i % 4] if final == ["closedlost"] else "",
            company=str(10_000_000 + i % companies),
            contacts=people,
        )
    return portal


class InProcessHubSpot:
    """fetch(method, url, body) answered by the portal's own handlers, timing HubSpot's side."""

    def __init__(self, portal):
        self.routes = []
        self.crm_seconds = 0.0
        self.crm_cpu = 0.0
        self.requests = 0
        portal.serve(self)

    def serve(self, method, prefix, handler):
        self.routes.append((method, prefix, handler))

    def __call__(self, method: str, url: str, body):
        started, cpu = time.perf_counter(), time.process_time()
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        handler = max(
            (r for r in self.routes if r[0] == method and path.startswith(r[1])), key=lambda r: len(r[1])
        )[2]
        status, answer = handler(path, json.loads(json.dumps(body)) if body else None)
        text = json.dumps(answer)  # what HubSpot sends ...
        self.crm_seconds += time.perf_counter() - started
        self.crm_cpu += time.process_time() - cpu
        self.requests += 1
        assert status == 200, answer
        return json.loads(text)  # ... and what we decode (ours)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=50_000)
    args = parser.parse_args()
    url = bench_database_url(BENCH_DB)
    fresh_database(url)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from crm import services
    from crm.models import CrmSyncRun
    from crm.sync.run import sync_run, sync_start
    from deals.models import Contact, Deal, DealContact
    from insights.rollup import pending_count, rollup_drift
    from reasons.taxonomy import load_starter_taxonomy_now
    from teams.models import Membership, Team, User

    load_starter_taxonomy_now()
    team = Team.objects.create(name="East")
    for name in ("alice", "dave"):
        Membership.objects.create(
            team=team, user=User.objects.create(username=name, email=f"{name}@ourco.example")
        )
    connection_, _ = services.connection_save(
        kind="hubspot",
        api_token="t",
        owner_map={"101": "alice", "102": "dave"},
    )
    print(f"building a portal of {args.deals:,} deals ...", flush=True)
    hubspot = InProcessHubSpot(build_portal(args.deals))
    run = sync_start(connection=connection_, window_months=24)
    load = os.getloadavg()[0]
    db_cpu = backend_cpu(connection)
    started, cpu = time.perf_counter(), time.process_time()
    assert sync_run(run_id=run.pk, fetch=hubspot) is None
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    db_cpu = None if db_cpu is None else backend_cpu(connection) - db_cpu
    python_cpu = cpu - hubspot.crm_cpu
    run = CrmSyncRun.objects.get(pk=run.pk)
    ours = wall - hubspot.crm_seconds
    written = Deal.objects.count()
    print(
        json.dumps(
            {
                "deals_in_portal": args.deals,
                "status": run.status,
                "pages": run.pages,
                "read": run.read_count,
                "created": run.created_count,
                "skipped": run.skipped_count,
                "deals_here": written,
                "contacts_here": Contact.objects.count(),
                "deal_contacts": DealContact.objects.count(),
                "crm_requests": hubspot.requests,
                # The summary agrees with the deals when the run is done (all 0, none left pending).
                "summary_drift": rollup_drift(),
                "summary_pending": pending_count(),
                "wall_seconds": round(wall, 2),
                "hubspot_side_seconds": round(hubspot.crm_seconds, 2),
                "our_seconds": round(ours, 2),
                "deals_per_second_ours": round(run.read_count / ours),
                "our_python_cpu_seconds": round(python_cpu, 2),
                "postgres_cpu_seconds": None if db_cpu is None else round(db_cpu, 2),
                # Our processing in CPU time (Python plus the database server's process for us): the
                # figure that holds on a machine loaded by others, where waiting for a core is not ours.
                "deals_per_cpu_second_ours": None
                if db_cpu is None
                else round(run.read_count / (python_cpu + db_cpu)),
                "load_average_at_end": round(os.getloadavg()[0], 1),
                "load_average_at_start": round(load, 1),
                "cpus": os.cpu_count(),
                "postgres": connection.pg_version,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
