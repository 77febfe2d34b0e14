"""Benchmark: the win/loss reviews of 100 managers, made as the beat task makes them.

Uses bench_dashboard's generated data (N deals over 10 teams of 10 reps, three years up to
today) in its own database, adds managers until there are 100 (ten per team), then times
`reviews.services.reviews_create_due` for last week: each manager's snapshot (headline with its
change, findings, needs-a-reason backlog, buyer feedback) and the Review row with its outbox
hand-off. It runs in a transaction rolled back at the end, so the hand-offs are never published
and the run can be repeated. Target: under 60 s.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_reviews.py [--deals N]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import bench_database_url, ensure_database, setup_django  # noqa: E402

MANAGERS = 100


class Rollback(Exception):
    pass


def _managers() -> None:
    from teams.models import Membership, Team, User

    teams = list(Team.objects.order_by("pk"))
    have = User.objects.filter(role=User.Role.MANAGER).count()
    for index in range(have, MANAGERS):
        team = teams[index % len(teams)]
        user, _ = User.objects.get_or_create(
            username=f"benchreviewer{index}",
            defaults={"role": User.Role.MANAGER, "email": f"reviewer{index}@bench.invalid"},
        )
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.MANAGER})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--database", default="closedlost_bench_reviews")
    args = parser.parse_args()
    url = bench_database_url(args.database)
    ensure_database(url)
    setup_django(url)
    from django.db import connection, transaction

    from bench import bench_dashboard
    from reviews import services
    from teams.models import User

    bench_dashboard._build(args.deals)
    _managers()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    due = services.reviews_due()
    managers = sum(1 for user, *_ in due if user.role == User.Role.MANAGER)
    print(f"{managers} managers' reviews due ({len(due)} in all), period {due[0][2]} – {due[0][3]}")
    started = time.perf_counter()
    try:
        with transaction.atomic():
            made = services.reviews_create_due()
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    print(
        f"reviews made: {made} in {elapsed:.1f} s ({elapsed / max(made, 1) * 1000:.0f} ms each); target < 60 s"
    )


if __name__ == "__main__":
    main()
