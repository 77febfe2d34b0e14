"""The rep-vs-buyer figures against a computation written here, their drill-downs, their scope,
and the same numbers in the CSV and the API."""

import csv
import io
import random
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals import services as deal_services
from deals.factories import ContactFactory
from surveys.models import Survey, SurveyResponse, SurveySource
from surveys.wording import buyer_reasons

LOSS_REP_REASONS = [
    "price-too-high",
    "no-budget",
    "competitor-cheaper",
    "missing-feature",
    "bad-timing",
    "went-dark",
]
ND_REP_REASONS = ["status-quo", "no-consensus"]
OWNERS = ["alice", "erin", "dave"]


def _answered_deal(world, rng, n: int, *, answer: bool = True):
    owner = rng.choice(OWNERS)
    no_decision = rng.random() < 0.2
    code = rng.choice(ND_REP_REASONS if no_decision else LOSS_REP_REASONS)
    deal = world.deal(owner=owner, name=f"Deal {n:03d} of {owner}", amount=1000 + n)
    contact = ContactFactory(account=world.account, name=f"Buyer {n}", email=f"buyer{n}@example.com")
    deal.contacts.add(contact)
    close = deal_services.deal_mark_no_decision if no_decision else deal_services.deal_mark_lost
    extra = {"competitor": world.competitor} if world.reasons[code].requires_competitor else {}
    closure = close(deal=deal, reason=world.reasons[code], actor=getattr(world, owner), **extra)
    _survey(closure, contact, rng, n, owner, answer=answer)
    # Several buyers of one deal: each has a survey of their own (answered or not).
    if n % 3 == 0:
        second = ContactFactory(account=world.account, name=f"Second {n}", email=f"second{n}@example.com")
        deal.contacts.add(second)
        _survey(closure, second, rng, n, owner, answer=answer and n % 2 == 0)
    return deal


def _survey(closure, contact, rng, n: int, owner: str, *, answer: bool) -> None:
    survey = Survey.objects.create(
        closure=closure,
        deal=closure.deal,
        contact=contact,
        source=SurveySource.REP,
        state="sent",
        sent_at=timezone.now(),
    )
    if answer:
        options = buyer_reasons(closure.reason_kind)
        main = None if rng.random() < 0.2 else rng.choice(options)
        SurveyResponse.objects.create(
            survey=survey,
            main_reason=main,
            main_reason_other="" if main else f"Our own words {n}",
            comment=f"Quote number {n} from {owner}'s buyer" if rng.random() < 0.5 else "",
            process_rating=rng.randint(1, 5),
            may_contact_again=True,
        )


@pytest.fixture
def generated(world, competitor):
    world.competitor = competitor
    rng = random.Random(13)
    deals = [_answered_deal(world, rng, n) for n in range(40)]
    deals += [_answered_deal(world, rng, n, answer=False) for n in range(40, 46)]
    # A reopened close keeps its answer but leaves the figures (the deal is no longer lost on it).
    deal_services.deal_reopen(deal=deals[0], actor=world.carol)
    return deals


def _text(response) -> str:
    return b"".join(response.streaming_content).decode()


def _expected(user_filter, deals_behind=None):
    """Counts of answers (one per contact) by (rep category id, buyer category id or "other"),
    computed from the rows; `deals_behind` collects each cell's distinct deals."""
    cells = Counter()
    for survey in Survey.objects.select_related("closure__reason", "response__main_reason", "deal__owner"):
        response = getattr(survey, "response", None)
        if response is None or survey.closure.reopened_at is not None or not user_filter(survey.deal):
            continue
        buyer = response.main_reason.category_id if response.main_reason else "other"
        cells[(survey.closure.reason.category_id, buyer)] += 1
        if deals_behind is not None:
            deals_behind.setdefault((survey.closure.reason.category_id, buyer), set()).add(survey.deal_id)
    return cells


def _matrix_counts(matrix) -> dict:
    from reasons.models import ReasonCategory

    names = dict(ReasonCategory.objects.values_list("name", "pk"))
    columns = [c["key"] for c in matrix["columns"]]
    return {
        (names[row["rep_category"]], columns[i]): cell["count"]
        for row in matrix["rows"]
        for i, cell in enumerate(row["cells"])
        if cell["count"]
    }


@pytest.mark.parametrize(
    "who, sees",
    [
        ("carol", lambda deal: True),
        ("bob", lambda deal: deal.team.name == "East"),
        ("grace", lambda deal: deal.team.name == "West"),
        ("alice", lambda deal: deal.owner.username == "alice"),
    ],
)
def test_the_matrix_equals_an_independent_count_and_every_cell_drills_down(
    client, world, generated, who, sees
):
    user = getattr(world, who)
    client.force_login(user)
    deals_behind: dict = {}
    expected = _expected(sees, deals_behind)
    assert len(expected) >= 3 if who != "alice" else True
    response = client.get(reverse("surveys:figures"))
    assert response.status_code == 200
    matrix = response.context["f"]["agreement_matrix"]
    assert _matrix_counts(matrix) == dict(expected)
    total = sum(expected.values())
    assert matrix["total"] == total
    agreed = sum(n for (rep, buyer), n in expected.items() if rep == buyer)
    assert matrix["agreement"] == (agreed / total if total else None)
    from reasons.models import ReasonCategory

    category_ids = dict(ReasonCategory.objects.values_list("name", "pk"))
    columns = [c["key"] for c in matrix["columns"]]
    for row in matrix["rows"]:
        for i, cell in enumerate(row["cells"]):
            assert cell["share"] == (cell["count"] / total if total else None)
            if (
                cell["count"] or row["rep_category"] == "Price / Value"
            ):  # every filled cell, and a row of zeros
                drilled = client.get(cell["link"])
                # The deals behind the answers, each listed once (a deal may have several buyers).
                behind = deals_behind.get((category_ids[row["rep_category"]], columns[i]), set())
                assert drilled.context["page"].total == len(behind), (row["rep_category"], cell)


