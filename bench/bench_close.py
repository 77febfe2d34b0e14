"""Benchmark: closing deals and paging the deal list on PostgreSQL with many deals.

Builds (once) a database `closedlost_bench` with N deals (default 200,000) spread over
10 reps in 2 teams, 60% of them closed with consistent closures, then measures in one run:

- the close: a trivial view behind the same middleware (session, auth, CSRF, CSP), the close
  written by hand in SQL (the floor, every trigger on), the service `deal_mark_lost` and the
  page's POST, each with its query count, its median time and this process's CPU time (the
  Python share, which hardly moves with the machine's load), and the ratios of the goal:
  service / SQL and page / (trivial + SQL). The kinds run in turn for each deal, so a load that
  comes and goes weighs on all alike (`--blocks`: each kind in one block, as before);
- the deal list page time (median) at the first and at the last page, for an admin who
  sees every deal and for a rep, as a ratio (keyset pagination keeps it near 1).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_close.py [--deals N]
(`--database NAME` builds and uses another database, so that two checkouts do not share one.)
"""

import argparse
import html
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (  # noqa: E402
    bench_database_url,
    ensure_database,
    median_ms,
    setup_django,
    summary_triggers_off,
)

BENCH_DB = "closedlost_bench"


def _build(deal_count: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from deals.models import Deal, Pipeline, Stage
    from teams.models import Membership, Team, User

    call_command("migrate", verbosity=0)
    existing = Deal.objects.count()
    if existing >= deal_count:
        print(f"using the existing {existing:,} deals in {connection.settings_dict['NAME']}")
        return
    print(f"building {deal_count:,} deals in {connection.settings_dict['NAME']} ...", flush=True)
    started = time.perf_counter()
    pipeline, _ = Pipeline.objects.get_or_create(name="Bench pipeline")
    for order, name in enumerate(
        ["Qualification", "Discovery", "Demo", "Proposal", "Negotiation", "Commit"], 1
    ):
        Stage.objects.get_or_create(
            pipeline=pipeline, order=order, defaults={"name": name, "win_probability": 15 * order}
        )
    teams = [Team.objects.get_or_create(name=f"Bench team {n}")[0] for n in (1, 2)]
    for n in range(10):
        user, _ = User.objects.get_or_create(username=f"benchrep{n}", defaults={"role": User.Role.REP})
        Membership.objects.get_or_create(team=teams[n % 2], user=user)
    admin, _ = User.objects.get_or_create(username="benchadmin", defaults={"role": User.Role.ADMIN})
    with summary_triggers_off(), connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE deals_dealevent, deals_closuresecondaryreason, deals_closure, deals_deal_contacts, deals_deal, deals_contact, deals_account RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            """INSERT INTO deals_account (name, industry, employees)
               SELECT 'Bench account ' || g, (ARRAY['Software','Retail','Healthcare','Logistics'])[1 + g % 4], 50 + g % 5000
               FROM generate_series(1, 5000) g"""
        )
        # Deals: created over 18 months; 40% open, then lost 45%, won 35%, no decision 20% of the closed.
        cursor.execute(
            """
            WITH reps AS (SELECT array_agg(u.id ORDER BY u.id) ids, array_agg(m.team_id ORDER BY u.id) teams
                          FROM teams_user u JOIN teams_membership m ON m.user_id = u.id
                          WHERE u.username LIKE 'benchrep%%'),
                 stages AS (SELECT array_agg(id ORDER BY "order") ids FROM deals_stage WHERE pipeline_id = %(pipeline)s),
                 loss AS (SELECT array_agg(id) ids FROM reasons_reason WHERE kind = 'loss' AND NOT requires_competitor AND NOT requires_note),
                 win AS (SELECT array_agg(id) ids FROM reasons_reason WHERE kind = 'win' AND NOT requires_competitor AND NOT requires_note),
                 nd AS (SELECT array_agg(id) ids FROM reasons_reason WHERE kind = 'no_decision' AND NOT requires_note),
                 raw AS (
                   SELECT g, random() r, random() r2, (g %% 10) + 1 rep,
                          now() - (random() * interval '545 days') created
                   FROM generate_series(1, %(count)s) g)
            INSERT INTO deals_deal (name, account_id, owner_id, team_id, pipeline_id, stage_id, amount, currency,
                                    status, close_reason_id, close_reason_kind, created_at, expected_close_date, closed_at,
                                    needs_reason)
            SELECT 'Bench deal ' || g, 1 + g %% 5000, reps.ids[rep], reps.teams[rep], %(pipeline)s,
                   stages.ids[1 + (g %% 6)], round((1000 + r2 * 90000)::numeric, 2),
                   (ARRAY['USD','USD','USD','EUR','GBP'])[1 + g %% 5],
                   CASE WHEN r < 0.4 THEN 'open' WHEN r < 0.67 THEN 'lost' WHEN r < 0.88 THEN 'won' ELSE 'no_decision' END,
                   CASE WHEN r < 0.4 THEN NULL
                        WHEN r < 0.67 THEN loss.ids[1 + (g %% array_length(loss.ids, 1))]
                        WHEN r < 0.88 THEN win.ids[1 + (g %% array_length(win.ids, 1))]
                        ELSE nd.ids[1 + (g %% array_length(nd.ids, 1))] END,
                   CASE WHEN r < 0.4 THEN NULL WHEN r < 0.67 THEN 'loss' WHEN r < 0.88 THEN 'win' ELSE 'no_decision' END,
                   created, (created + interval '60 days')::date,
                   CASE WHEN r < 0.4 THEN NULL ELSE LEAST(now(), created + (10 + r2 * 150) * interval '1 day') END,
                   false
            FROM raw, reps, stages, loss, win, nd
            """,
            {"count": deal_count, "pipeline": pipeline.pk},
        )
        cursor.execute(
            """INSERT INTO deals_closure (deal_id, outcome, reason_id, reason_kind, note, actor_id, stage_at_close_id,
                                          amount_at_close, currency, closed_at, needs_reason)
               SELECT id, status, close_reason_id, close_reason_kind, '', owner_id, stage_id, amount, currency, closed_at, false
               FROM deals_deal WHERE status <> 'open'"""
        )
        cursor.execute(
            """INSERT INTO deals_dealevent (deal_id, field, from_value, to_value, actor_id, actor_kind, closure_id, at)
               SELECT c.deal_id, 'status', 'open', c.outcome, c.actor_id, 'user', c.id, c.closed_at FROM deals_closure c"""
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would, so counts can use index-only scans
    print(f"built in {time.perf_counter() - started:.1f} s (admin user id {admin.pk})")


def _medians(calls: dict, count: int, *, interleaved: bool) -> dict[str, tuple[float, float]]:
    """(median wall ms, median CPU ms of this process) of each `calls[kind](index)`, index
    1..count-1: the kinds taken in turn for each index (`interleaved`), or each kind in one block.
    The CPU time (Python's share, the database's is not in it) hardly moves with the machine's load."""
    wall: dict[str, list[float]] = {kind: [] for kind in calls}
    cpu: dict[str, list[float]] = {kind: [] for kind in calls}
    order = (
        [(index, kind) for index in range(1, count) for kind in calls]
        if interleaved
        else [(index, kind) for kind in calls for index in range(1, count)]
    )
    for index, kind in order:
        started, started_cpu = time.perf_counter(), time.process_time()
        calls[kind](index)
        wall[kind].append((time.perf_counter() - started) * 1000)
        cpu[kind].append((time.process_time() - started_cpu) * 1000)
    return {kind: (statistics.median(wall[kind]), statistics.median(cpu[kind])) for kind in calls}


def _sql_close(*, deal_id: int, reason_id: int, actor_id: int) -> None:
    """The close written by hand: lock, closure, deal, event, commit (every trigger fires)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT stage_id, amount, currency FROM deals_deal WHERE id = %s AND status = 'open' FOR UPDATE",
            [deal_id],
        )
        stage_id, amount, currency = cursor.fetchone()
        cursor.execute(
            """INSERT INTO deals_closure (deal_id, outcome, reason_id, reason_kind, note, actor_id,
                   stage_at_close_id, amount_at_close, currency, closed_at, needs_reason)
               VALUES (%s, 'lost', %s, 'loss', '', %s, %s, %s, %s, now(), false) RETURNING id""",
            [deal_id, reason_id, actor_id, stage_id, amount, currency],
        )
        closure_id = cursor.fetchone()[0]
        cursor.execute(
            """UPDATE deals_deal SET status = 'lost', close_reason_id = %s, close_reason_kind = 'loss',
                   closed_at = now(), needs_reason = false WHERE id = %s AND status = 'open'""",
            [reason_id, deal_id],
        )
        cursor.execute(
            """INSERT INTO deals_dealevent (deal_id, field, from_value, to_value, actor_id, actor_kind,
                   closure_id, at) VALUES (%s, 'status', 'open', 'lost', %s, 'user', %s, now())""",
            [deal_id, actor_id, closure_id],
        )


def _profile(call, count: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(count):
        call(index)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(45)
    stats.print_callees("deal_close_view")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--posts", type=int, default=300, help="closes per kind: sql, service and page")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the page POSTs instead")
    parser.add_argument("--blocks", action="store_true", help="time each kind in one block, not in turn")
    parser.add_argument("--database", default=BENCH_DB, help=f"the benchmark's database (default {BENCH_DB})")
    args = parser.parse_args()

    url = bench_database_url(args.database)
    ensure_database(url)
    setup_django(url, urlconf="bench.urls")
    _build(args.deals)

    from django.contrib.messages.storage.cookie import CookieStorage
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from deals import services
    from deals.models import Deal, DealStatus
    from reasons.models import Reason
    from teams.models import User

    rep = User.objects.get(username="benchrep1")
    admin = User.objects.get(username="benchadmin")
    reason = Reason.objects.get(code="no-budget")
    open_deals = list(
        Deal.objects.filter(owner=rep, status=DealStatus.OPEN)
        .order_by("id")
        .values_list("id", flat=True)[: 3 * args.posts]
    )
    args.posts *= 3
    if len(open_deals) < args.posts:
        sys.exit("not enough open deals left; drop the closedlost_bench database and run again")

    client = Client()
    client.force_login(rep)
    client.get("/bench/trivial/")  # warm up
    third = args.posts // 3
    sql_deals, service_deals, page_deals = (
        open_deals[:third],
        open_deals[third : 2 * third],
        open_deals[2 * third : 3 * third],
    )

    def trivial(_index):
        assert client.get("/bench/trivial/").status_code == 200

    def sql_close(index):
        _sql_close(deal_id=sql_deals[index], reason_id=reason.pk, actor_id=rep.pk)

    # The service alone: its caller already holds the deal (the page read it to check access).
    service_held = Deal.objects.in_bulk(service_deals)

    def service_close(index):
        services.deal_mark_lost(deal=service_held[service_deals[index]], reason=reason, actor=rep)

    def mark_lost(index):
        # Form-encoded, as a browser sends this form (the test client's default is multipart).
        response = client.post(
            reverse("deals:mark-lost", args=[page_deals[index]]),
            urlencode({"reason": reason.pk}),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 302, response.status_code
        # A browser follows the redirect to the deal page, which shows "marked lost" and so
        # empties the messages cookie; without this each POST would carry (decode and sign
        # again) every earlier POST's message.
        client.cookies.pop(CookieStorage.cookie_name, None)

    if args.profile:
        _profile(mark_lost, third)
        return
    queries = {}
    for label, call in (("sql", sql_close), ("service", service_close), ("page", mark_lost)):
        with CaptureQueriesContext(connection) as captured:
            call(0)
        queries[label] = len(captured.captured_queries)
    # Interleaved (trivial, SQL, service, page for each index): a load that comes and goes on a
    # shared machine weighs on every kind alike. --blocks measures each kind in one run instead.
    timed = _medians(
        {"trivial": trivial, "sql": sql_close, "service": service_close, "page": mark_lost},
        third,
        interleaved=not args.blocks,
    )
    (trivial_ms, trivial_cpu), (sql_ms, sql_cpu), (service_ms, service_cpu), (page_ms, page_cpu) = (
        timed[k] for k in ("trivial", "sql", "service", "page")
    )
    floor = trivial_ms + sql_ms
    how = "each kind in one block" if args.blocks else "interleaved"
    print(f"\nclose, median of {third - 1}, {how} (same database, one run; cpu: this process's share):")
    print(f"  trivial view              {trivial_ms:6.2f} ms   cpu {trivial_cpu:5.2f} ms")
    print(
        f"  hand-written SQL close    {sql_ms:6.2f} ms   cpu {sql_cpu:5.2f} ms   "
        f"({queries['sql']} statements, triggers on)"
    )
    print(
        f"  service deal_mark_lost    {service_ms:6.2f} ms   cpu {service_cpu:5.2f} ms   "
        f"({queries['service']} queries)  service / SQL = {service_ms / sql_ms:.2f}x (goal <= 2)"
    )
    print(
        f"  page POST mark lost       {page_ms:6.2f} ms   cpu {page_cpu:5.2f} ms   ({queries['page']} queries)  "
        f"page / (trivial + SQL) = {page_ms / floor:.2f}x (goal <= 2); page / trivial = {page_ms / trivial_ms:.1f}x"
    )

    for label, user in (("admin (all deals)", admin), ("rep (own deals)", rep)):
        client.force_login(user)
        first = client.get(reverse("deals:list")).content.decode()
        total = int(re.search(r'id="deal-count">([\d,]+) deal', first).group(1).replace(",", ""))
        first_ms = median_ms(lambda: client.get(reverse("deals:list")), 15)
        last_ms = median_ms(lambda: client.get(reverse("deals:list"), {"cursor": "last"}), 15)
        # The page before the last, reached by its cursor, costs the same index scan.
        last_page = client.get(reverse("deals:list"), {"cursor": "last"}).content.decode()
        prev_link = html.unescape(re.search(r'rel="prev" href="\?([^"]+)"', last_page).group(1))
        before_last = dict(parse_qsl(prev_link))
        middle_ms = median_ms(lambda q=before_last: client.get(reverse("deals:list"), q), 15)
        print(
            f"deal list, {label}, {total:,} deals: first page {first_ms:.1f} ms, last page {last_ms:.1f} ms, "
            f"page before last {middle_ms:.1f} ms; last/first = {last_ms / first_ms:.2f}"
        )
    print(f"\ntrivial view median: {median_ms(lambda: client.get('/bench/trivial/'), 50):.2f} ms")
    print("(the closed deals stay closed; rerun with a fresh database for identical figures)")


if __name__ == "__main__":
    main()
