"""Benchmark: the manager loss dashboard on PostgreSQL with many deals.

Builds (once per size) a database `closedlost_bench_dashboard` with N deals (default 200,000;
`--full` for 1,000,000) over 10 teams of 10 reps, three years of history, realistic mixes of
status, reasons, competitors, currencies and reopened losses (generate_series, no ORM), then
measures in one run, for a team manager (one team, ~N/10 deals) and for an admin (every deal),
over the last 12 months:

- each figure's selector (insights.selectors) vs two hand-written SQL versions of the same
  figure, median ms and ratios: "live SQL" over the deals themselves (after checking that it gives
  the selector's numbers) and "rollup SQL" over the monthly summary the selectors read;
- the whole dashboard page and the JSON API (`/api/figures/`) through the Django test client,
  against the sum of the hand-written SQL of every figure, for the last 12 months and (partial
  months at the edges) the last 90 days.

The load switches the summary's triggers off and rebuilds the summary once at the end.

Closes spread evenly up to the build's moment: a closed deal's whole cycle (5-180 days) lies in the
past. `--pile-up` (with `--rebuild`) builds as the generator did until issue 25, clamping every close
past today onto the build day (~74,000 closes on one day at 1M), to reproduce old figures.
`--database NAME` builds and uses another database, so that two checkouts do not share one.
`--today 2026-11-30` measures as on that day (the periods' own dates, as a custom period), so one
database serves the first and the last day of a month.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_dashboard.py [--deals N | --full]
"""

import argparse
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import bench_database_url, ensure_database, median_ms, setup_django, summary_triggers_off  # noqa: E402

BENCH_DB = "closedlost_bench_dashboard"
TEAMS, REPS_PER_TEAM = 10, 10


def _columns(cursor, table: str) -> set[str]:
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table])
    return {row[0] for row in cursor.fetchall()}


