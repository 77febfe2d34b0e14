"""Benchmark: the buyer feedback figures (surveys.selectors) on PostgreSQL with many answers.

Builds a database `closedlost_bench_surveys` with N deals (default 100,000; the loss dashboard's
generator, bench_dashboard._build), then surveys 40% of the standing lost / No Decision closes
and answers 60% of those (15% "something else"), all in SQL. Measures in one run, for a team
manager (one of ten teams) and an admin (every deal), over the last 12 months: each figure's
selector, the agreement matrix against a hand-written SQL of the same counts (checked equal),
and the whole page through the Django test client; median ms and ratios.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_surveys.py [--deals N]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import bench_database_url, ensure_database, median_ms, setup_django  # noqa: E402

BENCH_DB = "closedlost_bench_surveys"

MATRIX_SQL = """
SELECT coalesce(rm.category_id, r.category_id), coalesce(bm.category_id, b.category_id), count(*)
FROM surveys_survey s
JOIN surveys_surveyresponse a ON a.survey_id = s.id
JOIN deals_closure c ON c.id = s.closure_id AND c.reopened_at IS NULL
JOIN deals_deal d ON d.id = s.deal_id
JOIN reasons_reason r ON r.id = c.reason_id LEFT JOIN reasons_reason rm ON rm.id = r.merged_into_id
LEFT JOIN reasons_reason b ON b.id = a.main_reason_id LEFT JOIN reasons_reason bm ON bm.id = b.merged_into_id
WHERE c.closed_at >= %(start)s AND c.closed_at < %(end)s AND {scope}
GROUP BY 1, 2
"""


def _build_surveys() -> None:
    from django.db import connection

    from surveys.models import Survey

    if Survey.objects.exists():
        print(f"using the existing {Survey.objects.count():,} surveys")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.13)")
        cursor.execute(
            """CREATE TEMP TABLE picked AS
               SELECT c.id closure_id, c.deal_id, c.reason_kind, c.closed_at, d.account_id, random() r
               FROM deals_closure c JOIN deals_deal d ON d.id = c.deal_id
               WHERE c.reopened_at IS NULL AND c.outcome IN ('lost', 'no_decision') AND c.reason_id IS NOT NULL
                 AND random() < 0.4"""
        )
        cursor.execute(
            """INSERT INTO deals_contact (account_id, name, email, title)
               SELECT account_id, 'Buyer ' || closure_id, 'buyer' || closure_id || '@bench.invalid', '' FROM picked"""
        )
        cursor.execute(
            """INSERT INTO surveys_survey (closure_id, deal_id, contact_id, source, state, created_at, sent_at,
                                           attempts, last_error, cancelled_reason)
               SELECT p.closure_id, p.deal_id, k.id, 'automatic', 'sent', p.closed_at, p.closed_at, 1, '', ''
               FROM picked p JOIN deals_contact k ON k.email = 'buyer' || p.closure_id || '@bench.invalid'"""
        )
        cursor.execute(
            """WITH options AS (SELECT kind, array_agg(id ORDER BY id) ids FROM reasons_reason
                                WHERE NOT requires_note AND kind <> 'win' GROUP BY kind)
               INSERT INTO surveys_surveyresponse (survey_id, main_reason_id, main_reason_other, kept_what_they_had,
                                                   process_rating, comment, may_contact_again, answered_at)
               SELECT s.id,
                      CASE WHEN p.r < 0.09 THEN NULL ELSE o.ids[1 + floor(random() * array_length(o.ids, 1))::int] END,
                      CASE WHEN p.r < 0.09 THEN 'Our own reasons' ELSE '' END, false,
                      1 + floor(random() * 5)::int, CASE WHEN p.r < 0.3 THEN 'A quote' ELSE '' END, true,
                      p.closed_at + interval '8 days'
               FROM surveys_survey s JOIN picked p ON p.closure_id = s.closure_id
               JOIN options o ON o.kind = p.reason_kind
               WHERE p.r < 0.6"""
        )
        cursor.execute("ANALYZE")
    print(f"surveys built in {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    url = bench_database_url(BENCH_DB)
    ensure_database(url)
    setup_django(url)
    from bench.bench_dashboard import _build

    _build(args.deals)
    _build_surveys()

    from datetime import datetime, timedelta
    from datetime import time as dtime

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from deals.selectors import managed_team_ids
    from reasons.models import ReasonCategory
    from surveys.models import Survey, SurveyResponse
    from surveys.selectors import FIGURES, OTHER, FeedbackFilters, agreement_matrix
    from teams.models import User

    today = timezone.localdate()
    filters = FeedbackFilters(date_from=today - timedelta(days=365), date_to=today)
    bounds = {
        "start": timezone.make_aware(datetime.combine(filters.date_from, dtime.min)),
        "end": timezone.make_aware(datetime.combine(filters.date_to + timedelta(days=1), dtime.min)),
    }
    print(
        f"{args.deals:,} deals, {Survey.objects.count():,} surveys, {SurveyResponse.objects.count():,} answers;"
        f" median of {args.repeat} runs\n"
    )
    for username in ("benchmanager3", "benchadmin"):
        user = User.objects.get(username=username)
        teams = ", ".join(str(pk) for pk in managed_team_ids(user)) or "NULL"
        scope = "TRUE" if user.is_revops_admin else f"(d.owner_id = {user.pk} OR d.team_id IN ({teams}))"
        print(f"== {username} ({'every deal' if user.is_revops_admin else 'one team'})")
        for name, selector in FIGURES.items():
            ms = median_ms(lambda s=selector, u=user: s(user=u, filters=filters), args.repeat)
            print(f"{name:<22}{ms:>10.1f} ms")

        def matrix_sql(w=scope):
            with connection.cursor() as cursor:
                cursor.execute(MATRIX_SQL.format(scope=w), bounds)
                return cursor.fetchall()

        figure = agreement_matrix(user=user, filters=filters)
        from_sql = {(rep, buyer if buyer is not None else OTHER): n for rep, buyer, n in matrix_sql()}
        columns = [c["key"] for c in figure["columns"]]
        by_name = dict(ReasonCategory.objects.values_list("name", "pk"))
        from_selector = {
            (by_name[row["rep_category"]], columns[i]): cell["count"]
            for row in figure["rows"]
            for i, cell in enumerate(row["cells"])
            if cell["count"]
        }
        same = from_selector == from_sql
        orm_ms = median_ms(lambda u=user: agreement_matrix(user=u, filters=filters), args.repeat)
        sql_ms = median_ms(matrix_sql, args.repeat)
        print(
            f"matrix: selector {orm_ms:.1f} ms, hand SQL {sql_ms:.1f} ms, ratio {orm_ms / sql_ms:.2f}, same {same}"
        )
        client = Client()
        client.force_login(user)
        page_ms = median_ms(lambda c=client: c.get("/surveys/figures/"), args.repeat)
        api_ms = median_ms(lambda c=client: c.get("/api/survey-figures/"), args.repeat)
        print(f"page {page_ms:.1f} ms, API {api_ms:.1f} ms, page / matrix SQL {page_ms / sql_ms:.1f}\n")


if __name__ == "__main__":
    main()
