"""Benchmark: findings (What changed) against the dashboard page, for a manager and an admin.

Uses bench_dashboard's database and generator (`--deals N`, `--full` for 1,000,000, `--database`,
`--rebuild`, `--pile-up`). For each "today" (by default the first and the last day of last month,
the first day of this month and today itself) it asks, as the page would on that day, for the
default period (last 12 months: whole months up to that day) against the previous period, through
the Django test client and in one run, interleaved:

- the dashboard page (`/insights/`) and the figures API (`/api/figures/`);
- the findings page (`/insights/findings/`) and the findings API (`/api/findings/`);

and prints median ms, the findings' ratio to the dashboard page (the issue's goal: ≤ 2×), the
queries each request runs, and, from EXPLAIN (ANALYZE, BUFFERS) of each of the findings API's
queries, the buffers they touch and whether any scans deals_deal whole (the goal: none).

A day is faked with the period's own dates (`period=custom&date_from=…&date_to=…` equal to what
`last-12-months` gives on that day, insights.forms.period_dates), so the same database serves
every day; the figures and findings read exactly what they would on that day.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_findings.py
       [--deals N | --full] [--day 2026-11-30 ...]
"""

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.bench_dashboard import _build, add_build_arguments  # noqa: E402
from bench.common import bench_database_url, ensure_database, median_ms, setup_django  # noqa: E402

PATHS = (
    ("page", "/insights/"),
    ("figures API", "/api/figures/"),
    ("findings page", "/insights/findings/"),
    ("findings API", "/api/findings/"),
)


def _days(today: date) -> list[date]:
    first_this = today.replace(day=1)
    last_before = first_this - timedelta(days=1)
    return sorted({last_before.replace(day=1), last_before, first_this, today})


def _plans(sqls: list[str]) -> tuple[int, int, int]:
    """Buffers touched, whole scans of deals_deal and rows read from deals_deal, over `sqls`."""
    from django.db import connection

    buffers = scans = rows = 0

    def walk(node: dict) -> None:
        nonlocal scans, rows
        if node.get("Relation Name") == "deals_deal":
            rows += node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
            if node["Node Type"] == "Seq Scan":
                scans += 1
        for child in node.get("Plans", []):
            walk(child)

    with connection.cursor() as cursor:
        for sql in sqls:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0]
            plan = plan if isinstance(plan, list) else json.loads(plan)
            top = plan[0]["Plan"]
            buffers += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
            walk(top)
    return buffers, scans, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 deals, as the issue asks")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--day", action="append", type=date.fromisoformat, help="a 'today' (repeatable)")
    add_build_arguments(parser)
    args = parser.parse_args()
    deal_count = 1_000_000 if args.full else args.deals

    url = bench_database_url(args.database)
    ensure_database(url)
    setup_django(url)
    _build(deal_count, rebuild=args.rebuild, pile_up=args.pile_up)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from insights.forms import DEFAULT_PERIOD, period_dates
    from insights.models import DealFact
    from insights.rollup import rollup_compact
    from teams.models import User

    rollup_compact()
    days = args.day or _days(timezone.localdate())
    print(
        f"{deal_count:,} deals, {DealFact.objects.count():,} facts; median of {args.repeat} runs, interleaved\n"
    )
    for username in ("benchmanager3", "benchadmin"):
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        print(f"== {username} ({'every deal' if user.is_revops_admin else 'one team'})")
        print(
            f"{'today':<12}{'period':<25}{'request':<15}{'ms':>8}{'× page':>8}{'queries':>9}"
            f"{'buffers':>9}{'deal rows':>10}{'deal scans':>11}"
        )
        for day in days:
            start, end = period_dates(DEFAULT_PERIOD, day)
            query = {"period": "custom", "date_from": start.isoformat(), "date_to": end.isoformat()}
            counts, plans = {}, {}
            for label, path in PATHS:
                assert client.get(path, query).status_code == 200, path
                with CaptureQueriesContext(connection) as ctx:
                    client.get(path, query)
                sqls = [q["sql"] for q in ctx.captured_queries]
                counts[label] = len(sqls)
                plans[label] = _plans(sqls)
            times = {label: [] for label, _ in PATHS}
            for _ in range(args.repeat):  # interleaved: the machine's load falls on every path alike
                for label, path in PATHS:
                    times[label].append(median_ms(lambda p=path, c=client, q=query: c.get(p, q), 1))
            page = sorted(times["page"])[len(times["page"]) // 2]
            for label, _path in PATHS:
                ms = sorted(times[label])[len(times[label]) // 2]
                buffers, scans, rows = plans[label]
                print(
                    f"{day.isoformat():<12}{f'{start} .. {end}':<25}{label:<15}{ms:>8.1f}{ms / page:>8.2f}"
                    f"{counts[label]:>9}{buffers:>9}{rows:>10}{scans:>11}"
                )
        print()
    connection.close()


if __name__ == "__main__":
    main()