def _build(deal_count: int, *, rebuild: bool = False, pile_up: bool = False, migrate: bool = True) -> None:
    from django.core.management import call_command
    from django.db import connection

    from deals.models import Deal, Pipeline, Stage
    from teams.models import Membership, Team, User

    if migrate:  # the bench's own database; a test's is migrated already
        call_command("migrate", verbosity=0)
    existing = Deal.objects.count()
    if existing == deal_count and not rebuild:
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
    for t in range(TEAMS):
        team, _ = Team.objects.get_or_create(name=f"Bench team {t}")
        manager, _ = User.objects.get_or_create(
            username=f"benchmanager{t}", defaults={"role": User.Role.MANAGER}
        )
        Membership.objects.get_or_create(team=team, user=manager, defaults={"role": Membership.Role.MANAGER})
        for r in range(REPS_PER_TEAM):
            rep, _ = User.objects.get_or_create(
                username=f"benchrep{t}-{r}", defaults={"role": User.Role.REP, "first_name": f"Rep {t}-{r}"}
            )
            Membership.objects.get_or_create(team=team, user=rep)
    User.objects.get_or_create(username="benchadmin", defaults={"role": User.Role.ADMIN})
    if pile_up:  # the old generator: a close past today is clamped onto the build day
        created = "now() - r4 * interval '1095 days'"
        closed = "LEAST(now(), created + cycle)"
    else:  # a closed deal's whole cycle lies in the past, so closes spread evenly up to now
        created = (
            "CASE WHEN r < 0.12 THEN now() - r4 * interval '1095 days'"
            " ELSE now() - cycle - r4 * (interval '1095 days' - cycle) END"
        )
        closed = "created + cycle"
    with summary_triggers_off(), connection.cursor() as cursor:
        deal_extra = "needs_reason" in _columns(cursor, "deals_deal")
        closure_extra = "needs_reason" in _columns(cursor, "deals_closure")
        tables = [
            "deals_dealevent",
            "deals_closuresecondaryreason",
            "deals_closure",
            "deals_deal_contacts",
            "deals_deal",
        ]
        tables += ["deals_contact", "deals_account"]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        cursor.execute("SELECT setseed(0.42)")
        account_columns = _columns(cursor, "deals_account")
        account_extra = "".join(f", {c}" for c in ("domain", "updated_at") if c in account_columns)
        account_values = "".join(
            v for c, v in (("domain", ", ''"), ("updated_at", ", now()")) if c in account_columns
        )
        cursor.execute(
            f"""INSERT INTO deals_account (name, industry, employees{account_extra})
               SELECT 'Bench account ' || g,
                      (ARRAY['Software','Retail','Healthcare','Logistics','Manufacturing','Education'])[1 + g % 6],
                      CASE WHEN g % 17 = 0 THEN NULL ELSE (ARRAY[12, 35, 80, 180, 400, 900, 2500, 12000])[1 + g % 8] END
                      {account_values}
               FROM generate_series(1, 20000) g"""
        )
        # Status: 12% open, 36% won, 38% lost, 14% no decision. Reasons weighted by position
        # (power law), competitors where the reason needs one (and on some wins).
        cursor.execute(
            f"""
            WITH reps AS (SELECT array_agg(u.id ORDER BY u.id) ids, array_agg(m.team_id ORDER BY u.id) teams
                          FROM teams_user u JOIN teams_membership m ON m.user_id = u.id
                          WHERE u.username LIKE 'benchrep%%'),
                 stages AS (SELECT array_agg(id ORDER BY "order") ids FROM deals_stage WHERE pipeline_id = %(pipeline)s),
                 loss AS (SELECT array_agg(id ORDER BY id) ids FROM reasons_reason WHERE kind = 'loss'),
                 win AS (SELECT array_agg(id ORDER BY id) ids FROM reasons_reason WHERE kind = 'win'),
                 nd AS (SELECT array_agg(id ORDER BY id) ids FROM reasons_reason WHERE kind = 'no_decision'),
                 raw AS (
                   SELECT g, r, r2, r3, rep, cycle, {created} created
                   FROM (SELECT g, random() r, random() r2, random() r3, random() r4,
                                1 + floor(random() * {TEAMS * REPS_PER_TEAM})::int rep
                         FROM generate_series(1, %(count)s) g) drawn,
                        LATERAL (SELECT (5 + r2 * 175) * interval '1 day' cycle) c
                   ORDER BY created)
            INSERT INTO deals_deal (name, account_id, owner_id, team_id, pipeline_id, stage_id, amount, currency,
                                    status, close_reason_id, close_reason_kind, created_at, expected_close_date,
                                    closed_at{", needs_reason" if deal_extra else ""})
            SELECT 'Bench deal ' || g, 1 + floor(r3 * 20000)::int, reps.ids[rep], reps.teams[rep], %(pipeline)s,
                   stages.ids[1 + floor(r2 * r2 * 6)::int],
                   round((500 + exp(r2 * 5.3) * 500)::numeric, 2),
                   (ARRAY['USD','USD','USD','USD','EUR','EUR','GBP'])[1 + g %% 7],
                   CASE WHEN r < 0.12 THEN 'open' WHEN r < 0.48 THEN 'won' WHEN r < 0.86 THEN 'lost' ELSE 'no_decision' END,
                   CASE WHEN r < 0.12 THEN NULL
                        WHEN r < 0.48 THEN win.ids[1 + floor(r3 * r3 * array_length(win.ids, 1))::int]
                        WHEN r < 0.86 THEN loss.ids[1 + floor(r3 * r3 * array_length(loss.ids, 1))::int]
                        ELSE nd.ids[1 + floor(r3 * array_length(nd.ids, 1))::int] END,
                   CASE WHEN r < 0.12 THEN NULL WHEN r < 0.48 THEN 'win' WHEN r < 0.86 THEN 'loss' ELSE 'no_decision' END,
                   created, (created + interval '60 days')::date,
                   CASE WHEN r < 0.12 THEN NULL ELSE {closed} END
                   {", false" if deal_extra else ""}
            FROM raw, reps, stages, loss, win, nd
            ORDER BY created  -- rows land in the order a CRM creates them
            """,
            {"count": deal_count, "pipeline": pipeline.pk},
        )
        extra_col, extra_val = (", needs_reason", ", false") if closure_extra else ("", "")
        # An earlier loss, reopened, for 10% of the deals (won back, lost again, or open now).
        cursor.execute(
            f"""INSERT INTO deals_closure (deal_id, outcome, reason_id, reason_kind, note, stage_at_close_id,
                                           amount_at_close, currency, closed_at, reopened_at{extra_col})
               SELECT d.id, 'lost', (SELECT array_agg(id ORDER BY id) FROM reasons_reason WHERE kind = 'loss')[1 + d.id % 10],
                      'loss', '', d.stage_id, d.amount, d.currency, d.created_at + interval '2 days',
                      d.created_at + interval '3 days'{extra_val}
               FROM deals_deal d WHERE d.id % 10 = 3 AND d.created_at < now() - interval '3 days'"""
        )
        cursor.execute(
            f"""INSERT INTO deals_closure (deal_id, outcome, reason_id, reason_kind, competitor_id, note,
                                           stage_at_close_id, amount_at_close, currency, closed_at{extra_col})
               SELECT d.id, d.status, d.close_reason_id, d.close_reason_kind,
                      CASE WHEN r.requires_competitor OR (d.status IN ('won', 'lost') AND d.id % 5 = 0)
                           THEN (SELECT array_agg(id ORDER BY id) FROM reasons_competitor)[1 + d.id % 5] END,
                      '', d.stage_id, d.amount, d.currency, d.closed_at{extra_val}
               FROM deals_deal d LEFT JOIN reasons_reason r ON r.id = d.close_reason_id
               WHERE d.status <> 'open'"""
        )
    with connection.cursor() as cursor:  # VACUUM cannot run in a transaction (the smoke test's)
        cursor.execute(
            "ANALYZE deals_deal, deals_closure" if connection.in_atomic_block else "VACUUM ANALYZE"
        )
    print(f"built in {time.perf_counter() - started:.1f} s", flush=True)


