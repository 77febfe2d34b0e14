"""A rep closes a deal with a nurture sequence, then works the follow-ups in a real browser."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.models import ClosureSequence, FollowUp, FollowUpKind, FollowUpState


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rep_chooses_a_sequence_and_works_the_follow_ups(browser_page, world, sequence, lost_deal):
    page = browser_page
    deal = lost_deal()
    earlier = deal_services.deal_mark_lost(
        deal=lost_deal(contacts=[("Sam Ridge", "sam@ridge.example")]),
        reason=world.reasons["bad-timing"],
        actor=world.alice,
        nurture_sequence=sequence,
        revisit_on=timezone.localdate(),
    )
    FollowUp.objects.filter(closure=earlier, kind=FollowUpKind.OWNER_TASK).update(
        due_at=timezone.now() - timedelta(days=3)
    )
    dave_deal = lost_deal(owner="dave", contacts=[])
    deal_services.deal_mark_lost(
        deal=dave_deal, reason=world.reasons["no-budget"], actor=world.dave, nurture_sequence=sequence
    )
    FollowUp.objects.filter(deal=dave_deal).update(due_at=timezone.now() - timedelta(days=8))

    page.sign_in("alice")
    page.goto(f"/deals/{deal.pk}/mark-lost/")
    page.get_by_label("Reason", exact=True).select_option(label="No budget")
    page.get_by_label("Nurture sequence").select_option(label="Test nurture")
    page.screenshot_to("followups-close-form")
    page.get_by_role("button", name="Mark lost").click()
    page.wait_for_url(f"**/deals/{deal.pk}/")
    assert page.locator(".deal-followups tbody tr").count() == 4  # task, 2 emails, reopen reminder
    page.screenshot_to("followups-deal-page")
    closure = deal.closures.get()
    assert ClosureSequence.objects.get(closure=closure).sequence == sequence

    page.get_by_role("link", name="Follow-ups", exact=True).click()
    page.wait_for_url("**/follow-ups/")
    overdue = page.locator(".followups-overdue")
    assert overdue.get_by_text("Call Sam at Birch Health").is_visible()
    assert page.locator(".followups-today").get_by_text("Reopen it").is_visible()
    # earlier's two emails; the new close's task, two emails and its reminder (revisit pre-filled)
    assert page.locator(".followups-upcoming .followup-row").count() == 2 + 4
    assert page.get_by_text(dave_deal.name).count() == 0
    page.screenshot_to("followups-mine")

    # Keyboard only: focus the overdue task's "Snooze 1 week" button and press Enter.
    overdue.get_by_role("button", name=re.compile(rf"Snooze 1 week\W+{earlier.deal.name}$")).focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "Snoozed for a week" in page.locator("[role=status]").first.inner_text()
    task = FollowUp.objects.get(closure=earlier, kind=FollowUpKind.OWNER_TASK)
    assert task.state == FollowUpState.SNOOZED
    assert page.locator(".followups-overdue").count() == 0
    assert page.console_errors == []

    # Reschedule the first upcoming nurture email to a day of the rep's choosing.
    email = (
        FollowUp.objects.filter(closure=earlier, kind=FollowUpKind.CONTACT_EMAIL).order_by("due_at").first()
    )
    page.goto(f"/follow-ups/{email.pk}/reschedule/")
    new_day = timezone.localdate() + timedelta(days=20)
    page.get_by_label("New date").fill(new_day.isoformat())
    page.screenshot_to("followups-reschedule")
    page.get_by_role("button", name="Reschedule").click()
    page.wait_for_url("**/follow-ups/")
    email.refresh_from_db()
    assert timezone.localtime(email.due_at).date() == new_day

    # The contact's unsubscribe page, signed out.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"/follow-ups/opt-out/{services.opt_out_token('sam@ridge.example')}/")
    page.screenshot_to("followups-opt-out")
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.get_by_role("status").inner_text().startswith("We will send no more follow-up emails")
    assert FollowUp.objects.get(pk=email.pk).state == FollowUpState.CANCELLED
    assert page.console_errors == []

    page.sign_in("bob")
    page.goto("/follow-ups/team/")
    assert "Alice" in page.locator(".team-followups").inner_text()
    assert "Dave" not in page.content()
    page.screenshot_to("followups-team-bob")
    page.get_by_role("button", name="Sign out").click()
    page.sign_in("grace")
    page.goto("/follow-ups/team/")
    assert page.locator(".team-overdue").get_by_text(dave_deal.name).count() >= 1
    page.screenshot_to("followups-team-grace")
    assert page.console_errors == []
