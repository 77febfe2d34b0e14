"""The CRM pages in a real browser (strict CSP on): the rep's "needs a reason" queue and the
admin's dead letters and import progress."""

import pytest
from django.utils import timezone

from crm import imports, services
from crm.models import CrmKind, ImportJob, WebhookEvent
from crm.tests.exports import hubspot_export
from deals import services as deal_services
from deals.models import Deal


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rep_gives_the_missing_reason_with_the_keyboard(browser_page, world):
    page = browser_page
    deal = world.deal(owner="alice", name="Juniper Labs: CRM closed")
    deal_services.deal_mark_lost_from_crm(
        deal=deal, crm_reason_text="Lost to a cheaper vendor", closed_at=timezone.now()
    )
    services.crm_lost_reason_record(deal=deal, kind=CrmKind.HUBSPOT, text="Lost to a cheaper vendor")
    page.sign_in("alice")
    page.get_by_role("link", name="Needs a reason").click()
    assert "Lost to a cheaper vendor" in page.locator("table.needs-reason-table").inner_text()
    page.screenshot_to("crm-needs-reason-queue")
    page.get_by_role("link", name="Give reason for Juniper Labs: CRM closed").click()
    page.get_by_label("Reason", exact=True).select_option(label="Competitor was cheaper")
    assert page.locator("#competitor-group").is_visible()  # the close form's script runs under CSP
    page.get_by_label("Lost to").select_option(label="Northwind CRM")
    page.get_by_role("button", name="Save reason").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "now has its reason" in page.locator("[role=status]").first.inner_text()
    assert "No deal is waiting for a reason." in page.content()
    deal = Deal.objects.get(pk=deal.pk)
    assert (deal.close_reason.code, deal.needs_reason) == ("competitor-cheaper", False)
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_sees_dead_letters_and_import_progress(browser_page, world, connections):
    page = browser_page
    WebhookEvent.objects.create(
        kind="hubspot", dedupe_key="hubspot:62515:900", body="[]", status="dead", attempts=5,
        last_error="EventFailed: No deal has HubSpot id 424242.",
    )  # fmt: skip
    world.pipeline.win_reason_required = False
    world.pipeline.save()
    job = imports.import_job_create(
        kind="hubspot",
        filename="hubspot-deals.csv",
        content=hubspot_export(60, bad_rows={}),
        actor=world.carol,
    )
    ImportJob.objects.filter(pk=job.pk).update(
        column_map={field: columns[0] for field, columns in imports.PRESETS["hubspot"].items()},
        status=ImportJob.Status.QUEUED,
    )
    imports.import_job_run(job_id=job.pk)
    page.sign_in("carol")
    page.get_by_role("button", name="Set-up").click()  # the admins' set-up menu
    page.get_by_role("link", name="Integrations").click()
    assert page.locator("#dead-count").inner_text() == "1"
    page.get_by_role("link", name="Inspect and replay").click()
    assert "No deal has HubSpot id 424242" in page.locator("table.event-table").inner_text()
    page.screenshot_to("crm-dead-letters")
    page.get_by_role("link", name="CSV import").click()
    page.get_by_role("link", name="hubspot-deals.csv").click()
    assert "60 of 60 rows" in page.locator("#import-progress").inner_text()
    page.screenshot_to("crm-import-done")
    assert page.console_errors == []
