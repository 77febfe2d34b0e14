"""The win/loss review in one process: who gets one, what it holds (scoped), once per period,
the pages (list with pinned queries, detail, another's review not found) and the preference."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outbox.models import Message
from reviews import services
from reviews.models import Review, ReviewPreference
from reviews.tests.conftest import EAST_WORDS


def deliver_outbox():
    """Run the outbox's review hand-offs here, as the worker would."""
    from outbox.services import message_deliver

    for pk in Message.objects.filter(kind=services.HANDOFF_SEND).values_list("pk", flat=True):
        message_deliver(message_id=pk)


def test_periods_and_comparisons():
    from datetime import date

    assert services.period_ended("weekly", date(2026, 12, 5)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert services.period_ended("weekly", date(2026, 11, 30)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert services.period_ended("monthly", date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    month = services.comparison_of("monthly", date(2026, 3, 1), date(2026, 3, 31))
    assert (month.date_from, month.date_to) == (date(2026, 2, 1), date(2026, 2, 28))
    week = services.comparison_of("weekly", date(2026, 11, 23), date(2026, 11, 29))
    assert (week.date_from, week.date_to) == (date(2026, 11, 16), date(2026, 11, 22))


def test_managers_get_a_weekly_review_once_admins_choose_theirs(world, week, settings):
    settings.SITE_URL = "http://testserver"
    assert services.reviews_create_due() == 2  # bob and grace (managers); carol is off by default
    assert services.reviews_create_due() == 0  # the second run makes nothing
    assert set(Review.objects.values_list("user__username", flat=True)) == {"bob", "grace"}
    services.review_cadence_set(user=world.carol, cadence="monthly")
    assert services.reviews_create_due() == 1
    assert Review.objects.get(user=world.carol).cadence == "monthly"
    with pytest.raises(services.ReviewError) as refused:
        services.review_cadence_set(user=world.alice, cadence="weekly")
    assert refused.value.field == "cadence"

    deliver_outbox()
    deliver_outbox()  # a redelivered hand-off sends nothing more
    assert sorted(m.to[0] for m in mail.outbox if "review" in m.subject) == [
        "bob@closedlost.invalid",
        "carol@closedlost.invalid",
        "grace@closedlost.invalid",
    ]
    assert Review.objects.filter(sent_at__isnull=True).count() == 0


def test_the_review_holds_the_figures_findings_backlog_and_feedback_of_the_scope(world, week, settings):
    settings.SITE_URL = "http://testserver"
    services.reviews_create_due()
    bob = Review.objects.get(user=world.bob).snapshot
    grace = Review.objects.get(user=world.grace).snapshot
    head = {row["key"]: row for row in bob["headline"]}
    # East: 40 lost and 20 won each week (plus the CRM's 3 and the surveyed loss this week).
    assert (head["won"]["value"], head["lost"]["value"], head["won"]["compare"]) == (20, 44, 20)
    assert head["lost"]["compare"] == 40 and head["lost"]["change_text"] == "+4 (+10%)"
    assert any("Globex" in f["text"] for f in bob["findings"])
    assert bob["backlog"]["count"] == 3 and grace["backlog"]["count"] == 1
    assert [q["words"] for q in bob["feedback"]["quotes"]] == ["East-only comment"]
    assert [q["words"] for q in grace["feedback"]["quotes"]] == ["Westside words"]
    assert bob["scope"] == "Team East" and grace["scope"] == "Team West"
    assert {row["key"]: row["value"] for row in grace["headline"]}["lost"] == 17
    assert grace["findings"] == []


def test_a_west_managers_email_holds_nothing_of_east(world, week, settings):
    settings.SITE_URL = "http://testserver"
    services.reviews_create_due()
    deliver_outbox()
    (message,) = [m for m in mail.outbox if m.to == ["grace@closedlost.invalid"] and "review" in m.subject]
    html = message.alternatives[0][0]
    for text in (message.subject, message.body, html):
        for word in EAST_WORDS:
            assert word not in text, word
    assert "Westside words" in message.body and "Westside words" in html
    assert "Team West" in message.body
    (east,) = [m for m in mail.outbox if m.to == ["bob@closedlost.invalid"] and "review" in m.subject]
    assert "Globex" in east.body and "East-only comment" in east.alternatives[0][0]


def test_a_review_made_meanwhile_by_another_run_is_not_made_again(world, week):
    due = services.reviews_due()
    first = services.review_create(user=world.bob, cadence="weekly", start=week.start, end=week.end)
    assert first is not None
    again = services.review_create(user=world.bob, cadence="weekly", start=week.start, end=week.end)
    assert again is None
    assert Review.objects.filter(user=world.bob).count() == 1
    assert Message.objects.filter(kind=services.HANDOFF_SEND).count() == 1
    assert {u.username for u, *_ in due} == {"bob", "grace"}


def test_pages_list_detail_and_anothers_review_is_not_found(client, world, week, settings):
    services.reviews_create_due()
    grace_review = Review.objects.get(user=world.grace)
    client.force_login(world.bob)
    page = client.get("/insights/review/").content.decode()
    assert "Team East" in page and "Team West" not in page
    bob_review = Review.objects.get(user=world.bob)
    detail = client.get(f"/insights/review/{bob_review.pk}/").content.decode()
    assert "Globex" in detail and "East-only comment" in detail
    assert client.get(f"/insights/review/{grace_review.pk}/").status_code == 404
    client.force_login(world.alice)  # a rep has no reviews and may not choose one
    assert client.get(f"/insights/review/{bob_review.pk}/").status_code == 404
    assert client.post("/insights/review/settings/", {"cadence": "weekly"}).status_code == 403
    assert not ReviewPreference.objects.filter(user=world.alice).exists()


def test_the_review_list_runs_a_fixed_number_of_queries(client, world, week):
    client.force_login(world.bob)
    client.get("/insights/review/")  # warm the session
    services.reviews_create_due()
    counts = []
    for reviews in (1, 8):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/insights/review/")
        assert response.status_code == 200
        counts.append(len(queries))
        assert len(re.findall(r'href="/insights/review/\d+/"', response.content.decode())) == reviews
        for back in range(1, 8) if reviews == 1 else ():
            services.reviews_create_due(today=timezone.localdate() - timedelta(weeks=back))
    assert counts == [5, 5]


def test_the_preference_page_changes_the_cadence(client, world):
    client.force_login(world.carol)
    page = client.get("/insights/review/settings/").content.decode()
    assert re.search(r'value="off"[^>]*checked', page)  # an admin's default
    response = client.post("/insights/review/settings/", {"cadence": "monthly"}, follow=True)
    assert "Saved: monthly" in response.content.decode()
    assert services.cadence_of(world.carol) == "monthly"
    bad = client.post("/insights/review/settings/", {"cadence": "daily"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