# --- hand-written SQL for each figure ------------------------------------------------------------

VALUE = "d.amount * x.rate"
RATES = "LEFT JOIN insights_exchangerate x ON x.currency = d.currency"
ROLLED = "LEFT JOIN reasons_reason rr ON rr.id = d.close_reason_id"

SQL = {
    "headline": [
        f"""SELECT count(*) FILTER (WHERE d.status = 'won'), count(*) FILTER (WHERE d.status = 'lost'),
                  count(*) FILTER (WHERE d.status = 'no_decision'),
                  count(*) FILTER (WHERE d.status = 'lost' AND d.close_reason_id IS NULL),
                  sum({VALUE}) FILTER (WHERE d.status = 'won'), sum({VALUE}) FILTER (WHERE d.status = 'lost'),
                  avg({VALUE}) FILTER (WHERE d.status = 'won'),
                  avg(d.closed_at - d.created_at) FILTER (WHERE d.status = 'won'),
                  avg(d.closed_at - d.created_at) FILTER (WHERE d.status = 'lost')
           FROM deals_deal d {RATES} WHERE {{period}} AND {{scope}}""",
        "SELECT count(*) FROM deals_deal d WHERE d.status = 'open' AND {scope}",
    ],
    "loss-by-reason": [
        f"""SELECT coalesce(rr.merged_into_id, d.close_reason_id), count(*), sum({VALUE})
           FROM deals_deal d {ROLLED} {RATES} WHERE d.status = 'lost' AND {{period}} AND {{scope}} GROUP BY 1"""
    ],
    "loss-by-category": [
        f"""SELECT coalesce(m.category_id, rr.category_id), count(*), sum({VALUE})
           FROM deals_deal d JOIN reasons_reason rr ON rr.id = d.close_reason_id
           LEFT JOIN reasons_reason m ON m.id = rr.merged_into_id {RATES}
           WHERE d.status = 'lost' AND {{period}} AND {{scope}} GROUP BY 1"""
    ],
    "reason-trend": [
        f"""SELECT date_trunc('month', d.closed_at AT TIME ZONE 'UTC'), coalesce(rr.merged_into_id, d.close_reason_id),
                  count(*)
           FROM deals_deal d {ROLLED} WHERE d.status = 'lost' AND d.close_reason_id IS NOT NULL
           AND {{period}} AND {{scope}} GROUP BY 1, 2"""
    ],
    "losses-by-stage": [
        f"""SELECT d.stage_id, count(*), sum({VALUE}) FROM deals_deal d {RATES}
           WHERE d.status = 'lost' AND {{period}} AND {{scope}} GROUP BY 1"""
    ],
    "by-competitor": [
        f"""SELECT coalesce(k.merged_into_id, k.id), count(*) FILTER (WHERE d.status = 'won'),
                  count(*) FILTER (WHERE d.status = 'lost'), sum({VALUE}) FILTER (WHERE d.status = 'lost')
           FROM deals_deal d JOIN deals_closure c ON c.deal_id = d.id AND c.reopened_at IS NULL
           JOIN reasons_competitor k ON k.id = c.competitor_id {RATES}
           WHERE d.status IN ('won', 'lost') AND {{period}} AND {{scope}} GROUP BY 1"""
    ],
    "by-rep": [
        f"""SELECT d.owner_id, count(*) FILTER (WHERE d.status = 'won'), count(*) FILTER (WHERE d.status = 'lost'),
                  count(*) FILTER (WHERE d.status = 'no_decision'), sum({VALUE}) FILTER (WHERE d.status = 'lost')
           FROM deals_deal d {RATES} WHERE {{period}} AND {{scope}} GROUP BY 1""",
        f"""SELECT d.owner_id, coalesce(rr.merged_into_id, d.close_reason_id), count(*)
           FROM deals_deal d {ROLLED} WHERE d.status = 'lost' AND d.close_reason_id IS NOT NULL
           AND {{period}} AND {{scope}} GROUP BY 1, 2""",
    ],
    "by-segment": [
        f"""SELECT a.industry, CASE WHEN a.employees IS NULL THEN 'unknown' WHEN a.employees < 50 THEN 'under-50'
                  WHEN a.employees < 250 THEN '50-249' WHEN a.employees < 1000 THEN '250-999' ELSE '1000-plus' END,
                  count(*) FILTER (WHERE d.status = 'won'), count(*) FILTER (WHERE d.status = 'lost'),
                  count(*) FILTER (WHERE d.status = 'no_decision'), sum({VALUE}) FILTER (WHERE d.status = 'lost')
           FROM deals_deal d JOIN deals_account a ON a.id = d.account_id {RATES}
           WHERE {{period}} AND {{scope}} GROUP BY 1, 2"""
    ],
    "recovery-by-reason": [
        f"""SELECT coalesce(rr.merged_into_id, h.first_lost_reason_id), count(*), count(*) FILTER (WHERE h.reopened),
                  count(*) FILTER (WHERE d.status = 'won'), sum({VALUE}) FILTER (WHERE d.status = 'won')
           FROM deals_deal d JOIN insights_losshistory h ON h.deal_id = d.id
           LEFT JOIN reasons_reason rr ON rr.id = h.first_lost_reason_id {RATES}
           WHERE {{scope}} AND ({{period}} OR (d.status = 'open' AND h.last_closed_at >= %(start)s
                 AND h.last_closed_at < %(end)s))
           GROUP BY 1"""
    ],
    "recovery-by-sequence": [
        f"""SELECT s.sequence_id, count(*), count(*) FILTER (WHERE h.reopened),
                  count(*) FILTER (WHERE d.status = 'won'), sum({VALUE}) FILTER (WHERE d.status = 'won')
           FROM deals_deal d JOIN insights_losshistory h ON h.deal_id = d.id
           LEFT JOIN followups_closuresequence s ON s.closure_id = h.first_lost_closure_id {RATES}
           WHERE {{scope}} AND ({{period}} OR (d.status = 'open' AND h.last_closed_at >= %(start)s
                 AND h.last_closed_at < %(end)s))
           GROUP BY 1""",
        "SELECT id, name FROM followups_nurturesequence",
    ],
    # The same figure computed from the closures alone (what LossHistory saves), for reference.
    "recovery-live-sql": [
        f"""WITH cohort AS (
              SELECT d.id, d.status, d.amount, d.currency FROM deals_deal d
              WHERE {{scope}} AND EXISTS (SELECT 1 FROM deals_closure l WHERE l.deal_id = d.id AND l.outcome = 'lost')
                AND ({{period}} OR (d.status = 'open' AND (SELECT max(c.closed_at) FROM deals_closure c
                     WHERE c.deal_id = d.id) >= %(start)s AND (SELECT max(c.closed_at) FROM deals_closure c
                     WHERE c.deal_id = d.id) < %(end)s))),
            first_lost AS (
              SELECT DISTINCT ON (l.deal_id) l.deal_id, coalesce(r.merged_into_id, l.reason_id) reason
              FROM deals_closure l JOIN cohort ON cohort.id = l.deal_id LEFT JOIN reasons_reason r ON r.id = l.reason_id
              WHERE l.outcome = 'lost' ORDER BY l.deal_id, l.closed_at, l.id)
           SELECT f.reason, count(*),
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM deals_closure l WHERE l.deal_id = d.id
                                   AND l.outcome = 'lost' AND l.reopened_at IS NOT NULL)),
                  count(*) FILTER (WHERE d.status = 'won'), sum({VALUE}) FILTER (WHERE d.status = 'won')
           FROM cohort d JOIN first_lost f ON f.deal_id = d.id {RATES} GROUP BY 1"""
    ],
}
SQL["taxonomy-health"] = SQL["loss-by-reason"]

