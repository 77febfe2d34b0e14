"""Benchmark: the follow-up dispatcher and the worker on PostgreSQL, Redis and a local SMTP server.

Builds (once) a database `closedlost_bench_followups` with N due follow-ups (default and full
size 100,000) on 1,000 lost deals, plus as many finished ones as history, then measures in one run:

- the dispatcher's claim of all N due rows (batches of 500, `select_for_update(skip_locked)`),
  first without and then with handing each to Celery on Redis: rows/s;
- one claim batch with the partial index `followup_due` against the same query with index
  scans turned off, as a ratio, and the claim query's EXPLAIN (ANALYZE);
- emails/s through a real Celery worker (prefork, --concurrency) to a local aiosmtpd server,
  for --send rows (default 2,000; --send 100000 for the full size), checking that every
  row went out exactly once.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
       python bench/bench_followups.py [--followups 100000] [--send 2000] [--concurrency 4]
"""

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import bench_database_url, ensure_database  # noqa: E402

BENCH_DB = "closedlost_bench_followups"
DEALS = 1000


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closedlost.settings")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench_followups.py needs REDIS_URL (the worker's broker), e.g. redis://127.0.0.1:6379/5")
    import django

    django.setup()


def _build(total: int) -> None:
    """1,000 lost deals, a sequence of total/1,000 steps (half owner tasks, half contact emails)."""
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from deals.models import Account, Closure, Contact, Deal, DealStatus, Pipeline, Stage
    from followups.models import FollowUp, NurtureSequence, NurtureStep
    from reasons.models import Reason
    from teams.models import Membership, Team, User

    call_command("migrate", verbosity=0)
    existing = FollowUp.objects.filter(
        kind__in=["owner_task", "contact_email"], closure__isnull=False
    ).count()
    if existing >= 2 * total:
        print(f"using the existing {existing:,} follow-ups in {BENCH_DB}")
        return
    print(f"building {total:,} due follow-ups (and {total:,} finished ones) in {BENCH_DB} ...", flush=True)
    started = time.perf_counter()
    steps_per_deal = max(2, 2 * total // DEALS)  # half of them due, half history
    with transaction.atomic():
        FollowUp.objects.all().delete()
        team, _ = Team.objects.get_or_create(name="Bench team")
        rep, _ = User.objects.get_or_create(username="bench-rep", defaults={"email": "rep@bench.example"})
        Membership.objects.get_or_create(team=team, user=rep)
        pipeline, _ = Pipeline.objects.get_or_create(name="Bench pipeline")
        stage, _ = Stage.objects.get_or_create(
            pipeline=pipeline, order=1, defaults={"name": "Demo", "win_probability": 40}
        )
        account, _ = Account.objects.get_or_create(name="Bench account")
        reason = Reason.objects.filter(kind="loss", active=True).first()
        sequence, _ = NurtureSequence.objects.get_or_create(name="Bench sequence")
        if sequence.steps.count() != steps_per_deal:
            sequence.steps.all().delete()
            NurtureStep.objects.bulk_create(
                NurtureStep(
                    sequence=sequence,
                    position=n,
                    days_after_close=n,
                    action="owner_task" if n % 2 else "contact_email",
                    subject="Step {{ deal.name }} " + str(n),
                    body="Hi {{ contact.first_name }}, step " + str(n) + " about {{ deal.account }}.",
                )
                for n in range(1, steps_per_deal + 1)
            )
        steps = list(sequence.steps.all())
        closed_at = timezone.now() - timezone.timedelta(days=400)
        deals = Deal.objects.filter(team=team, status=DealStatus.LOST).order_by("pk")
        if deals.count() < DEALS:
            made = Deal.objects.bulk_create(
                Deal(name=f"Bench deal {n}", account=account, owner=rep, team=team, pipeline=pipeline, stage=stage,
                     amount=Decimal(10000), status=DealStatus.LOST, close_reason=reason, close_reason_kind="loss",
                     closed_at=closed_at)
                for n in range(DEALS - deals.count())
            )  # fmt: skip
            Closure.objects.bulk_create(
                Closure(deal=deal, outcome="lost", reason=reason, reason_kind="loss", stage_at_close=stage,
                        amount_at_close=deal.amount, currency="USD", closed_at=closed_at, actor=rep)
                for deal in made
            )  # fmt: skip
            contacts = Contact.objects.bulk_create(
                Contact(account=account, name=f"Buyer {deal.pk}", email=f"buyer{deal.pk}@buyer.example")
                for deal in made
            )
            Deal.contacts.through.objects.bulk_create(
                Deal.contacts.through(deal_id=deal.pk, contact_id=contact.pk)
                for deal, contact in zip(made, contacts, strict=True)
            )
        closures = {c.deal_id: c for c in Closure.objects.filter(deal__team=team)}
        contact_of = dict(
            Deal.contacts.through.objects.filter(deal__team=team).values_list("deal_id", "contact_id")
        )
        batch = []
        for deal in deals[:DEALS]:
            for step in steps:
                email = step.action == "contact_email"
                batch.append(
                    FollowUp(deal=deal, closure=closures[deal.pk], sequence=sequence, step=step, kind=step.action,
                             assignee=rep, contact_id=contact_of[deal.pk] if email else None,
                             title=f"Step {step.position}", due_at=closed_at + timezone.timedelta(days=step.position),
                             state="pending" if step.position % 4 in (1, 2) else "done")
                )  # fmt: skip
                if len(batch) >= 10000:
                    FollowUp.objects.bulk_create(batch)
                    batch = []
        FollowUp.objects.bulk_create(batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE followups_followup")
    print(f"  built in {time.perf_counter() - started:.1f}s", flush=True)


def _due_ids(total: int) -> list[int]:
    from followups.models import FollowUp

    return list(FollowUp.objects.exclude(state="done").order_by("pk").values_list("pk", flat=True)[:total])


def _reset(due: list[int], *, past: bool = True) -> None:
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from followups.models import FollowUp

    # Due over the last day (or the next days), one second apart: a realistic spread of due times.
    base = (
        timezone.now() - timezone.timedelta(days=1) if past else timezone.now() + timezone.timedelta(days=9)
    )
    FollowUp.objects.filter(pk__in=due).update(
        state="pending",
        claimed_at=None,
        sent_at=None,
        attempts=0,
        due_at=base + (F("id") % 80000) * timezone.timedelta(seconds=1),
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE followups_followup")  # as autovacuum would between ticks


def _claim_all(enqueue) -> tuple[int, float]:
    from followups import services

    started = time.perf_counter()
    count = services.followups_dispatch(batch_size=500, enqueue=enqueue)
    return count, time.perf_counter() - started


def _explain() -> tuple[str, float, float]:
    from django.db import connection, transaction
    from django.utils import timezone

    from followups.models import FollowUp

    query = (
        FollowUp.objects.select_for_update(skip_locked=True)
        .filter(state__in=["pending", "snoozed"], due_at__lte=timezone.now())
        .order_by("due_at")
        .values_list("pk", flat=True)[:500]
    )
    timings = {}
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for mode in ("index", "no index"):
            if mode == "no index":
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute("SET LOCAL enable_bitmapscan = off")
            runs = []
            for _ in range(5):
                began = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                runs.append(time.perf_counter() - began)
            timings[mode] = sorted(runs)[2]
    return plan, timings["index"], timings["no index"]


class _Inbox:
    def __init__(self):
        self.recipients: Counter = Counter()
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            self.recipients[envelope.content.split(b"Message-ID: ", 1)[-1].split(b"\n", 1)[0].strip()] += 1
        return "250 OK"


def _send(due: list[int], send: int, concurrency: int, smtp_port: int) -> tuple[float, _Inbox]:
    from aiosmtpd.controller import Controller
    from django.conf import settings

    from closedlost.celery import app
    from followups.models import FollowUp

    app.control.purge()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    asyncio.set_event_loop(asyncio.new_event_loop())
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "60"),  # as a production worker would run
    }
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-followups-worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [str(Path(sys.executable).parent / "celery"), "-A", "closedlost", "worker", "--pool=prefork",
         f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"bench-followups-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5) and time.monotonic() < deadline:
            pass  # until the worker answers
        time.sleep(1)  # and its pool processes are up
        _reset(due, past=False)
        _reset(due[:send], past=True)
        from followups import services

        count, claim_seconds = _claim_all(enqueue=services._enqueue)
        assert count == send, (count, send)
        started = time.perf_counter() - claim_seconds
        while FollowUp.objects.filter(pk__in=due[:send], state="queued").exists():
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        import signal

        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        controller.stop()
    assert FollowUp.objects.filter(pk__in=due[:send], state="sent").count() == send, settings.EMAIL_BACKEND
    return elapsed, inbox


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--followups", type=int, default=100_000, help="due follow-ups (default 100,000)")
    parser.add_argument("--send", type=int, default=2_000, help="how many to send through the worker")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
    parser.add_argument("--smtp-port", type=int, default=1030)
    args = parser.parse_args()
    url = bench_database_url(BENCH_DB)
    ensure_database(url)
    _setup_django(url)
    _build(args.followups)
    due = _due_ids(args.followups)
    from followups.models import FollowUp

    FollowUp.objects.exclude(state="done").exclude(pk__in=due).update(state="cancelled")  # a smaller run
    print(f"{len(due):,} due follow-ups; PostgreSQL {BENCH_DB}; Redis {os.environ['REDIS_URL']}")

    from followups import services

    _reset(due)
    plan, with_index, without_index = _explain()
    print("\nclaim query (one batch of 500), EXPLAIN ANALYZE:\n  " + plan.replace("\n", "\n  "))
    print(
        f"claim batch: {with_index * 1000:.2f} ms with the partial index, {without_index * 1000:.2f} ms without"
        f" index scans: {without_index / with_index:.1f}x faster with it"
    )

    count, seconds = _claim_all(enqueue=lambda ids: None)
    print(f"\nclaim only: {count:,} rows in {seconds:.2f}s = {count / seconds:,.0f} rows/s")
    _reset(due)
    from closedlost.celery import app

    app.control.purge()
    count, seconds_out = _claim_all(enqueue=services._enqueue)
    print(
        f"claim + hand each to Celery (Redis): {count:,} rows in {seconds_out:.2f}s = {count / seconds_out:,.0f}"
        f" rows/s (publishing costs {seconds_out / seconds:.1f}x the claim alone)"
    )
    app.control.purge()

    send = min(args.send, len(due))
    elapsed, inbox = _send(due, send, args.concurrency, args.smtp_port)
    duplicates = sum(1 for n in inbox.recipients.values() if n > 1)
    print(
        f"\nworker ({args.concurrency} processes) to local SMTP: {send:,} emails in {elapsed:.1f}s ="
        f" {send / elapsed:,.0f} emails/s; received {inbox.count:,}, duplicates {duplicates}"
    )
    _reset(due)


if __name__ == "__main__":
    main()
