"""The JSON API for deals and closures: the same scoping and the same close rules as the pages.

Every request sends a real API token (fixture `api_as`), so token auth is what is tested.
"""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from deals import services
from deals.factories import PipelineFactory, StageFactory
from deals.models import Closure, Deal, DealEvent, DealStatus
from tests.dates import days_ahead

LOST_URL = "/api/deals/{}/mark-lost/"


def _deal_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _api_routes():
    """(url, methods, view class) of every DRF view under /api/, with 1 for each path argument."""
    api = next(
        p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "api/"
    )

    def walk(patterns, prefix):
        for pattern in patterns:
            text = str(pattern.pattern).lstrip("^").rstrip("$")
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + text)
                continue
            view_class = getattr(pattern.callback, "cls", None)
            if view_class is None or "format" in pattern.pattern.regex.groupindex:
                continue
            url = prefix + re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>", "1", text).replace("\\.", ".")
            actions = getattr(pattern.callback, "actions", None)
            if actions:
                methods = set(actions)
            else:
                methods = {m for m in view_class.http_method_names if hasattr(view_class, m)} - {"options"}
            yield "/api/" + url, methods, view_class

    return list(walk(api.url_patterns, ""))


# --- who may call what -------------------------------------------------------------------


def test_every_api_endpoint_refuses_anonymous_users(world):
    deal = world.deal()
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    walked = 0
    for url, methods, view_class in _api_routes():
        permissions = getattr(view_class, "permission_classes", [])
        if AllowAny in permissions or view_class.__name__.startswith("SpectacularSwagger"):
            # Token exchange (username + password), signed webhooks; the HTML docs page redirects.
            continue
        for method in methods:
            response = getattr(APIClient(), method)(url.replace("/1/", f"/{deal.pk}/"), format="json")
            assert response.status_code == 401, (method, url, response.status_code)
            assert response["WWW-Authenticate"] == "Token"
            assert str(deal.pk) not in response.content.decode().replace(url, "")
            walked += 1
    assert walked >= 17  # deals, closures, reasons, categories, competitors, schema, token rotate, ...
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST


def test_every_deal_and_closure_endpoint_refuses_another_teams_objects(world, api_as, competitor):
    """dave (West rep) and grace (West manager) walk every route that takes an East deal or closure."""
    deal = world.deal(owner="alice")
    closure = services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    open_deal = world.deal(owner="alice")
    bodies = {"post": {"reason": "price-too-high", "competitor": competitor.name, "note": "three words here"}}
    routes = [
        (url, methods)
        for url, methods, view_class in _api_routes()
        if url.startswith(("/api/deals/1/", "/api/closures/1/"))
    ]
    assert len(routes) == 7  # detail, mark-lost, -won, -no-decision, give-reason, reopen, closure detail
    for intruder in (world.dave, world.grace):
        client = api_as(intruder)
        for url, methods in routes:
            for target in (deal, open_deal):
                object_id = closure.pk if url.startswith("/api/closures/") else target.pk
                for method in methods:
                    response = getattr(client, method)(
                        url.replace("/1/", f"/{object_id}/"), bodies.get(method), format="json"
                    )
                    assert response.status_code == 404, (intruder, method, url, response.content)
                    assert "Birch" not in response.content.decode()
        assert _deal_ids(client.get("/api/deals/")) == []
        assert client.get("/api/closures/").json()["results"] == []
        assert client.get(f"/api/closures/?deal={deal.pk}").json()["results"] == []
    assert Deal.objects.get(pk=open_deal.pk).status == DealStatus.OPEN
    assert Closure.objects.count() == 1
    assert not DealEvent.objects.filter(deal=open_deal).exists()


def test_list_is_scoped_like_the_pages(world, api_as):
    alices, erins, daves = world.deal(owner="alice"), world.deal(owner="erin"), world.deal(owner="dave")
    seen = {
        user.username: set(_deal_ids(api_as(user).get("/api/deals/")))
        for user in (world.alice, world.erin, world.bob, world.dave, world.grace, world.carol)
    }
    assert seen == {
        "alice": {alices.pk},
        "erin": {erins.pk},
        "bob": {alices.pk, erins.pk},
        "dave": {daves.pk},
        "grace": {daves.pk},
        "carol": {alices.pk, erins.pk, daves.pk},
    }
    # A rep cannot open a teammate's deal either; the manager can.
    assert api_as(world.alice).get(f"/api/deals/{erins.pk}/").status_code == 404
    assert api_as(world.bob).get(f"/api/deals/{erins.pk}/").status_code == 200