# The same figures, hand-written over the monthly rollup (insights_rollup, as `d`) for whole months.
IN_MONTHS = "d.month = ANY(%(months)s) AND {scope}"
RR = "LEFT JOIN reasons_reason rr ON rr.id = d.reason_id"
SUMS = "sum(d.deals), sum(d.needs_reason), sum(d.amount), sum(d.cycle_seconds)"
SQL_ROLLUP = {
    "headline": [
        f"SELECT d.status, d.currency, {SUMS} FROM insights_rollup d WHERE d.grouping = 1 AND {IN_MONTHS}"
        " GROUP BY 1, 2",
        SQL["headline"][1],
    ],
    "loss-by-reason": [
        f"SELECT coalesce(rr.merged_into_id, d.reason_id), d.currency, sum(d.deals), sum(d.amount)"
        f" FROM insights_rollup d {RR} WHERE d.grouping = 2 AND {IN_MONTHS} GROUP BY 1, 2"
    ],
    "loss-by-category": [
        f"SELECT coalesce(m.category_id, rr.category_id), d.currency, sum(d.deals), sum(d.amount)"
        f" FROM insights_rollup d JOIN reasons_reason rr ON rr.id = d.reason_id"
        f" LEFT JOIN reasons_reason m ON m.id = rr.merged_into_id WHERE d.grouping = 2 AND {IN_MONTHS} GROUP BY 1, 2"
    ],
    "reason-trend": [
        f"SELECT d.month, coalesce(rr.merged_into_id, d.reason_id), sum(d.deals) FROM insights_rollup d {RR}"
        f" WHERE d.grouping = 2 AND d.reason_id IS NOT NULL AND {IN_MONTHS} GROUP BY 1, 2"
    ],
    "losses-by-stage": [
        f"SELECT d.stage_id, d.currency, sum(d.deals), sum(d.amount) FROM insights_rollup d"
        f" WHERE d.grouping = 3 AND {IN_MONTHS} GROUP BY 1, 2"
    ],
    "by-competitor": [
        f"SELECT coalesce(k.merged_into_id, k.id), d.status, d.currency, sum(d.deals), sum(d.amount)"
        f" FROM insights_rollup d JOIN reasons_competitor k ON k.id = d.competitor_id"
        f" WHERE d.grouping = 4 AND {IN_MONTHS} GROUP BY 1, 2, 3"
    ],
    "by-rep": [
        f"SELECT d.owner_id, d.status, d.currency, {SUMS} FROM insights_rollup d WHERE d.grouping = 1"
        f" AND {IN_MONTHS} GROUP BY 1, 2, 3",
        f"SELECT d.owner_id, coalesce(rr.merged_into_id, d.reason_id), sum(d.deals) FROM insights_rollup d {RR}"
        f" WHERE d.grouping = 2 AND d.reason_id IS NOT NULL AND {IN_MONTHS} GROUP BY 1, 2",
    ],
    "by-segment": [
        f"SELECT d.industry, d.status, d.currency, sum(d.deals), sum(d.amount) FROM insights_rollup d"
        f" WHERE d.grouping = 5 AND {IN_MONTHS} GROUP BY 1, 2, 3",
        f"SELECT d.band, d.status, d.currency, sum(d.deals), sum(d.amount) FROM insights_rollup d"
        f" WHERE d.grouping = 8 AND {IN_MONTHS} GROUP BY 1, 2, 3",
    ],
    "recovery-by-reason": [
        f"SELECT coalesce(rr.merged_into_id, d.first_lost_reason_id), d.reopened, d.status, d.currency,"
        f" sum(d.deals), sum(d.amount) FROM insights_rollup d LEFT JOIN reasons_reason rr"
        f" ON rr.id = d.first_lost_reason_id WHERE d.grouping = 6 AND {IN_MONTHS} GROUP BY 1, 2, 3, 4"
    ],
    "recovery-by-sequence": [
        f"SELECT d.sequence_id, d.reopened, d.status, d.currency, sum(d.deals), sum(d.amount)"
        f" FROM insights_rollup d WHERE d.grouping = 9 AND {IN_MONTHS} GROUP BY 1, 2, 3, 4",
        "SELECT id, name FROM followups_nurturesequence",
    ],
}
SQL_ROLLUP["taxonomy-health"] = SQL_ROLLUP["loss-by-reason"]


