"""A won row whose win reason does not map (or is empty where the pipeline asks for one) imports
closed won and waits in "needs a reason" like a lost one: the CRM decides the outcome, the import
never refuses it nor leaves it open. Through the upload pages."""

import csv
import io

from django.urls import reverse

from crm.models import UnmappedReason
from crm.tests.exports import FULL_COLUMNS
from crm.tests.test_import_exports import admin_maps_reasons, at, dashboard_now
from crm.tests.test_import_final_state import import_through_the_pages
from deals.models import Deal
from insights import rollup


def export(*rows: dict) -> str:
    common = {"Pipeline": "New business", "Deal owner": "alice", "Associated Company": "Acme",
              "Amount": "1000.00", "Create Date": "2026-02-03 09:00"}  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FULL_COLUMNS)
    writer.writeheader()
    writer.writerows({**dict.fromkeys(FULL_COLUMNS, ""), **common, **row} for row in rows)
    return out.getvalue()


def test_a_win_without_a_reason_that_maps_imports_won_and_waits_for_its_reason(client, world):
    world.pipeline.win_reason_required = True  # the pipeline asks for a win reason
    world.pipeline.save()
    client.force_login(world.carol)
    admin_maps_reasons(client, world)
    won = {"Deal Stage": "Closed Won", "Close Date": "2026-04-20", "Stage at close": "Proposal"}
    first = import_through_the_pages(client, export(
        {"Record ID": "w-unmapped", "Deal Name": "Gut win", **won, "Closed Won Reason": "Gut feeling"},
        {"Record ID": "w-empty", "Deal Name": "Silent win", **won},
        {"Record ID": "w-mapped", "Deal Name": "Known win", **won, "Closed Won Reason": "great_relationship"},
        {"Record ID": "l-mapped", "Deal Name": "Known loss", "Deal Stage": "Closed Lost",
         "Close Date": "2026-04-21", "Stage at close": "Demo", "Closed Lost Reason": "price_too_high"},
        {"Record ID": "w-later", "Deal Name": "Later win", "Deal Stage": "Demo", "Close Date": "2026-09-01"},
    ))  # fmt: skip
    assert (first.status, first.created_count, first.error_count) == ("done", 5, 0)
    # A later export: the open deal was won since, its reason one we do not know (the services' route).
    later = import_through_the_pages(client, export(
        {"Record ID": "w-later", "Deal Name": "Later win", **won, "Closed Won Reason": "Gut feeling"},
    ))  # fmt: skip
    assert (later.status, later.updated_count, later.error_count) == ("done", 1, 0)

    waiting = ["Gut win", "Silent win", "Later win"]
    for name in waiting:
        deal = Deal.objects.get(name=name)
        assert (deal.status, deal.needs_reason, deal.close_reason) == ("won", True, None), name
        assert deal.closed_at == at("2026-04-20")
        closure = deal.closures.get()
        assert (closure.outcome, closure.needs_reason, closure.stage_at_close.name) == (
            "won",
            True,
            "Proposal",
        )
    assert Deal.objects.get(name="Gut win").crm_lost_reason.text == "Gut feeling"
    known = Deal.objects.get(name="Known win")
    assert (known.status, known.needs_reason, known.close_reason.code) == ("won", False, "win-relationship")
    queued = UnmappedReason.objects.get(kind="hubspot", crm_value="gut feeling")
    assert (queued.outcome, queued.occurrences) == ("won", 2)  # in the win-reason classification queue

    # The deal list's "needs a reason" filter shows them (and not the deals that have a reason).
    page = client.get(reverse("deals:list"), {"reason": "none"}).content.decode()
    assert all(name in page for name in waiting)
    assert "Known win" not in page and "Known loss" not in page

    # The figures count them as wins: 4 won, 1 lost.
    figures = dashboard_now(world)
    assert (figures["status"]["won"], figures["status"]["lost"]) == (4, 1)
    assert figures["win_rate"] == 4 / 5
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
