"""Exports with separate won-date and lost-date columns (HubSpot's "Closed Won Date" / "Closed Lost
Date"): the row imports with the outcome its stage says and the date that belongs to it; where the
columns disagree it warns, naming the row and the columns, on the result page and in the error
CSV, and never drops the deal. Through the upload pages."""

import csv
import io

from django.urls import reverse

from crm.tests.exports import FULL_COLUMNS
from crm.tests.test_import_exports import admin_maps_reasons, at, dashboard_now
from crm.tests.test_import_final_state import import_through_the_pages
from deals.models import Deal
from insights import rollup

COLUMNS = [*FULL_COLUMNS, "Closed Won Date", "Closed Lost Date"]


def export(*rows: dict) -> str:
    common = {"Pipeline": "New business", "Deal owner": "alice", "Associated Company": "Acme",
              "Amount": "1000.00", "Create Date": "2026-01-05 09:00",
              "Stage at close": "Proposal"}  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({**dict.fromkeys(COLUMNS, ""), **common, **row} for row in rows)
    return out.getvalue()


def test_won_and_lost_date_columns_give_the_stage_s_outcome_its_own_date_and_warn(client, world):
    world.pipeline.win_reason_required = False
    world.pipeline.save()
    client.force_login(world.carol)
    admin_maps_reasons(client, world)
    lost = {"Deal Stage": "Closed Lost", "Closed Lost Reason": "price_too_high"}
    won = {"Deal Stage": "Closed Won", "Closed Won Reason": "great_relationship"}
    job = import_through_the_pages(client, export(
        {"Record ID": "both", "Deal Name": "Both dates", **lost, "Closed Won Date": "2026-03-01",
         "Closed Lost Date": "2026-05-10"},
        {"Record ID": "lost-date-only", "Deal Name": "Only a lost date", **won,
         "Closed Lost Date": "2026-04-02"},
        {"Record ID": "dates-differ", "Deal Name": "Close and won differ", **won, "Close Date": "2026-06-01",
         "Closed Won Date": "2026-06-03"},
        {"Record ID": "open", "Deal Name": "Open with a won date", "Deal Stage": "Demo",
         "Closed Won Date": "2026-02-02"},
        {"Record ID": "agree", "Deal Name": "Columns agree", **lost, "Close Date": "2026-04-20",
         "Closed Lost Date": "2026-04-20"},
    ))  # fmt: skip
    assert (job.status, job.created_count, job.error_count) == ("done", 5, 0)  # none dropped

    final = {d.hubspot_id: (d.status, d.closed_at) for d in Deal.objects.filter(hubspot_id__isnull=False)}
    assert final == {
        "both": ("lost", at("2026-05-10")),
        "lost-date-only": ("won", at("2026-04-02")),
        "dates-differ": ("won", at("2026-06-03")),
        "open": ("open", None),
        "agree": ("lost", at("2026-04-20")),
    }
    assert Deal.objects.get(hubspot_id="both").close_reason.code == "price-too-high"

    warnings = sorted(job.row_errors.values_list("row", "field", "warning", "problem"))
    assert [w[:3] for w in warnings] == [
        (2, "won_date", True), (3, "lost_date", True), (4, "closed", True), (5, "won_date", True)
    ]  # fmt: skip
    problems = [w[3] for w in warnings]
    assert (
        problems[0]
        == "“Closed Won Date” says won on 2026-03-01 but “Deal Stage” says lost: imported lost on 2026-05-10"
    )
    assert problems[1].endswith("imported won on 2026-04-02, the only close date the row gives")
    assert problems[2] == "is 2026-06-01 but “Closed Won Date” says 2026-06-03: imported won on 2026-06-03"
    assert problems[3] == "says the deal closed on 2026-02-02 but “Deal Stage” says open: imported open"

    page = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    for problem in problems:
        assert problem in page
    report = client.get(reverse("crm:import-errors-csv", args=[job.pk]))
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))[1:]
    assert [(line[0], line[1], line[2], line[3]) for line in lines] == [
        (str(row), "warning", field, problem) for row, field, _w, problem in warnings
    ]

    figures = dashboard_now(world)
    assert (figures["status"]["won"], figures["status"]["lost"], figures["status"]["open"]) == (2, 2, 1)
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}
