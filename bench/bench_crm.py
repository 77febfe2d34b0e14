"""Benchmark: CRM webhook ingest through a real server, and CSV import throughput.

1. Webhook ingest: gunicorn with 4 sync workers serves the app; client threads POST HubSpot
   webhook requests, each signed with the v3 signature. The receiver checks the signature,
   stores the raw event (unique dedupe key) and queues its processing on Redis. The same
   server, in the same run, serves a trivial webhook-shaped view (same middleware, no
   signature, no database); the ratio says what verifying + storing costs.
2. Import: a HubSpot export of N rows (default 10,000; --full for 100,000) with a few bad
   rows is imported by the same function the Celery task runs, then imported again (the
   idempotent second run). Rows/s of each.

Usage (PostgreSQL and Redis required):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python bench/bench_crm.py [--requests 3000] [--threads 8] [--rows 10000 | --full]
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database  # noqa: E402

PORT = 8108
SECRET = "bench-hubspot-client-secret-5f2e"
PORTAL = 62515


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench_crm.py needs DATABASE_URL pointing at PostgreSQL (and REDIS_URL at Redis)")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench_crm.py needs REDIS_URL (webhook processing is queued on Redis)")
    ensure_database(os.environ["DATABASE_URL"])
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.crm_settings"
    os.environ["AXES_ENABLED"] = "0"
    import django

    django.setup()


def prepare_world():
    from django.core.management import call_command

    from crm.models import CrmConnection, CrmKind
    from crm.services import connection_create
    from deals.models import Pipeline, Stage
    from reasons.taxonomy import load_starter_taxonomy_now
    from teams.models import Membership, Team, User

    call_command("migrate", verbosity=0)
    load_starter_taxonomy_now()
    team, _ = Team.objects.get_or_create(name="Bench East")
    for username, first in [("alice", "Alice"), ("erin", "Erin"), ("dave", "Dave")]:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "email": f"{username}@closedlost.invalid"}
        )
        Membership.objects.get_or_create(team=team, user=user)
    pipeline, _ = Pipeline.objects.get_or_create(name="New business", defaults={"win_reason_required": False})
    Pipeline.objects.filter(pk=pipeline.pk).update(win_reason_required=False)
    for order, name in enumerate(["Qualification", "Discovery", "Demo", "Proposal", "Negotiation"], start=1):
        Stage.objects.get_or_create(
            pipeline=pipeline, name=name, defaults={"order": order, "win_probability": 20}
        )
    CrmConnection.objects.filter(kind=CrmKind.HUBSPOT).delete()
    connection_create(kind=CrmKind.HUBSPOT, account_id=str(PORTAL), webhook_secret=SECRET, write_back=False)


def start_server(workers: int) -> subprocess.Popen:
    # Persistent database connections, as a production server would keep them.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.crm_settings",
        "AXES_ENABLED": "0",
        "DB_CONN_MAX_AGE": "60",
    }
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [
            str(Path(sys.executable).parent / "gunicorn"), "closedlost.wsgi:application",
            "--bind", f"127.0.0.1:{PORT}", "--workers", str(workers), "--worker-class", "sync",
            "--log-level", "warning", "--backlog", "2048",
        ],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/health/")
            conn.getresponse().read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not start")


def signed_requests(count: int, batch: int, first_event: int) -> list[tuple[bytes, dict]]:
    uri = f"http://127.0.0.1:{PORT}/webhooks/hubspot/"
    timestamp = str(int(time.time() * 1000))
    requests = []
    for r in range(count):
        events = [
            {
                "eventId": first_event + r * batch + i,
                "subscriptionId": 2418817,
                "portalId": PORTAL,
                "appId": 1160452,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": 0,
                "objectId": 50_000_000 + r,
                "propertyName": "dealstage",
                "propertyValue": "closedlost",
                "changeSource": "CRM_UI",
            }
            for i in range(batch)
        ]
        body = json.dumps(events).encode()
        digest = hmac.new(SECRET.encode(), b"POST" + uri.encode() + body + timestamp.encode(), hashlib.sha256)
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": base64.b64encode(digest.digest()).decode(),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        requests.append((body, headers))
    return requests


def fire(path: str, requests: list[tuple[bytes, dict]], threads: int) -> tuple[float, dict]:
    """POST every request from `threads` client threads; returns (seconds, status counts)."""
    lock, statuses, position = threading.Lock(), {}, [0]

    def worker():
        conn = None
        while True:
            with lock:
                index = position[0]
                position[0] += 1
            if index >= len(requests):
                return
            body, headers = requests[index]
            for attempt in range(3):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException):
                    conn = None
                    status = "error"
                    if attempt == 2:
                        break
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, statuses


def bench_webhooks(count: int, threads: int, workers: int) -> None:
    import redis
    from django.conf import settings

    from crm.models import WebhookEvent

    first_event = int(time.time() * 1000) * 10  # fresh event ids every run
    server = start_server(workers)
    try:
        warm = signed_requests(50, 1, first_event)
        fire("/webhooks/hubspot/", warm, threads)
        fire("/bench/trivial-webhook/", warm, threads)
        print(f"webhook ingest: {count:,} requests, {threads} client threads, gunicorn {workers} workers")
        for batch in (1, 10):
            requests = signed_requests(count, batch, first_event + 1_000_000 + batch * 10_000_000)
            before = WebhookEvent.objects.count()
            real_s, real_status = fire("/webhooks/hubspot/", requests, threads)
            stored = WebhookEvent.objects.count() - before
            trivial_s, trivial_status = fire("/bench/trivial-webhook/", requests, threads)
            real_rps, trivial_rps = count / real_s, count / trivial_s
            print(
                f"  {batch:>2} event(s)/request: webhook {real_rps:7.0f} req/s = {real_rps * batch:7.0f} events/s "
                f"(stored {stored:,}, statuses {real_status}); trivial view {trivial_rps:7.0f} req/s "
                f"({trivial_status}); webhook/trivial = {real_rps / trivial_rps:.2f}"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        # The benchmark's events are not for processing: drop them and their queued tasks.
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")


def bench_import(rows: int) -> None:
    from crm import imports
    from crm.models import ImportJob
    from crm.tests.exports import BAD_ROWS, hubspot_export
    from teams.models import User

    offset = int(time.time()) % 100_000 * 1_000_000  # fresh record ids every run
    bad = {line: spec for line, spec in BAD_ROWS.items() if line <= rows + 1}
    content = hubspot_export(rows, bad_rows=bad, id_offset=offset)
    column_map = {
        "external_id": "Record ID",
        "name": "Deal Name",
        "stage": "Deal Stage",
        "pipeline": "Pipeline",
        "amount": "Amount",
        "closed": "Close Date",
        "created": "Create Date",
        "owner": "Deal owner",
        "reason": "Closed Lost Reason",
        "account": "Associated Company",
    }
    admin = User.objects.get(username="alice")
    print(f"import: HubSpot export of {rows:,} rows ({len(bad)} bad), run twice")
    for label in ("first run (creates)", "second run (no change)"):
        job = imports.import_job_create(kind="hubspot", filename="bench.csv", content=content, actor=admin)
        ImportJob.objects.filter(pk=job.pk).update(column_map=column_map, status=ImportJob.Status.QUEUED)
        started = time.perf_counter()
        imports.import_job_run(job_id=job.pk)
        seconds = time.perf_counter() - started
        job.refresh_from_db()
        print(
            f"  {label:<24} {seconds:7.1f}s = {rows / seconds:7.0f} rows/s "
            f"(created {job.created_count:,}, updated {job.updated_count:,}, unchanged {job.unchanged_count:,}, "
            f"errors {job.error_count})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="webhook requests per measurement")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the import file")
    parser.add_argument("--full", action="store_true", help="the issue's full size: 100,000 import rows")
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    setup_django()
    prepare_world()
    if not args.skip_webhooks:
        bench_webhooks(args.requests, args.threads, args.workers)
    if not args.skip_import:
        bench_import(100_000 if args.full else args.rows)


if __name__ == "__main__":
    main()
