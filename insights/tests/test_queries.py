"""Each dashboard request runs a fixed number of queries, whatever the number of deals, reasons or reps."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.factories import MembershipFactory, UserFactory
from insights.tests import dataset
from reasons.models import Reason, ReasonCategory
from teams.models import Membership

PERIOD = {"period": "custom", "from": "2024-01-01", "to": "2026-12-31"}
URLS = ["/insights/", "/api/figures/", "/insights/export/loss-by-reason.csv", "/insights/export/deals.csv"]


def count_queries(client, url: str, period=PERIOD) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, period)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_the_data(client, world):
    client.force_login(world.bob)
    empty = {url: count_queries(client, url) for url in URLS}
    dataset.build(world, deals=150, seed=1)
    small = {url: count_queries(client, url) for url in URLS}
    assert small == empty

    dataset.build(world, deals=1500, seed=2, prefix="more-", merge=False)
    for index in range(6):
        rep = UserFactory(username=f"extra-rep-{index}", first_name=f"Extra{index}")
        MembershipFactory(team=world.east, user=rep, role=Membership.Role.REP)
        world.deal(owner="alice", stage=1)
    Reason.objects.create(
        category=ReasonCategory.objects.first(),
        kind="loss",
        code="new-loss-reason",
        label="A new loss reason",
    )
    large = {url: count_queries(client, url) for url in URLS}
    assert large == small
    # The period and its comparison (insights.comparison), and the findings panel (per period one
    # more read of the summary, one of lost value from the facts and one of the buyers' answers;
    # once the names of teams, pipelines, stages and reps).
    assert small["/insights/"] <= 53


# /api/findings/ for one filter set: the period's and the comparison's reads, a read per period by
# team, pipeline and rep, the buyers' answers per period, and the names behind the findings (lost
# value comes with the figures' own reads: no query of its own); pinned for a manager and an admin.
FINDINGS_API_QUERIES = {"bob": 43, "carol": 42}


def test_findings_api_query_count_is_pinned(client, world):
    counts = {}
    for step in range(3):
        if step == 1:
            dataset.build(world, deals=150, seed=1)
        if step == 2:
            dataset.build(world, deals=900, seed=2, prefix="more-", merge=False)
            rep = UserFactory(username="extra-findings-rep", first_name="Extra")
            MembershipFactory(team=world.east, user=rep, role=Membership.Role.REP)
        for name in FINDINGS_API_QUERIES:
            client.force_login(getattr(world, name))
            counts[(name, step)] = count_queries(client, "/api/findings/")
    assert {name: counts[(name, 2)] for name in FINDINGS_API_QUERIES} == FINDINGS_API_QUERIES, counts
    for name, pinned in FINDINGS_API_QUERIES.items():  # the same with no deals, 150 and 1,050
        assert {counts[(name, step)] for step in range(3)} == {pinned}, counts
