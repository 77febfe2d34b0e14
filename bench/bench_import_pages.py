"""Benchmark: the whole import through the pages, as an admin does it, of a HubSpot-style export.

The upload page (GET, before the clock starts), upload (POST the file), the mapping page (GET, POST the preset), the review page (GET, POST a stage
of ours for each unknown CRM stage), the run (what the queued worker task does: import_job_run,
in this process), then the result page. Timed end to end, from the upload to the result page;
rows/s is the file's rows over that time (goal: at least 2,000 rows/s for 100,000 rows).
Each phase also shows the CPU time it took in this process and in the database server's backend
of this connection (read from /proc when the server runs on this machine), so a figure taken on
a loaded machine can be told apart from one where the work itself grew.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_import_pages.py
       [--rows 100000]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import bench_database_url, ensure_database, setup_django  # noqa: E402

BENCH_DB = os.environ.get("BENCH_IMPORT_DB", "closedlost_bench_import")
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu() -> float | None:
    """CPU seconds (user + system) of this connection's database backend, if /proc shows it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    url = bench_database_url(BENCH_DB)
    ensure_database(url)
    setup_django(url)
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from bench.bench_import import prepare_world
    from crm import imports
    from crm.models import ImportJob
    from crm.tests.exports import INTERNAL_STAGES, hubspot_full_export
    from teams.models import User

    setup_test_environment()  # the client keeps each page's context: the form as the admin sees it
    prepare_world()
    admin, _ = User.objects.get_or_create(
        username="carol", defaults={"role": User.Role.ADMIN, "email": "carol@closedlost.invalid"}
    )
    User.objects.filter(pk=admin.pk).update(role=User.Role.ADMIN)
    client = Client()
    client.force_login(admin)
    offset = int(time.time()) % 10_000 * 1_000_000  # fresh record ids every run
    data = hubspot_full_export(args.rows, id_offset=offset).encode()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"import through the pages: {args.rows:,} rows, {len(data) / 2**20:.1f} MB ({BENCH_DB}); "
        f"load average {load}",
        flush=True,
    )
    # The admin opens the upload page first (this also loads the views, as a running server has).
    assert client.get(reverse("crm:imports")).status_code == 200
    laps, started = [], (time.perf_counter(), time.process_time(), backend_cpu())

    def lap(name: str) -> None:
        laps.append((name, (time.perf_counter(), time.process_time(), backend_cpu())))

    upload = SimpleUploadedFile("hubspot-deals.csv", data, content_type="text/csv")
    response = client.post(reverse("crm:imports"), {"kind": "hubspot", "encoding": "utf-8", "file": upload})
    assert response.status_code == 302, response.status_code
    job = ImportJob.objects.defer("content").latest("pk")
    lap("upload")
    page = client.get(response["Location"])
    chosen = {name: field.initial for name, field in page.context["form"].fields.items() if field.initial}
    response = client.post(reverse("crm:import-map", args=[job.pk]), chosen)
    assert response.status_code == 302, response.status_code
    lap("mapping page (GET + POST)")
    review = client.get(response["Location"])
    form = review.context["form"]
    answers = {f"stage_{n}": INTERNAL_STAGES[value] for n, (value, _rows) in enumerate(form.stage_values)}
    response = client.post(review.request["PATH_INFO"], answers)
    assert response.status_code == 302, response.status_code
    lap("review page (GET + POST)")
    imports.import_job_run(job_id=job.pk)  # the queued worker task's work
    lap("the run (worker)")
    result = client.get(reverse("crm:import-detail", args=[job.pk]))
    assert result.status_code == 200
    lap("result page")
    total = laps[-1][1][0] - started[0]
    job.refresh_from_db()
    previous = started
    print(f"  {'phase':<28} {'wall':>9} {'CPU here':>9} {'CPU in db':>9}", flush=True)
    for name, at in [*laps, ("end to end", laps[-1][1])]:
        if name == "end to end":
            previous = started
        db = f"{at[2] - previous[2]:7.2f} s" if at[2] is not None and previous[2] is not None else "      n/a"
        print(f"  {name:<28} {at[0] - previous[0]:7.2f} s {at[1] - previous[1]:7.2f} s {db}", flush=True)
        previous = at
    print(
        f"  {args.rows / total:,.0f} rows/s end to end (goal: at least 2,000 rows/s); "
        f"status {job.status}, created {job.created_count:,}, updated {job.updated_count:,}, "
        f"unchanged {job.unchanged_count:,}, errors {job.error_count}",
        flush=True,
    )


if __name__ == "__main__":
    main()
