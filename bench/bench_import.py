"""Benchmark: import of a HubSpot-style export (every state, competitors, stage at close, segments).

In one run, on its own PostgreSQL database:
1. the services route (every row through deal_create / deal_mark_* one by one, as before the
   set-based route existed) on a sample of --old-rows rows;
2. the import as it runs now on --rows rows (default 100,000): new rows set-based, the rest
   through the services; then the same file again (nothing changes: every row "unchanged");
3. rows/s of each and the ratio new / old; the process's memory (RSS) during the big run, sampled
   every 0.2 s; and the dashboards' summary compared with a rebuild (rollup_drift must be 0).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_import.py
       [--rows 100000] [--old-rows 5000]
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import bench_database_url, ensure_database, setup_django  # noqa: E402

BENCH_DB = os.environ.get("BENCH_IMPORT_DB", "closedlost_bench_import")
PAGE = os.sysconf("SC_PAGE_SIZE")


def prepare_world():
    from django.core.management import call_command

    from crm.models import ReasonMapping
    from deals.models import Pipeline, Stage
    from reasons.models import Reason
    from reasons.taxonomy import load_starter_taxonomy_now
    from teams.models import Membership, Team, User

    call_command("migrate", verbosity=0)
    load_starter_taxonomy_now()
    east, _ = Team.objects.get_or_create(name="East")
    Team.objects.get_or_create(name="West")
    for username, first in [("alice", "Alice"), ("erin", "Erin"), ("dave", "Dave")]:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "email": f"{username}@closedlost.invalid"}
        )
        Membership.objects.get_or_create(team=east, user=user)
    pipeline, _ = Pipeline.objects.get_or_create(name="New business")
    Pipeline.objects.filter(pk=pipeline.pk).update(win_reason_required=False)
    for order, name in enumerate(["Qualification", "Discovery", "Demo", "Proposal", "Negotiation"], start=1):
        Stage.objects.get_or_create(
            pipeline=pipeline, name=name, defaults={"order": order, "win_probability": 20}
        )
    for text, code in [
        ("price_too_high", "price-too-high"),
        ("status_quo", "status-quo"),
        ("great_relationship", "win-relationship"),
    ]:
        ReasonMapping.objects.get_or_create(
            kind="", crm_value=text, defaults={"reason": Reason.objects.get(code=code)}
        )
    return User.objects.get(username="alice")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def run_import(content: str, admin, *, set_based: bool) -> tuple[float, object, float]:
    """(seconds, the finished job, the highest RSS growth in MB while it ran)."""
    from crm import imports
    from crm.importing import chunk as run  # where SET_BASED lives
    from crm.models import ImportJob
    from crm.tests.exports import INTERNAL_STAGES

    job = imports.import_job_create(kind="hubspot", filename="bench.csv", content=content, actor=admin)
    column_map = {field: columns[0] for field, columns in imports.PRESETS["hubspot"].items()}
    ImportJob.objects.filter(pk=job.pk).update(
        column_map=column_map, stage_map=INTERNAL_STAGES, status=ImportJob.Status.QUEUED
    )
    del content
    run.SET_BASED = set_based
    base, peak, done = rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], rss_mb() - base)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        imports.import_job_run(job_id=job.pk)
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        run.SET_BASED = True
    job.refresh_from_db()
    return seconds, job, peak[0]


def report(label: str, rows: int, seconds: float, job, grew: float) -> float:
    rate = rows / seconds
    print(
        f"  {label:<34} {rows:>7,} rows {seconds:7.1f} s = {rate:7.0f} rows/s  (created {job.created_count:,}, "
        f"updated {job.updated_count:,}, unchanged {job.unchanged_count:,}, errors {job.error_count}; "
        f"RSS +{grew:.0f} MB)",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--old-rows", type=int, default=5_000)
    args = parser.parse_args()
    url = bench_database_url(BENCH_DB)
    ensure_database(url)
    setup_django(url)
    from crm.tests.exports import hubspot_full_export
    from insights.rollup import rollup_drift

    admin = prepare_world()
    offset = int(time.time()) % 10_000 * 1_000_000  # fresh record ids every run
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"import of a HubSpot-style export on PostgreSQL ({BENCH_DB}); load average {load}", flush=True)
    old_s, job, grew = run_import(
        hubspot_full_export(args.old_rows, id_offset=offset), admin, set_based=False
    )
    old = report("services route (before), sample", args.old_rows, old_s, job, grew)
    content = hubspot_full_export(args.rows, id_offset=offset + args.old_rows)
    new_s, job, grew = run_import(content, admin, set_based=True)
    new = report("import now, first run", args.rows, new_s, job, grew)
    again_s, job, grew = run_import(content, admin, set_based=True)
    report("import now, same file again", args.rows, again_s, job, grew)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"  ratio new / old: {new / old:.1f}x  (goal: at least 2,000 rows/s; load average now {load})",
        flush=True,
    )
    started = time.perf_counter()
    drift = rollup_drift()
    print(f"  dashboard summary vs rebuild: {drift} ({time.perf_counter() - started:.1f} s)", flush=True)
    if drift != {"facts": 0, "rollup": 0, "rollup_day": 0}:
        sys.exit("the dashboards' summary differs from a rebuild")


if __name__ == "__main__":
    main()