def _run_sql(name: str, scope: str, params: dict, statements: dict = SQL) -> list:
    from django.db import connection

    period = "d.closed_at >= %(start)s AND d.closed_at < %(end)s"
    out = []
    with connection.cursor() as cursor:
        for statement in statements[name]:
            cursor.execute(statement.replace("{period}", period).replace("{scope}", scope), params)
            out.append(cursor.fetchall())
    return out


def _same(name: str, figure: dict, sql: list) -> bool:
    """Spot checks that the selector and the SQL computed the same figure."""
    if name == "headline":
        row = sql[0][0]
        return (figure["won"], figure["lost"], figure["no_decision"], figure["open_deals"]) == (
            row[0],
            row[1],
            row[2],
            sql[1][0][0],
        ) and figure["lost_value"] == Decimal(row[5] or 0).quantize(Decimal("0.01"))
    if name == "loss-by-reason":
        rows = {r[0]: r[1] for r in sql[0] if r[0] is not None}
        return rows == {r["reason_id"]: r["lost"] for r in figure["rows"]}
    if name == "losses-by-stage":
        return {r[0]: r[1] for r in sql[0]} == {r["stage_id"]: r["lost"] for r in figure["rows"]}
    if name == "by-competitor":
        return {r[0]: (r[1], r[2]) for r in sql[0]} == {
            r["competitor_id"]: (r["won"], r["lost"]) for r in figure["rows"]
        }
    if name == "recovery-by-reason":
        return {r[0]: (r[1], r[2], r[3]) for r in sql[0]} == {
            r["key"]: (r["lost"], r["reopened"], r["won"]) for r in figure["rows"]
        }
    if name == "by-rep":
        return {r[0]: (r[1], r[2], r[3]) for r in sql[0]} == {
            r["owner_id"]: (r["won"], r["lost"], r["no_decision"]) for r in figure["rows"]
        }
    return True


