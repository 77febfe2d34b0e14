"""Imports keep the final state: a HubSpot export row of a deal won, reopened and lost (or lost,
reopened and won) imports closed with its final reason, stage and dates, its reopen in the deal's
history; a row whose columns disagree imports what they agree on and warns. Through the pages."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import imports
from crm.models import ImportJob
from crm.tests.exports import FULL_COLUMNS, INTERNAL_STAGES, hubspot_full_export
from crm.tests.test_import_exports import admin_maps_reasons, at, dashboard_now, expected_figures
from deals.models import Deal, DealEvent
from insights import rollup

ROWS = 300


@pytest.fixture
def importing_world(world):
    world.pipeline.win_reason_required = False  # as in test_import_exports: wins without a reason
    world.pipeline.save()
    return world


def reclosed_export(rows: int) -> str:
    """HubSpot's export where every closed deal was closed the other way first, then reopened the
    day before its final close (HubSpot keeps the earlier outcome's reason property), and one row
    whose reopen comes after its close (the columns disagree)."""
    records = list(csv.DictReader(io.StringIO(hubspot_full_export(rows))))
    for record in records:
        if record["Deal Stage"] in ("Closed Won", "Closed Lost"):
            close = at(record["Close Date"])
            record["Reopened Date"] = (close - timedelta(days=1)).strftime("%Y-%m-%d")
        if record["Deal Stage"] == "Closed Lost":
            record["Closed Won Reason"] = "great_relationship"  # won first, reopened, then lost
        elif record["Deal Stage"] == "Closed Won":
            record["Closed Lost Reason"] = "price_too_high"  # lost first, reopened, then won
    records.append({**dict.fromkeys(FULL_COLUMNS, ""), **{
        "Record ID": "won-reopened-lost", "Deal Name": "Acme renewal", "Deal Stage": "Closed Lost",
        "Pipeline": "New business", "Amount": "12000.00", "Create Date": "2026-02-03 09:00",
        "Close Date": "2026-06-20", "Reopened Date": "2026-05-02", "Deal owner": "alice",
        "Closed Won Reason": "great_relationship", "Closed Lost Reason": "price_too_high",
        "Stage at close": "Negotiation", "Associated Company": "Acme",
    }})  # fmt: skip
    records.append({**dict.fromkeys(FULL_COLUMNS, ""), **{
        "Record ID": "reopen-after-close", "Deal Name": "Globex pilot", "Deal Stage": "Closed Lost",
        "Pipeline": "New business", "Amount": "3000.00", "Create Date": "2026-02-03 09:00",
        "Close Date": "2026-04-20", "Reopened Date": "2026-05-02", "Deal owner": "alice",
        "Closed Lost Reason": "Price too high", "Stage at close": "Proposal", "Associated Company": "Globex",
    }})  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FULL_COLUMNS)
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def import_through_the_pages(client, text: str) -> ImportJob:
    response = client.post(
        reverse("crm:imports"),
        {"kind": "hubspot", "encoding": "utf-8", "file": SimpleUploadedFile("deals.csv", text.encode())},
    )
    job = ImportJob.objects.latest("pk")
    page = client.get(response["Location"])
    chosen = {name: field.initial for name, field in page.context["form"].fields.items() if field.initial}
    response = client.post(reverse("crm:import-map", args=[job.pk]), chosen)
    if response["Location"] != reverse("crm:import-detail", args=[job.pk]):  # something to review
        review = client.get(response["Location"])
        form = review.context["form"]
        answers = {
            f"stage_{n}": INTERNAL_STAGES.get(value, "") for n, (value, _rows) in enumerate(form.stage_values)
        }
        response = client.post(review.request["PATH_INFO"], answers)
        assert response["Location"] == reverse("crm:import-detail", args=[job.pk])
    imports.import_job_run(job_id=job.pk)  # what the queued worker task does
    job.refresh_from_db()
    return job


def test_a_won_reopened_lost_row_imports_lost_with_its_final_reason_and_the_figures_agree(
    client, importing_world
):
    world = importing_world
    client.force_login(world.carol)
    admin_maps_reasons(client, world)
    text = reclosed_export(ROWS)
    job = import_through_the_pages(client, text)
    assert (job.status, job.error_count) == ("done", 0)
    assert job.created_count == ROWS + 2  # every deal arrives, none is refused

    deal = Deal.objects.get(hubspot_id="won-reopened-lost")
    assert (deal.status, deal.close_reason.code, deal.stage.name) == ("lost", "price-too-high", "Negotiation")
    assert deal.closed_at == at("2026-06-20")
    statuses = deal.events.filter(field="status").order_by("at")
    history = list(statuses.values_list("from_value", "to_value", "at"))
    assert history == [("won", "open", at("2026-05-02")), ("open", "lost", at("2026-06-20"))]

    # The columns that disagree: imported closed as its status and close date say, and a warning.
    other = Deal.objects.get(hubspot_id="reopen-after-close")
    final = (other.status, other.close_reason.code, other.closed_at)
    assert final == ("lost", "price-too-high", at("2026-04-20"))
    [warning] = job.row_errors.all()
    assert (warning.warning, warning.field, warning.value) == (True, "reopened", "2026-05-02")
    page = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert "Warning" in page and "is after the close date of a closed deal" in page
    report = client.get(reverse("crm:import-errors-csv", args=[job.pk]))
    assert report["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Row", "Kind", "Field"] and rows[1][1:3] == ["warning", "reopened"]

    # Every reopened-and-closed-again deal: its final outcome counts, its reopen is in its history.
    rows = csv.DictReader(io.StringIO(text))
    closed_rows = [r for r in rows if r["Deal Stage"] in ("Closed Won", "Closed Lost")]
    reopens = DealEvent.objects.filter(field="status", to_value="open", deal__closed_at__isnull=False)
    assert reopens.count() == len(closed_rows) - 1  # all but the row whose reopen came after its close
    expected = expected_figures(text, set(), world.account.industry)
    actual = dashboard_now(world)
    assert abs(actual.pop("velocity") - expected.pop("velocity")) < 0.01
    assert abs(actual.pop("win_rate") - expected.pop("win_rate")) < 1e-9
    assert actual == expected
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}

    # The same file again changes nothing and writes no second reopen.
    before = dashboard_now(world)
    job2 = import_through_the_pages(client, text)
    assert (job2.created_count, job2.updated_count, job2.error_count) == (0, 0, 0)
    assert dashboard_now(world) == before
    assert reopens.count() == len(closed_rows) - 1


def test_rows_whose_columns_conflict_import_what_they_agree_on_and_warn(client, importing_world):
    """Status against stage, a close before the create date, a stage at close we do not have and
    an amount that is not a number: each deal arrives in its final state, each conflict warns."""
    world = importing_world
    client.force_login(world.carol)
    admin_maps_reasons(client, world)
    common = {"Pipeline": "New business", "Deal owner": "alice", "Closed Lost Reason": "Price too high",
              "Associated Company": "Acme", "Stage at close": "Proposal", "Amount": "5000.00",
              "Create Date": "2026-02-03 09:00", "Close Date": "2026-04-20"}  # fmt: skip
    rows = [
        {"Record ID": "bad-amount", "Deal Name": "Amount", "Deal Stage": "Closed Lost", "Amount": "lots"},
        {
            "Record ID": "close-first",
            "Deal Name": "Dates",
            "Deal Stage": "Closed Lost",
            "Create Date": "2026-05-01 09:00",
        },  # fmt: skip
        {
            "Record ID": "odd-stage",
            "Deal Name": "Stage",
            "Deal Stage": "Closed Lost",
            "Stage at close": "Nowhere",
        },
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FULL_COLUMNS)
    writer.writeheader()
    writer.writerows({**dict.fromkeys(FULL_COLUMNS, ""), **common, **row} for row in rows)
    job = import_through_the_pages(client, out.getvalue())
    assert (job.status, job.created_count, job.error_count) == ("done", 3, 0)  # none refused

    amount = Deal.objects.get(hubspot_id="bad-amount")
    assert (amount.status, amount.close_reason.code, str(amount.amount)) == ("lost", "price-too-high", "0.00")
    dates = Deal.objects.get(hubspot_id="close-first")
    assert (dates.status, dates.created_at, dates.closed_at) == ("lost", at("2026-04-20"), at("2026-04-20"))
    stage = Deal.objects.get(hubspot_id="odd-stage")
    assert (stage.status, stage.closed_at) == ("lost", at("2026-04-20"))

    warned = sorted(job.row_errors.values_list("row", "field", "warning"))
    assert warned == [(2, "amount", True), (3, "created", True), (4, "stage_at_close", True)]
    page = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert "imported without an amount" in page and "imported as created on the close date" in page
    assert "imported closed without its stage at close" in page
    report = client.get(reverse("crm:import-errors-csv", args=[job.pk]))
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))[1:]
    assert [(line[0], line[1], line[2]) for line in lines] == [
        ("2", "warning", "amount"), ("3", "warning", "created"), ("4", "warning", "stage_at_close")
    ]  # fmt: skip