def test_other_teams_see_none_of_it(client, world, generated):
    east = {d.name for d in generated if d.team.name == "East"}
    west = {d.name for d in generated if d.team.name == "West"}
    east_quotes = set(
        SurveyResponse.objects.filter(survey__deal__team__name="East")
        .exclude(comment="")
        .values_list("comment", flat=True)
    )
    assert east and west and east_quotes
    client.force_login(world.grace)
    page = client.get(reverse("surveys:figures")).content.decode()
    page += _text(client.get(reverse("surveys:export", args=["quotes"])))
    page += client.get(reverse("api-survey-figures")).content.decode()
    page += client.get("/api/survey-responses/" + "?page_size=200").content.decode()
    for name in east:
        assert name not in page
    for quote in east_quotes:
        assert quote not in page
    assert any(name in page for name in west)
    # A team filter naming another team is refused, not answered with its figures.
    assert client.get(reverse("api-survey-figures"), {"team": world.east.pk}).status_code == 400
    east_response = SurveyResponse.objects.filter(survey__deal__team__name="East").first()
    assert client.get(f"/api/survey-responses/{east_response.pk}/").status_code == 404


def test_agreement_by_rep_reason_gaps_and_quotes_match_the_rows(client, world, generated):
    client.force_login(world.carol)
    figures = client.get(reverse("surveys:figures")).context["f"]
    standing = [
        s
        for s in Survey.objects.select_related("closure__reason", "response__main_reason", "deal__owner")
        if hasattr(s, "response") and s.closure.reopened_at is None
    ]
    by_rep = Counter(s.deal.owner.first_name for s in standing)
    agreed_by_rep = Counter(
        s.deal.owner.first_name
        for s in standing
        if s.response.main_reason and s.response.main_reason.category_id == s.closure.reason.category_id
    )
    assert {r["rep"]: (r["answers"], r["agreed"]) for r in figures["agreement_by_rep"]} == {
        rep: (n, agreed_by_rep[rep]) for rep, n in by_rep.items()
    }
    by_reason = Counter(s.closure.reason.label for s in standing)
    assert {r["reason"]: r["answers"] for r in figures["agreement_by_reason"]} == dict(by_reason)
    buyer_said = Counter(s.response.main_reason.label for s in standing if s.response.main_reason)
    gaps = {
        label: n - by_reason.get(label, 0) for label, n in buyer_said.items() if n > by_reason.get(label, 0)
    }
    assert {r["reason"]: r["gap"] for r in figures["reason_gaps"]} == gaps
    assert [r["gap"] for r in figures["reason_gaps"]] == sorted(gaps.values(), reverse=True)
    deals_by_rep: dict = {}
    for s in standing:
        deals_by_rep.setdefault(s.deal.owner.first_name, set()).add(s.deal_id)
    for row in figures["agreement_by_rep"]:  # each deal once, however many of its buyers answered
        assert client.get(row["link"]).context["page"].total == len(deals_by_rep[row["rep"]])
    # Quotes filtered by the buyer's reason.
    reason = next(s.response.main_reason for s in standing if s.response.main_reason and s.response.comment)
    quoted = client.get(reverse("surveys:figures"), {"quote_reason": reason.pk}).context["f"]["quotes"]
    assert quoted and {q["buyer_reason"] for q in quoted} == {reason.label}


def test_csv_and_api_carry_the_same_matrix(client, world, generated):
    client.force_login(world.bob)
    page = client.get(reverse("surveys:figures")).context["f"]["agreement_matrix"]
    rows = list(
        csv.reader(io.StringIO(_text(client.get(reverse("surveys:export", args=["agreement-matrix"])))))
    )
    assert rows[0] == ["Rep's category", "Buyer's category", "Answers", "Share"]
    from_csv = {(r[0], r[1]): int(r[2]) for r in rows[1:]}
    from_page = {
        (row["rep_category"], c["buyer_category"]): c["count"] for row in page["rows"] for c in row["cells"]
    }
    assert from_csv == from_page
    api = client.get(reverse("api-survey-figure", args=["agreement-matrix"])).json()["data"]
    assert {
        (row["rep_category"], c["buyer_category"]): c["count"] for row in api["rows"] for c in row["cells"]
    } == (from_page)


def test_a_quote_that_looks_like_a_formula_stays_text_in_the_csv(client, world, generated):
    SurveyResponse.objects.filter(
        pk=SurveyResponse.objects.filter(survey__closure__reopened_at__isnull=True).first().pk
    ).update(comment="=HYPERLINK(1)")
    client.force_login(world.carol)
    body = _text(client.get(reverse("surveys:export", args=["quotes"])))
    assert "'=HYPERLINK(1)" in body


def test_the_pages_and_api_lists_run_a_fixed_number_of_queries(client, world, competitor, api_as):
    world.competitor = competitor
    rng = random.Random(7)
    client.force_login(world.bob)
    urls = [
        reverse("surveys:figures"),
        reverse("surveys:export", args=["quotes"]),
        reverse("api-survey-figures"),
        "/api/survey-responses/",
    ]

    def counts():
        found = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            found.append(len(queries))
        return found

    for n in range(4):
        _answered_deal(world, rng, n)
    few = counts()
    for n in range(4, 24):
        _answered_deal(world, rng, n)
    assert counts() == few
    # session, user, teams, reps, quote reasons, managed teams, then the figures (one selector each)
    assert few == [16, 7, 16, 5]