def _bounds(start, end) -> dict:
    from django.utils import timezone

    from insights.selectors import month_starts

    midnight = timezone.datetime.min.time()
    return {
        "start": timezone.make_aware(timezone.datetime.combine(start, midnight)),
        "end": timezone.make_aware(timezone.datetime.combine(end + timedelta(days=1), midnight)),
        "months": month_starts(start, end),
    }


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rebuild", action="store_true", help="build the deals again even if the count matches"
    )
    parser.add_argument("--database", default=BENCH_DB, help=f"the benchmark's database (default {BENCH_DB})")
    parser.add_argument(
        "--pile-up",
        action="store_true",
        help="the old generator (with --rebuild): closes past today clamped onto the build day",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 deals, as the issue asks")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the day the periods end on (default: today), e.g. the first or the last day of a month",
    )
    add_build_arguments(parser)
    args = parser.parse_args()
    deal_count = 1_000_000 if args.full else args.deals

    url = bench_database_url(args.database)
    ensure_database(url)
    setup_django(url)
    _build(deal_count, rebuild=args.rebuild, pile_up=args.pile_up)

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from deals.selectors import managed_team_ids
    from insights.forms import period_dates
    from insights.models import DealFact, Rollup
    from insights.rollup import rollup_compact
    from insights.selectors import FIGURES, Dashboard, DashboardFilters
    from teams.models import User

    rollup_compact()
    today = args.today or timezone.localdate()
    start, end = period_dates("last-12-months", today)
    filters = DashboardFilters(date_from=start, date_to=end)
    bounds = _bounds(start, end)
    print(
        f"period {start} .. {end}; {deal_count:,} deals, {DealFact.objects.count():,} facts,"
        f" {Rollup.objects.count():,} rollup rows; median of {args.repeat} runs\n"
    )
    for username in ("benchmanager3", "benchadmin"):
        user = User.objects.get(username=username)
        if user.is_revops_admin:
            scope = "TRUE"
        else:
            teams = ", ".join(str(pk) for pk in managed_team_ids(user)) or "NULL"
            scope = f"(d.owner_id = {user.pk} OR d.team_id IN ({teams}))"
        print(f"== {username} ({'every deal' if user.is_revops_admin else 'one team'})")
        print(
            f"{'figure':<22}{'selector ms':>12}{'live SQL':>10}{'ratio':>8}{'rollup SQL':>12}{'ratio':>8}  same"
        )
        live_total = rollup_total = 0.0
        for name, selector in FIGURES.items():
            figure = selector(Dashboard(user=user, filters=filters))
            same = _same(name, figure, _run_sql(name, scope, bounds))
            # A fresh Dashboard each time: the rates and reasons are read again, as in a request.
            orm_ms = median_ms(lambda s=selector, u=user: s(Dashboard(user=u, filters=filters)), args.repeat)
            sql_ms = median_ms(lambda n=name, w=scope: _run_sql(n, w, bounds), args.repeat)
            roll_ms = median_ms(lambda n=name, w=scope: _run_sql(n, w, bounds, SQL_ROLLUP), args.repeat)
            if name != "taxonomy-health":  # the page reads loss-by-reason's rows once for both
                live_total, rollup_total = live_total + sql_ms, rollup_total + roll_ms
            print(
                f"{name:<22}{orm_ms:>12.1f}{sql_ms:>10.1f}{orm_ms / sql_ms:>8.2f}{roll_ms:>12.1f}"
                f"{orm_ms / roll_ms:>8.2f}  {'yes' if same else 'NO'}"
            )
        live_ms = median_ms(lambda w=scope: _run_sql("recovery-live-sql", w, bounds), args.repeat)
        print(f"{'(recovery, live SQL)':<22}{'':>12}{live_ms:>10.1f}  from the closures, without LossHistory")
        (client := Client()).force_login(user)
        for period in ("last-12-months", "last-90-days"):
            first, last = period_dates(period, today)
            period_bounds = _bounds(first, last)
            if period != "last-12-months":
                live_total = sum(
                    median_ms(lambda n=n, w=scope, b=period_bounds: _run_sql(n, w, b), args.repeat)
                    for n in FIGURES
                    if n != "taxonomy-health"
                )
            for label, path in (("page", "/insights/"), ("API", "/api/figures/")):
                # The period's own dates: what `period` gives on `today` (insights.forms.period_dates).
                query = {"period": "custom", "date_from": first.isoformat(), "date_to": last.isoformat()}
                assert client.get(path, query).status_code == 200
                ms = median_ms(lambda p=path, c=client, q=query: c.get(p, q), args.repeat)
                against = f"{ms / live_total:>8.2f}"
                if period == "last-12-months":
                    against += f"{rollup_total:>12.1f}{ms / rollup_total:>8.2f}"
                print(
                    f"{label + ', ' + period:<22}{ms:>12.1f}{live_total:>10.1f}{against}  (vs every figure's SQL)"
                )
        print()
    connection.close()


if __name__ == "__main__":
    main()