# --- the deal list: filters and cursor pagination ---------------------------------------


def test_list_filters_are_the_pages_filters(world, api_as, reasons):
    other_pipeline = PipelineFactory(name="Renewals")
    other_stage = StageFactory(pipeline=other_pipeline, name="Renewal due", order=1)
    early = world.deal(owner="alice", name="Acme renewal", stage=1)
    late = world.deal(owner="erin", name="Globex expansion", stage=2)
    renewal = world.deal(owner="alice", name="Initech", stage=0)
    renewal.pipeline, renewal.stage = other_pipeline, other_stage
    renewal.save()
    services.deal_mark_lost(
        deal=early,
        reason=reasons["no-budget"],
        actor=world.alice,
        closed_at=timezone.now() - timedelta(days=40),
    )
    services.deal_mark_won(deal=late, reason=reasons["win-best-fit"], actor=world.erin)
    bob = api_as(world.bob)
    today = timezone.now().date()

    def ids(query: str) -> set[int]:
        return set(_deal_ids(bob.get(f"/api/deals/?{query}")))

    assert ids("status=lost") == {early.pk}
    assert ids("status=open") == {renewal.pk}
    assert ids(f"stage={world.stages[2].pk}") == {late.pk}
    assert ids(f"owner={world.erin.pk}") == {late.pk}
    assert ids(f"pipeline={other_pipeline.pk}") == {renewal.pk}
    assert ids(f"closed_from={today - timedelta(days=7)}") == {late.pk}
    assert ids(f"closed_to={today - timedelta(days=7)}") == {early.pk}
    assert ids(f"closed_from={today - timedelta(days=60)}&closed_to={today}") == {early.pk, late.pk}
    assert ids("q=acme") == {early.pk}
    assert ids("q=birch") == {early.pk, late.pk, renewal.pk}  # the account's name
    assert ids("q=acme&status=won") == set()
    assert ids(f"team={world.east.pk}") == {early.pk, late.pk, renewal.pk}
    assert ids(f"team={world.west.pk}") == set()
    assert ids("needs_reason=true") == set()
    crm_lost = world.deal(owner="alice")
    services.deal_mark_lost_from_crm(deal=crm_lost, crm_reason_text="went dark")
    assert ids("needs_reason=true") == {crm_lost.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=gone", "status"),
        ("stage=abc", "stage"),
        ("owner=0", "owner"),
        ("pipeline=-3", "pipeline"),
        ("closed_from=yesterday", "closed_from"),
        ("closed_from=2026-05-02&closed_to=2026-05-01", "closed_to"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(world, api_as, query, field):
    response = api_as(world.alice).get(f"/api/deals/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_cursor_pagination_walks_every_deal_once_newest_first(world, api_as):
    now = timezone.now()
    # Five share one created_at: the cursor must still neither skip nor repeat them.
    deals = [world.deal(created_at=now - timedelta(hours=i // 5 if i < 5 else i)) for i in range(23)]
    expected = [d.pk for d in sorted(deals, key=lambda d: (d.created_at, d.pk), reverse=True)]
    client = api_as(world.alice)
    seen, url, pages = [], "/api/deals/?page_size=10", 0
    while url:
        body = client.get(url).json()
        assert "count" not in body  # a cursor, not an offset: no COUNT(*) per page
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    assert seen == expected
    assert pages == 3
    back = client.get(client.get("/api/deals/?page_size=10").json()["next"]).json()["previous"]
    assert _deal_ids(client.get(back)) == expected[:10]
    assert client.get("/api/deals/?cursor=not-a-cursor").status_code == 404


def test_list_endpoints_query_counts_do_not_grow_with_rows(
    world, api_as, reasons, competitor, django_assert_num_queries
):
    client = api_as(world.bob)
    assert client.get("/api/reasons/").status_code == 200  # the token's first use is recorded (once a minute)

    def add_deals(count: int):
        for i in range(count):
            deal = world.deal(owner="alice" if i % 2 else "erin")
            if i % 3 == 0:
                services.deal_mark_lost(
                    deal=deal,
                    reason=reasons["competitor-cheaper"],
                    actor=world.alice,
                    competitor=competitor,
                    secondary_reasons=[reasons["no-budget"]],
                )

    counts = {}
    for total in (5, 50):
        add_deals(total - Deal.objects.count())
        for url in ("/api/deals/?page_size=100", "/api/closures/?page_size=100", "/api/deals/?status=lost"):
            # token, managed teams, deals (or closures + their secondary reasons)
            expected = 4 if url.startswith("/api/closures/") else 3
            with django_assert_num_queries(expected):
                response = client.get(url)
            counts[(total, url)] = len(response.json()["results"])
    assert counts[(50, "/api/deals/?page_size=100")] == 50
    assert counts[(50, "/api/closures/?page_size=100")] == 17
    deal = Deal.objects.filter(status=DealStatus.LOST).first()
    # token, managed teams, deal, contacts, closures, their secondary reasons
    with django_assert_num_queries(6):
        assert client.get(f"/api/deals/{deal.pk}/").status_code == 200


# --- closing and reopening through the services ----------------------------------------------


def test_mark_lost_by_code_with_everything_recorded(world, api_as, competitor, reasons):
    deal = world.deal(stage=3)
    revisit = (timezone.now() + timedelta(days=90)).date()
    response = api_as(world.alice).post(
        LOST_URL.format(deal.pk),
        {
            "reason": "competitor-cheaper",
            "competitor": "northwind crm",
            "note": "They chose the cheaper plan",
            "secondary_reasons": ["missing-feature", reasons["no-budget"].pk],
            "revisit_on": revisit.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "lost"
    assert body["reason"]["code"] == "competitor-cheaper"
    assert body["competitor"] == {"id": competitor.pk, "name": "Northwind CRM"}
    assert body["actor"]["username"] == "alice"
    assert body["standing"] is True
    closure = Closure.objects.get(deal=deal)
    assert closure.reason == reasons["competitor-cheaper"]
    assert closure.competitor == competitor
    assert closure.revisit_on == revisit
    assert closure.stage_at_close == world.stages[3]
    assert set(closure.secondary_reasons.all()) == {reasons["missing-feature"], reasons["no-budget"]}
    deal.refresh_from_db()
    assert (deal.status, deal.close_reason) == (DealStatus.LOST, reasons["competitor-cheaper"])
    event = DealEvent.objects.get(deal=deal)
    assert (event.to_value, event.actor) == ("lost", world.alice)
    detail = api_as(world.alice).get(f"/api/deals/{deal.pk}/").json()
    assert detail["status"] == "lost"
    assert [c["id"] for c in detail["closures"]] == [closure.pk]


def test_mark_lost_by_reason_id(world, api_as, reasons):
    deal = world.deal()
    response = api_as(world.bob).post(
        LOST_URL.format(deal.pk), {"reason": reasons["no-budget"].pk}, format="json"
    )
    assert response.status_code == 201
    assert Closure.objects.get(deal=deal).actor == world.bob  # the manager closed the rep's deal


def test_mark_lost_chooses_or_skips_the_nurture_sequence(world, api_as, reasons):
    from followups.models import ClosureSequence, NurtureSequence

    chosen = NurtureSequence.objects.create(name="Quarterly check-in")
    picked, skipped = world.deal(), world.deal()
    client = api_as(world.alice)
    body = {"reason": "bad-timing", "nurture_sequence": chosen.pk}
    assert client.post(LOST_URL.format(picked.pk), body, format="json").status_code == 201
    body = {"reason": "bad-timing", "skip_nurture": True}
    assert client.post(LOST_URL.format(skipped.pk), body, format="json").status_code == 201
    picked_row = ClosureSequence.objects.get(closure__deal=picked)
    assert (picked_row.sequence, picked_row.source) == (chosen, "rep")
    skipped_row = ClosureSequence.objects.get(closure__deal=skipped)
    assert (skipped_row.sequence, skipped_row.source) == (None, "skipped")
    refused = client.post(
        LOST_URL.format(world.deal().pk), {"reason": "bad-timing", "nurture_sequence": 987654}, format="json"
    )
    assert refused.status_code == 400 and "nurture_sequence" in refused.json()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "reason", "every close needs a standard reason"),
        ({"reason": None}, "reason", "every close needs a standard reason"),
        ({"reason": "win-best-fit"}, "reason", "is a win reason; choose a loss reason"),
        ({"reason": "no-such-code"}, "reason", "No reason has the id or code “no-such-code”"),
        ({"reason": 987654321}, "reason", "No reason has the id or code"),
        ({"reason": True}, "reason", "Give a reason id"),
        ({"reason": ["price-too-high"]}, "reason", "Give a reason id"),
        ({"reason": "competitor-cheaper"}, "competitor", "needs the competitor"),
        ({"reason": "competitor-cheaper", "competitor": "Nobody Inc"}, "competitor", "No competitor has"),
        ({"reason": "other-loss", "note": "too short"}, "note", "needs a note of at least 3 words"),
        ({"reason": "no-budget", "secondary_reasons": ["no-budget"]}, "secondary_reasons", "cannot also be"),
        ({"reason": "no-budget", "secondary_reasons": "no-budget"}, "secondary_reasons", "list"),
        (
            {"reason": "no-budget", "secondary_reasons": ["win-best-fit"]},
            "secondary_reasons",
            "not an active",
        ),
        ({"reason": "no-budget", "revisit_on": "next spring"}, "revisit_on", "Date has wrong format"),
        ({"reason": "no-budget", "note": "x" * 5001}, "note", "no more than 5000"),
    ],
)
def test_a_refused_close_is_a_400_naming_the_field_and_saves_nothing(world, api_as, body, field, words):
    deal = world.deal()
    response = api_as(world.alice).post(LOST_URL.format(deal.pk), body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == [field]
    assert words in str(errors[field])
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert not Closure.objects.filter(deal=deal).exists()
    assert not DealEvent.objects.filter(deal=deal).exists()


def test_retired_reason_is_refused_by_the_service(world, api_as, reasons):
    retired = reasons["price-too-high"]
    retired.active = False
    retired.save(update_fields=["active"])
    deal = world.deal()
    response = api_as(world.alice).post(LOST_URL.format(deal.pk), {"reason": "price-too-high"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"reason": ["“Price too high” has been retired; choose an active reason."]}


def test_closing_a_closed_deal_is_a_409_saying_who_closed_it(world, api_as, reasons):
    deal = world.deal()
    services.deal_mark_won(deal=deal, reason=reasons["win-best-fit"], actor=world.erin)
    response = api_as(world.bob).post(LOST_URL.format(deal.pk), {"reason": "no-budget"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"].startswith("This deal was already closed (won) by Erin at ")
    assert Closure.objects.filter(deal=deal).count() == 1


def test_mark_won_and_no_decision(world, api_as, reasons):
    won, undecided = world.deal(), world.deal()
    client = api_as(world.alice)
    response = client.post(f"/api/deals/{won.pk}/mark-won/", {"reason": "win-best-fit"}, format="json")
    assert response.status_code == 201 and response.json()["outcome"] == "won"
    wrong = client.post(
        f"/api/deals/{undecided.pk}/mark-no-decision/", {"reason": "no-budget"}, format="json"
    )
    assert wrong.status_code == 400 and "choose a no decision reason" in wrong.json()["reason"][0]
    response = client.post(
        f"/api/deals/{undecided.pk}/mark-no-decision/",
        {"reason": "status-quo", "revisit_on": days_ahead(90)},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["revisit_on"] == days_ahead(90)
    assert Deal.objects.get(pk=undecided.pk).status == DealStatus.NO_DECISION


def test_give_the_reason_a_crm_close_lacked(world, api_as, reasons, competitor):
    deal = world.deal(owner="alice")
    services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="Went with the other guys")
    client = api_as(world.alice)
    listed = client.get("/api/deals/?needs_reason=true").json()["results"]
    assert [(row["id"], row["needs_reason"], row["close_reason"]) for row in listed] == [
        (deal.pk, True, None)
    ]
    url = f"/api/deals/{deal.pk}/give-reason/"
    refused = client.post(url, {"reason": "competitor-cheaper"}, format="json")
    assert refused.status_code == 400 and list(refused.json()) == ["competitor"]
    response = client.post(url, {"reason": "competitor-cheaper", "competitor": competitor.pk}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["reason"]["code"], response.json()["needs_reason"]) == (
        "competitor-cheaper",
        False,
    )
    deal.refresh_from_db()
    assert (deal.close_reason, deal.needs_reason) == (reasons["competitor-cheaper"], False)
    assert "Went with the other guys" in Closure.objects.get(deal=deal).note
    again = client.post(url, {"reason": "no-budget"}, format="json")
    assert again.status_code == 400 and again.json() == {"reason": ["This deal is not waiting for a reason."]}
    assert client.get("/api/deals/?needs_reason=true").json()["results"] == []


def test_reopen_through_the_api(world, api_as, reasons):
    deal = world.deal(stage=3)
    closure = services.deal_mark_lost(deal=deal, reason=reasons["no-budget"], actor=world.alice)
    client = api_as(world.alice)
    elsewhere = StageFactory(pipeline=PipelineFactory(name="Renewals"), name="Renewal due", order=1)
    refused = client.post(f"/api/deals/{deal.pk}/reopen/", {"stage": elsewhere.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"stage": ["Stage “Renewal due” is not in this deal's pipeline."]}
    missing = client.post(f"/api/deals/{deal.pk}/reopen/", {"stage": 987654321}, format="json")
    assert missing.status_code == 400 and list(missing.json()) == ["stage"]

    response = client.post(f"/api/deals/{deal.pk}/reopen/", {"stage": world.stages[1].pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["stage"]["id"]) == ("open", world.stages[1].pk)
    assert body["closures"][0]["id"] == closure.pk and body["closures"][0]["standing"] is False
    closure.refresh_from_db()
    assert closure.reopened_by == world.alice
    again = client.post(f"/api/deals/{deal.pk}/reopen/", {}, format="json")
    assert again.status_code == 409 and again.json() == {"detail": "This deal is already open."}
    # Lost, reopened and won: both closures stay, and the closures list can tell them apart.
    client.post(f"/api/deals/{deal.pk}/mark-won/", {"reason": "win-best-fit"}, format="json")
    outcomes = [
        (c["outcome"], c["standing"]) for c in client.get(f"/api/closures/?deal={deal.pk}").json()["results"]
    ]
    assert outcomes == [("won", True), ("lost", False)]
    assert len(client.get("/api/closures/?standing=false").json()["results"]) == 1
    assert len(client.get("/api/closures/?outcome=won").json()["results"]) == 1


def test_amounts_are_exact_decimals(world, api_as):
    deal = world.deal(amount=Decimal("12345.67"))
    body = api_as(world.alice).get(f"/api/deals/{deal.pk}/").json()
    assert body["amount"] == "12345.67"
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert date.fromisoformat(body["created_at"][:10])


@pytest.mark.django_db(transaction=True)
def test_two_closes_at_once_over_http_make_one_closure(live_server, world, reasons):
    """alice and bob mark the same deal lost at the same moment against a real server."""
    import threading

    import requests

    from teams.services import api_token_issue

    deal = world.deal()
    barrier = threading.Barrier(2)
    answers = {}

    tokens = {
        user.username: api_token_issue(user=user, created_via="command").key
        for user in (world.alice, world.bob)
    }

    def close(username, reason_code):  # no ORM here: a thread's own connection would outlive the test
        barrier.wait()
        answers[username] = requests.post(
            f"{live_server.url}{LOST_URL.format(deal.pk)}",
            json={"reason": reason_code},
            headers={"Authorization": f"Token {tokens[username]}"},
            timeout=30,
        )

    threads = [
        threading.Thread(target=close, args=("alice", "no-budget")),
        threading.Thread(target=close, args=("bob", "price-too-high")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(response.status_code for response in answers.values())
    assert codes == [201, 409]
    loser = next(response for response in answers.values() if response.status_code == 409)
    assert loser.json()["detail"].startswith("This deal was already closed (lost) by ")
    assert Closure.objects.filter(deal=deal).count() == 1
    assert DealEvent.objects.filter(deal=deal).count() == 1
