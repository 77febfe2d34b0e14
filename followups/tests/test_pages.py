"""My follow-ups, the team view, the actions and the opt-out page; walked as other teams' users."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.models import FollowUp, FollowUpKind, FollowUpState


def _close(world, sequence, lost_deal, owner="alice", n=0):
    deal = lost_deal(owner=owner, contacts=[(f"Buyer {n}", f"buyer{n}-{owner}@birch.example")])
    return deal_services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["no-budget"],
        actor=getattr(world, owner),
        nurture_sequence=sequence,
        revisit_on=date.today() + timedelta(days=40),
    )


@pytest.fixture
def alice_work(world, sequence, lost_deal):
    """alice: one task overdue, one reminder due today, emails upcoming; dave (West) has his own."""
    closure = _close(world, sequence, lost_deal)
    task = FollowUp.objects.get(closure=closure, kind=FollowUpKind.OWNER_TASK)
    FollowUp.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(days=2))
    reminder = FollowUp.objects.get(closure=closure, kind=FollowUpKind.REOPEN_REMINDER)
    FollowUp.objects.filter(pk=reminder.pk).update(due_at=timezone.now().replace(hour=23, minute=59))
    dave_closure = _close(world, sequence, lost_deal, owner="dave")
    dave_task = FollowUp.objects.get(closure=dave_closure, kind=FollowUpKind.OWNER_TASK)
    FollowUp.objects.filter(pk=dave_task.pk).update(due_at=timezone.now() - timedelta(days=5))
    email = FollowUp.objects.filter(closure=closure, kind=FollowUpKind.CONTACT_EMAIL).first()
    return {"task": task, "reminder": reminder, "email": email, "deal": closure.deal, "dave_task": dave_task}


def test_my_follow_ups_shows_overdue_today_and_upcoming(client, world, alice_work):
    client.force_login(world.alice)
    page = client.get(reverse("followups:mine"))
    assert page.status_code == 200
    html = page.content.decode()
    overdue, rest = html.split('id="today-heading"')
    today, upcoming = rest.split('id="upcoming-heading"')
    deal = alice_work["deal"].name
    assert "Call Buyer at Birch Health" in overdue and deal in overdue
    assert "Reopen reminder" in today and reverse("deals:reopen", args=[alice_work["deal"].pk]) in today
    assert upcoming.count("Nurture email") == 2
    assert "Dave" not in html and str(alice_work["dave_task"].deal) not in html


def test_my_follow_ups_query_count_does_not_grow_with_rows(client, world, sequence, lost_deal, alice_work):
    client.force_login(world.alice)
    url = reverse("followups:mine")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(1, 6):
        closure = _close(world, sequence, lost_deal, n=n)
        FollowUp.objects.filter(closure=closure, kind=FollowUpKind.OWNER_TASK).update(
            due_at=timezone.now() - timedelta(days=1)
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.content.decode().count('class="list-group-item followup-row"') == 4 + 5 * 4
    # session, user, managed teams (scope), rows due by tonight, upcoming rows
    assert len(many) == len(few) == 5


def test_team_view_counts_overdue_per_rep_of_the_managers_teams(
    client, world, sequence, lost_deal, alice_work, django_assert_num_queries
):
    FollowUp.objects.filter(pk=alice_work["email"].pk).update(state=FollowUpState.FAILED, last_error="550 no")
    client.force_login(world.bob)
    # session, user, manager check, managed teams (scope), counts per rep, overdue rows
    with django_assert_num_queries(6):
        page = client.get(reverse("followups:team"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Alice" in html and "Dave" not in html and str(alice_work["dave_task"].deal) not in html
    row = html.split('<th scope="row">Alice')[1].split("</tr>")[0]
    assert [cell.split(">")[-1] for cell in row.split("</td>")[:4]] == ["1", "1", "2", "1"]

    client.force_login(world.grace)
    html = client.get(reverse("followups:team")).content.decode()
    assert "Dave" in html and "Alice" not in html

    client.force_login(world.carol)
    html = client.get(reverse("followups:team")).content.decode()
    assert "Dave" in html and "Alice" in html

    for n in range(3):  # more rows, same queries
        _close(world, sequence, lost_deal, owner="erin", n=n)
    client.force_login(world.bob)
    with django_assert_num_queries(6):
        client.get(reverse("followups:team"))


def test_a_rep_may_not_open_the_team_view(client, world, alice_work):
    client.force_login(world.alice)
    assert client.get(reverse("followups:team")).status_code == 403


def test_done_snooze_and_reschedule(client, world, alice_work):
    client.force_login(world.alice)
    task, reminder, email = alice_work["task"], alice_work["reminder"], alice_work["email"]
    mine = reverse("followups:mine")

    response = client.post(reverse("followups:done", args=[task.pk]), {"next": mine})
    assert response.status_code == 302 and response["Location"] == mine
    task.refresh_from_db()
    assert task.state == FollowUpState.DONE and task.completed_at is not None
    # Done twice: a clear message, nothing changes.
    response = client.post(reverse("followups:done", args=[task.pk]), follow=True)
    assert "This follow-up is done; it cannot be completed." in response.content.decode()

    client.post(reverse("followups:snooze", args=[reminder.pk]), {"days": "7"})
    reminder.refresh_from_db()
    assert reminder.state == FollowUpState.SNOOZED
    assert timedelta(days=6, hours=23) < reminder.due_at - timezone.now() <= timedelta(days=7)
    response = client.post(reverse("followups:snooze", args=[reminder.pk]), {"days": "3"}, follow=True)
    assert "Snooze for 1 day or 1 week." in response.content.decode()

    url = reverse("followups:reschedule", args=[email.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"due_on": (date.today() - timedelta(days=1)).isoformat()})
    assert response.status_code == 400 and "Choose today or a later day." in response.content.decode()
    response = client.post(url, {"due_on": "not a date"})
    assert response.status_code == 400 and "Enter a date." in response.content.decode()
    new_day = date.today() + timedelta(days=12)
    assert client.post(url, {"due_on": new_day.isoformat()}).status_code == 302
    email.refresh_from_db()
    assert (email.state, timezone.localtime(email.due_at).date(), email.due_at.hour) == (
        "pending",
        new_day,
        9,
    )

    # A nurture email is skipped, not done.
    response = client.post(reverse("followups:done", args=[email.pk]), follow=True)
    assert "skip it if it should not go out" in response.content.decode()
    client.post(reverse("followups:skip", args=[email.pk]))
    email.refresh_from_db()
    assert email.state == FollowUpState.CANCELLED and email.cancelled_reason == "skipped by alice"


def test_an_unsafe_next_is_ignored(client, world, alice_work):
    client.force_login(world.alice)
    response = client.post(
        reverse("followups:snooze", args=[alice_work["task"].pk]),
        {"days": "1", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("followups:mine")


def test_a_follow_up_being_sent_cannot_be_snoozed(client, world, alice_work):
    task = alice_work["task"]
    FollowUp.objects.filter(pk=task.pk).update(state=FollowUpState.QUEUED, claimed_at=timezone.now())
    client.force_login(world.alice)
    response = client.post(reverse("followups:snooze", args=[task.pk]), {"days": "1"}, follow=True)
    assert "being sent right now" in response.content.decode()
    assert FollowUp.objects.get(pk=task.pk).state == FollowUpState.QUEUED


@pytest.mark.parametrize("username", ["dave", "grace", "erin"])
def test_every_follow_up_url_is_a_404_for_someone_who_may_not_see_the_deal(
    client, world, alice_work, username
):
    client.force_login(getattr(world, username))
    for followup in (alice_work["task"], alice_work["email"]):
        before = FollowUp.objects.filter(pk=followup.pk).values().get()
        for name in ("done", "skip", "snooze"):
            assert (
                client.post(reverse(f"followups:{name}", args=[followup.pk]), {"days": "1"}).status_code
                == 404
            )
        url = reverse("followups:reschedule", args=[followup.pk])
        assert client.get(url).status_code == 404
        assert client.post(url, {"due_on": date.today().isoformat()}).status_code == 404
        assert FollowUp.objects.filter(pk=followup.pk).values().get() == before
    assert str(alice_work["deal"]) not in client.get(reverse("followups:mine")).content.decode()


def test_a_manager_may_act_on_the_teams_follow_ups(client, world, alice_work):
    client.force_login(world.bob)
    client.post(reverse("followups:snooze", args=[alice_work["task"].pk]), {"days": "1"})
    assert FollowUp.objects.get(pk=alice_work["task"].pk).state == FollowUpState.SNOOZED
    client.force_login(world.grace)
    assert client.post(reverse("followups:done", args=[alice_work["task"].pk])).status_code == 404


def test_pages_need_sign_in_and_actions_need_post(client, world, alice_work):
    for url in (reverse("followups:mine"), reverse("followups:team")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(world.alice)
    assert client.get(reverse("followups:done", args=[alice_work["task"].pk])).status_code == 405


def test_opt_out_page_works_signed_out_and_refuses_a_forged_token(client, world, alice_work):
    address = alice_work["email"].contact.email
    url = reverse("followups:opt-out", args=[services.opt_out_token(address)])
    page = client.get(url)
    assert page.status_code == 200 and address in page.content.decode()
    assert (
        FollowUp.objects.get(pk=alice_work["email"].pk).state == FollowUpState.PENDING
    )  # GET changes nothing
    page = client.post(url)
    assert "You are unsubscribed" in page.content.decode()
    assert FollowUp.objects.get(pk=alice_work["email"].pk).state == FollowUpState.CANCELLED
    forged = reverse("followups:opt-out", args=[services.opt_out_token(address)[:-3] + "abc"])
    assert client.get(forged).status_code == 404
    assert client.post(forged).status_code == 404


def test_the_deal_page_lists_its_follow_ups(client, world, alice_work):
    deal = alice_work["deal"]
    FollowUp.objects.filter(pk=alice_work["email"].pk).update(
        state=FollowUpState.FAILED, last_error="550 refused"
    )
    client.force_login(world.alice)
    html = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    panel = html.split('id="followups-heading"')[1].split("</section>")[0]
    assert panel.count("<tr>") == 1 + 4  # header + task, 2 emails, reminder
    assert "Call Buyer at Birch Health" in panel and "Test nurture" in panel and "550 refused" in panel
    client.force_login(world.dave)
    assert client.get(reverse("deals:detail", args=[deal.pk])).status_code == 404
    open_deal = world.deal()
    client.force_login(world.alice)
    assert (
        'id="followups-heading"'
        not in client.get(reverse("deals:detail", args=[open_deal.pk])).content.decode()
    )
