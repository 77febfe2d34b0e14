"""Benchmark: a close's latency while the dashboards' summary is rebuilt, against none.

Uses bench_dashboard's builder (its own database `closedlost_bench_rebuild`, N deals, default
200,000; `--full` for 1,000,000), spoils 1% of the facts (as a restored backup might), then closes
open deals one after another through `deals.services.deal_mark_lost` (nurture included) and prints
the median and p95 of a close, in one run:

- with no rebuild running;
- while `rollup_rebuild()` runs on another connection (slices of deal ids, the nightly repair,
  resting ROLLUP_REBUILD_PAUSE_MS between slices);
- while `rollup_rebuild(at_once=True)` runs (one transaction holding the summary's tables).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_rebuild.py [--deals N | --full]
"""

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import bench_database_url, ensure_database, setup_django  # noqa: E402

BENCH_DB = "closedlost_bench_rebuild"


def _spoil() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE insights_dealfact SET amount = amount + 1 WHERE deal_id % 100 = 0")


def _closer(deals, reason):
    from deals import services

    def close_next() -> float:
        deal = deals.pop()
        started = time.perf_counter()
        services.deal_mark_lost(deal=deal, reason=reason, actor=deal.owner)
        return (time.perf_counter() - started) * 1000

    return close_next


def _during(rebuild, close_next, *, at_least: int) -> tuple[list[float], float]:
    """Close deals while `rebuild` runs on another connection (at least `at_least` closes)."""
    from django.db import connections

    done = threading.Event()
    took = []

    def run():
        started = time.perf_counter()
        try:
            rebuild()
        finally:
            took.append(time.perf_counter() - started)
            done.set()
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.2)  # the rebuild has started
    times = []
    while not done.is_set() or len(times) < at_least:
        times.append(close_next())
        if done.is_set() and len(times) >= at_least:
            break
    thread.join()
    return times, took[0]


def _line(label: str, times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) >= 2 else times[0]
    return f"{label:<62} n={len(times):>4}  median {statistics.median(times):7.1f} ms  p95 {p95:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 deals, as the issue asks")
    parser.add_argument("--closes", type=int, default=200, help="closes measured with no rebuild")
    args = parser.parse_args()
    deal_count = 1_000_000 if args.full else args.deals
    url = bench_database_url(BENCH_DB)
    ensure_database(url)
    setup_django(url)

    from bench.bench_dashboard import _build
    from deals.models import Deal
    from insights import rollup
    from reasons.models import Reason

    _build(deal_count)
    reason = Reason.objects.filter(
        kind="loss", active=True, requires_competitor=False, requires_note=False
    ).first()
    open_ids = list(Deal.objects.filter(status="open").values_list("id", flat=True))
    random.Random(7).shuffle(open_ids)
    deals = list(Deal.objects.filter(pk__in=open_ids[:5000]).select_related("owner"))
    close_next = _closer(deals, reason)
    for _ in range(20):  # warm the connection's plans
        close_next()
    quiet = [close_next() for _ in range(args.closes)]
    print(f"{deal_count:,} deals")
    print(_line("close, no rebuild", quiet))

    _spoil()
    sliced, sliced_s = _during(rollup.rollup_rebuild, close_next, at_least=args.closes)
    from django.conf import settings

    label = f"close during the sliced rebuild ({sliced_s:.1f} s, {settings.ROLLUP_REBUILD_PAUSE_MS} ms rests)"
    print(_line(label, sliced))
    _spoil()
    locked, locked_s = _during(lambda: rollup.rollup_rebuild(at_once=True), close_next, at_least=5)
    print(_line(f"close during the at-once rebuild ({locked_s:.1f} s)", locked))
    print(
        f"ratios to no rebuild: sliced median {statistics.median(sliced) / statistics.median(quiet):.2f}x,"
        f" at-once max {max(locked) / statistics.median(quiet):.0f}x (max)"
    )
    drift = rollup.rollup_drift()
    print(f"summary afterwards: facts {drift['facts']}, rollup {drift['rollup']} rows disagree")


if __name__ == "__main__":
    main()
