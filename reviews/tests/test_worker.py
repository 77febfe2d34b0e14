# ruff: noqa: F811 (the worker and SMTP fixtures are imported from followups)
"""The review end to end: a real Celery worker with beat (REVIEWS_EVERY=2 s) against real Redis,
a real SMTP server (aiosmtpd), the e-mail's HTML opened in Chromium. Once per user and period
while beat runs again and again, and after the worker is killed and another takes over."""

import re

import pytest

from followups.tests.conftest import redis_clean, smtp_inbox, wait_for, workers  # noqa: F401
from reviews.models import Review
from reviews.tests.conftest import EAST_WORDS

SUBJECT = "Weekly win/loss review"


def beat_runs(workers) -> int:
    return len(re.findall(r"Task reviews\.create_due\[[^\]]+\] succeeded", workers.logs()))


def reviews_in(inbox) -> list:
    return [m for m in inbox.messages if SUBJECT in " ".join(str(m["Subject"]).split())]


@pytest.mark.browser
def test_beat_sends_each_manager_one_review_a_week_even_when_run_again_or_killed(
    workers,
    smtp_inbox,
    world,
    week,
    browser,
    monkeypatch,
):
    monkeypatch.setenv("REVIEWS_EVERY", "2")
    first = workers.start(beat=True)
    try:
        wait_for(lambda: len(reviews_in(smtp_inbox)) == 2, timeout=120, message="the two managers' reviews")
    except AssertionError:
        print("INBOX", [(m["To"], str(m["Subject"])) for m in smtp_inbox.messages])
        raise
    runs = beat_runs(workers)
    wait_for(lambda: beat_runs(workers) >= runs + 2, timeout=60, message="two more beat runs")
    workers.kill(first)  # no warm shutdown: whatever it held goes back to the broker
    workers.start(beat=True)
    wait_for(lambda: beat_runs(workers) >= runs + 4, timeout=90, message="the new worker's beat runs")

    assert sorted(m["To"] for m in reviews_in(smtp_inbox)) == [
        "bob@closedlost.invalid",
        "grace@closedlost.invalid",
    ]
    assert Review.objects.count() == 2 and not Review.objects.filter(sent_at__isnull=True).exists()

    (west,) = [m for m in reviews_in(smtp_inbox) if m["To"] == "grace@closedlost.invalid"]
    text = west.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = west.get_body(("html",)).get_content()
    for content in (west["Subject"], text, html):
        for word in EAST_WORDS:
            assert word not in content, word
    assert "Team West" in text and "Westside words" in text
    assert "NEEDS A REASON\n1 lost deal still waits" in text
    (east,) = [m for m in reviews_in(smtp_inbox) if m["To"] == "bob@closedlost.invalid"]
    assert "Globex" in east.get_body(("plain",)).get_content()

    page = browser.new_page()
    page.set_content(html)
    shown = page.inner_text("body")
    page.close()
    assert "<" not in shown and "&lt;" not in shown and "&amp;" not in shown
    assert "What buyers said" in shown and "“Westside words”" in shown
    assert re.search(r"Lost\s+17\s+15\s+\+2 \(\+13%\)", shown), shown
