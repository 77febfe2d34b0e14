"""Benchmark: the outbox on PostgreSQL and Redis.

In one run, on the database DATABASE_URL names (its follow-ups are replaced by the benchmark's)
and the Redis database REDIS_URL names (no worker runs; the queue is emptied after each step):

- publish throughput: --messages outbox rows handed to Redis over one connection (rows/s), and
  the sweep re-publishing them (rows/s);
- draining a backlog of --followups due follow-ups end to end (claim + write the outbox rows +
  publish): the dispatcher as beat runs it, against the old way (one task per follow-up, one
  round trip each) on --compare of them, as a ratio of rows/s.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/h11 REDIS_URL=redis://127.0.0.1:6379/1 \\
       python bench/bench_outbox.py [--followups 100000] [--messages 20000] [--compare 10000]
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, setup_django  # noqa: E402

BENCH_KIND = "bench.noop"


def _queue_length() -> int:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery")


def _purge() -> None:
    from closedlost.celery import app

    app.control.purge()


def _publish(count: int) -> tuple[float, float, int]:
    from django.db import transaction
    from django.utils import timezone

    from outbox import kinds, services
    from outbox.models import Message

    kinds.register(BENCH_KIND, label="Benchmark", handle=lambda item: None)
    Message.objects.filter(kind=BENCH_KIND).delete()
    with transaction.atomic():
        ids = services.handoff_enqueue(kind=BENCH_KIND, items=range(count), chunk=1)
    # (the commit published them already; time a publish of the same rows on its own)
    _purge()
    started = time.perf_counter()
    services.messages_publish(ids)
    publish = time.perf_counter() - started
    tasks = _queue_length()
    assert 0 < tasks <= count
    _purge()
    Message.objects.filter(kind=BENCH_KIND).update(due_at=timezone.now(), published_at=None)
    started = time.perf_counter()
    swept = services.messages_sweep()
    sweep = time.perf_counter() - started
    assert swept == count and _queue_length() > 0, (swept, _queue_length())
    _purge()
    Message.objects.filter(kind=BENCH_KIND).delete()
    return publish, sweep, tasks


def _drain(due: list[int], enqueue) -> tuple[int, float]:
    from bench.bench_followups import _reset
    from followups import services
    from outbox.models import Message

    _reset(due)
    Message.objects.all().delete()
    _purge()
    started = time.perf_counter()
    count = services.followups_dispatch(batch_size=500, enqueue=enqueue)
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--followups", type=int, default=100_000, help="due follow-ups to drain (default 100,000)"
    )
    parser.add_argument(
        "--messages", type=int, default=20_000, help="outbox rows to publish (default 20,000)"
    )
    parser.add_argument(
        "--compare", type=int, default=10_000, help="rows drained the old way (default 10,000)"
    )
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench_outbox.py needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    ensure_database(os.environ["DATABASE_URL"])
    setup_django(os.environ["DATABASE_URL"])
    from bench.bench_followups import _build, _due_ids
    from followups import services
    from followups.models import FollowUp
    from outbox.models import Message

    _build(args.followups)
    due = _due_ids(args.followups)
    FollowUp.objects.exclude(state="done").exclude(pk__in=due).update(state="cancelled")
    print(f"PostgreSQL {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}; Redis {os.environ['REDIS_URL']}")

    publish, sweep, tasks = _publish(args.messages)
    print(f"\npublish {args.messages:,} outbox rows ({tasks} tasks, one connection): {publish:.2f}s = "
          f"{args.messages / publish:,.0f} rows/s; the sweep re-publishing them: {sweep:.2f}s = "
          f"{args.messages / sweep:,.0f} rows/s")  # fmt: skip

    compare = due[: args.compare]
    FollowUp.objects.filter(pk__in=due[args.compare :]).update(state="cancelled")
    old_count, old_seconds = _drain(compare, services._enqueue)  # one task per row, published one by one
    new_count, new_seconds = _drain(compare, None)
    old_rate, new_rate = old_count / old_seconds, new_count / new_seconds
    print(
        f"\ndrain {old_count:,} due follow-ups, one task per row: {old_seconds:.2f}s = {old_rate:,.0f} rows/s"
    )
    print(f"drain {new_count:,} due follow-ups through the outbox: {new_seconds:.2f}s = {new_rate:,.0f} rows/s"
          f" ({new_rate / old_rate:.1f}x)")  # fmt: skip

    count, seconds = _drain(due, None)
    messages = Message.objects.count()
    unpublished = Message.objects.filter(published_at__isnull=True).count()
    queued = _queue_length()
    print(
        f"\ndrain {count:,} due follow-ups end to end (claim + outbox + publish): {seconds:.2f}s ="
        f" {count / seconds:,.0f} rows/s; {messages:,} messages, {unpublished} unpublished, {queued:,} tasks in Redis"
    )
    assert count == len(due) and unpublished == 0 and queued > 0
    _purge()
    Message.objects.all().delete()
    FollowUp.objects.filter(pk__in=due).update(state="pending")


if __name__ == "__main__":
    main()
