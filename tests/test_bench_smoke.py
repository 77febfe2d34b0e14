"""The benchmarks' data builders still run and their hand-written SQL still gives the figures the
pages show, at a tiny size (so a broken bench is caught by `make test`, not on the next 1M-deal run;
no timing here). bench_dashboard builds the data of bench_findings and bench_reviews too."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench import bench_dashboard as bench
from bench.bench_findings import _plans
from bench.bench_reviews import MANAGERS, _managers
from deals.models import Deal
from deals.selectors import managed_team_ids
from insights.forms import period_dates
from insights.models import DealFact, Rollup, RollupDay
from insights.rollup import rollup_drift
from insights.selectors import FIGURES, Dashboard, DashboardFilters
from reasons.models import Competitor
from reviews import services as reviews
from teams.models import User

DEALS = 200


@pytest.fixture
def built(reasons, capsys):
    for name in ("Globex", "Initech", "Umbrella", "Hooli", "Acme"):
        Competitor.objects.get_or_create(name=name)
    bench._build(DEALS, migrate=False)
    capsys.readouterr()  # the builder's progress lines


def _scope(user: User) -> str:
    if user.is_revops_admin:
        return "TRUE"
    teams = ", ".join(str(pk) for pk in managed_team_ids(user)) or "NULL"
    return f"(d.owner_id = {user.pk} OR d.team_id IN ({teams}))"


def test_the_dashboard_bench_builds_and_its_sql_gives_the_pages_figures(built, client):
    assert Deal.objects.count() == DEALS
    assert DealFact.objects.exists() and Rollup.objects.exists() and RollupDay.objects.exists()
    assert rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}  # the summary rebuilt whole
    today = timezone.localdate()
    start, end = period_dates("last-12-months", today)
    filters = DashboardFilters(date_from=start, date_to=end)
    bounds = bench._bounds(start, end)
    for username in ("benchmanager3", "benchadmin"):
        user = User.objects.get(username=username)
        scope = _scope(user)
        for name, selector in FIGURES.items():
            figure = selector(Dashboard(user=user, filters=filters))
            assert bench._same(name, figure, bench._run_sql(name, scope, bounds)), (username, name)
            if name in bench.SQL_ROLLUP:
                bench._run_sql(name, scope, bounds, bench.SQL_ROLLUP)  # runs against today's tables
        bench._run_sql("recovery-live-sql", scope, bounds)
        # The page's API gives the SQL's headline too.
        client.force_login(user)
        query = {"period": "custom", "date_from": start.isoformat(), "date_to": end.isoformat()}
        headline = client.get("/api/figures/", query).json()["figures"]["headline"]
        row = bench._run_sql("headline", scope, bounds)[0][0]
        assert (headline["won"], headline["lost"], headline["no_decision"]) == row[:3], username
        # bench_findings reads the plans of the findings API's queries.
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/findings/", query).status_code == 200
        buffers, _scans, _rows = _plans([q["sql"] for q in queries.captured_queries])
        assert buffers > 0, username  # (at 200 deals the planner may well scan deals whole)


def test_the_reviews_bench_adds_its_managers_and_their_reviews_are_due(built):
    _managers()
    managers = User.objects.filter(role=User.Role.MANAGER)
    assert managers.count() == MANAGERS
    due = reviews.reviews_due()
    assert sum(1 for user, *_rest in due if user.role == User.Role.MANAGER) == MANAGERS
