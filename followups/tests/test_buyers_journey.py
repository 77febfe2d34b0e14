"""Buyers entering without a CRM reach the nurture e-mails, through a real Celery worker and a
real SMTP server:
- a team's own integration creates a deal with two buyers through the API and closes it lost: both
  get their e-mails; another team's rep cannot read or change them; a bad address is a 400;
- in a browser, an admin makes a pipeline with stages on the pipeline pages, a rep adds a buyer on a
  deal's page and marks it lost, and the buyer receives the nurture e-mail.
"""

from datetime import timedelta

import pytest

from deals.models import Closure, Contact, Deal
from deals.tests.test_pipeline_pages_browser import admin_makes_pipeline
from followups import services
from followups.models import FollowUp, FollowUpKind
from followups.tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_integration_creates_a_deal_with_two_buyers_and_closes_it_lost(
    world, api_as, sequence, workers, smtp_inbox
):
    workers.start()
    api = api_as(world.alice)
    payload = {
        "external_id": "erp-opp-501",
        "name": "Alder Foods: Warehouse analytics",
        "account": {"external_id": "erp-acct-88", "name": "Alder Foods", "domain": "alder.example"},
        "stage": "Proposal",
        "amount": "64000",
        "contacts": [
            {"external_id": "erp-p-1", "name": "Maya Alder", "email": "maya@alder.example",
             "is_primary": True, "role": "Decision maker"},
            {"external_id": "erp-p-2", "name": "Tom Reed", "email": "tom@alder.example", "role": "IT"},
        ],
    }  # fmt: skip
    bad = {**payload, "contacts": [{"external_id": "erp-p-3", "name": "Typo", "email": "tom@alder"}]}
    answer = api.post("/api/deals/", bad, format="json")
    assert answer.status_code == 400 and "email" in answer.json()["contacts"]["0"]
    answer = api.post("/api/deals/", payload, format="json")
    assert answer.status_code == 201, answer.json()
    deal_id = answer.json()["id"]
    lost = {"reason": "price-too-high", "nurture_sequence": sequence.pk}
    assert api.post(f"/api/deals/{deal_id}/mark-lost/", lost, format="json").status_code == 201

    dave = api_as(world.dave)
    for contact in Contact.objects.filter(external_id__in=["erp-p-1", "erp-p-2"]):
        assert dave.get(f"/api/contacts/{contact.pk}/").status_code == 404
        assert (
            dave.patch(
                f"/api/contacts/{contact.pk}/", {"email": "dave@west.example"}, format="json"
            ).status_code
            == 404
        )
    assert (
        dave.post("/api/contacts/", {"external_id": "erp-p-1", "name": "Dave's"}, format="json").status_code
        == 404
    )

    closure = Closure.objects.get(deal_id=deal_id)
    assert services.followups_dispatch(now=closure.closed_at + timedelta(days=3)) == 1 + 2  # task, 2 e-mails
    wait_for(lambda: smtp_inbox.count() == 3, message="the owner's task and both buyers' e-mails")
    for address, first_name in [("maya@alder.example", "Maya"), ("tom@alder.example", "Tom")]:
        [mail] = smtp_inbox.to(address)
        assert mail["Subject"] == "What changed at Alder Foods?"
        assert f"Hi {first_name}," in mail.get_body(("plain",)).get_content()
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "maya@alder.example",
        "tom@alder.example",
    ]


@pytest.mark.browser
def test_admin_makes_a_pipeline_a_rep_adds_a_buyer_marks_lost_and_the_buyer_is_mailed(
    browser_page, world, api_as, sequence, workers, smtp_inbox
):
    workers.start()
    page = browser_page
    page.sign_in("carol")
    stages = [("Discovery call", 10, False), ("Pilot", 40, False), ("Contract", 80, False)]
    assert admin_makes_pipeline(page, name="Partnerships", stages=stages) == []
    page.get_by_role("button", name="Sign out").click()

    # The rep's deal in the new pipeline comes from their own integration.
    payload = {"external_id": "p-100", "name": "Cobalt Labs: Partner pilot", "pipeline": "Partnerships",
               "stage": "Pilot", "account": {"external_id": "cobalt", "name": "Cobalt Labs"}}  # fmt: skip
    assert api_as(world.alice).post("/api/deals/", payload, format="json").status_code == 201
    deal = Deal.objects.get(external_id="p-100")
    assert deal.pipeline.name == "Partnerships" and deal.stage.name == "Pilot"

    page.sign_in("alice")
    page.get_by_role("link", name="Cobalt Labs: Partner pilot").click()
    page.get_by_text("Add a contact").click()
    page.get_by_label("Name").fill("Rosa Blanc")
    page.get_by_label("E-mail").fill("rosa@cobalt")  # a typo first: the field says what is wrong
    page.get_by_role("button", name="Add contact").click()
    assert "Enter a valid email address." in page.locator("#contacts").inner_text()
    page.get_by_label("E-mail").fill("rosa@cobalt.example")
    page.get_by_label("Primary contact").check()
    page.get_by_role("button", name="Add contact").click()
    page.wait_for_url(f"**/deals/{deal.pk}/#contacts")
    buyers = page.locator("#contacts").inner_text()
    assert "Rosa Blanc" in buyers and "Receives nurture e-mails" in buyers
    page.screenshot_to("deal-buyers")

    page.get_by_role("link", name="Mark lost").click()
    page.get_by_label("Reason", exact=True).select_option(label="No budget")
    page.get_by_label("Nurture sequence").select_option(label="Test nurture")
    page.get_by_role("button", name="Mark lost").click()
    page.wait_for_url(f"**/deals/{deal.pk}/")
    assert page.console_errors == []

    closure = Closure.objects.get(deal=deal)
    assert closure.stage_at_close.name == "Pilot"
    email = (
        FollowUp.objects.filter(closure=closure, kind=FollowUpKind.CONTACT_EMAIL).order_by("due_at").first()
    )
    assert services.followups_dispatch(now=email.due_at + timedelta(minutes=1)) == 2  # the task and Rosa's
    wait_for(lambda: smtp_inbox.to("rosa@cobalt.example"), message="Rosa's nurture e-mail")
    [mail] = smtp_inbox.to("rosa@cobalt.example")
    assert mail["Subject"] == "What changed at Cobalt Labs?"
    assert "Hi Rosa," in mail.get_body(("plain",)).get_content()
