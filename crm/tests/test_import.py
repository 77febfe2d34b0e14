"""CSV import of CRM exports: upsert by the CRM's id, per-row errors, progress, idempotent."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm import imports
from crm.models import CrmLostReason, ImportJob, UnmappedReason
from crm.tests.exports import BAD_ROWS, HUBSPOT_COLUMNS, hubspot_export
from deals.models import Closure, Deal, DealEvent, DealStatus, Stage

# A bad amount is a warning (the deal imports without it); the other bad rows are refused.
REFUSED = {line: bad for line, bad in BAD_ROWS.items() if bad[2] != "amount"}

HUBSPOT_MAP = {
    "external_id": "Record ID",
    "name": "Deal Name",
    "stage": "Deal Stage",
    "pipeline": "Pipeline",
    "amount": "Amount",
    "closed": "Close Date",
    "created": "Create Date",
    "owner": "Deal owner",
    "reason": "Closed Lost Reason",
    "account": "Associated Company",
}


def run(world, content: str, kind: str = "hubspot", column_map=None) -> ImportJob:
    job = imports.import_job_create(
        kind=kind, filename="deals-export.csv", content=content, actor=world.carol
    )
    ImportJob.objects.filter(pk=job.pk).update(
        column_map=column_map or HUBSPOT_MAP, status=ImportJob.Status.QUEUED
    )
    assert imports.import_job_run(job_id=job.pk) == "done"
    return ImportJob.objects.get(pk=job.pk)


@pytest.fixture
def importing_world(world):
    world.pipeline.win_reason_required = False  # exports carry no win reasons
    world.pipeline.save()
    return world


def snapshot():
    return (
        list(
            Deal.objects.order_by("pk").values_list(
                "pk", "name", "amount", "status", "stage_id", "close_reason_id", "needs_reason", "closed_at"
            )
        ),
        Closure.objects.count(),
        DealEvent.objects.count(),
        list(UnmappedReason.objects.order_by("pk").values_list("crm_value", "occurrences")),
    )


def test_ten_thousand_rows_with_bad_ones_then_a_second_run_changes_nothing(importing_world):
    world = importing_world
    content = hubspot_export(10_000)
    job = run(world, content)  # timing lives in bench/bench_import.py, not here
    good = 10_000 - len(REFUSED)
    assert (job.status, job.processed_rows, job.total_rows) == ("done", 10_000, 10_000)
    assert (job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (
        good,
        0,
        0,
        len(REFUSED),
    )
    reported = {(e.row, e.field, e.problem) for e in job.row_errors.all()}
    assert reported == {(line, field, problem) for line, (_c, _v, field, problem) in BAD_ROWS.items()}
    assert Deal.objects.filter(hubspot_id__isnull=False).count() == good

    lost = Deal.objects.filter(status=DealStatus.LOST)
    assert lost.filter(needs_reason=False, close_reason__code="price-too-high").exists()  # by label
    assert lost.filter(close_reason__code="no-budget").exists()  # by code
    waiting = lost.filter(needs_reason=True)
    assert (
        waiting.exists()
        and waiting.count()
        == CrmLostReason.objects.count() + waiting.filter(crm_lost_reason__isnull=True).count()
    )
    queued = {u.example for u in UnmappedReason.objects.all()}
    assert queued == {"Went dark on us", "Chose to build in-house"}
    one = Deal.objects.select_related("owner").get(hubspot_id="9000000")
    assert one.owner.username in {"alice", "erin", "dave"}

    before = snapshot()
    again = run(world, content)
    assert (again.created_count, again.updated_count, again.unchanged_count, again.error_count) == (
        0,
        0,
        good,
        len(REFUSED),
    )
    assert snapshot() == before


def test_a_changed_row_updates_the_deal(importing_world):
    world = importing_world
    header = ",".join(HUBSPOT_COLUMNS) + "\n"
    run(world, header + "42,Birch renewal,Demo,New business,1000,,2026-01-02,alice,,Birch\n")
    deal = Deal.objects.get(hubspot_id="42")
    assert (deal.status, deal.stage.name, deal.amount) == ("open", "Demo", 1000)
    job = run(world, header + "42,Birch renewal,Proposal,New business,1500,,2026-01-02,alice,,Birch\n")
    assert job.updated_count == 1
    deal.refresh_from_db()
    assert (deal.stage.name, deal.amount) == ("Proposal", 1500)
    job = run(
        world,
        header
        + "42,Birch renewal,Closed Lost,New business,1500,2026-10-01,2026-01-02,alice,"
        + "Went dark on us,Birch\n",
    )
    deal.refresh_from_db()
    assert (deal.status, deal.needs_reason, deal.stage.name) == (
        "lost",
        True,
        "Proposal",
    )  # keeps the stage lost at
    assert str(deal.closed_at.date()) == "2026-10-01"
    fields = {e.field for e in DealEvent.objects.filter(deal=deal)}
    assert fields == {"stage", "amount", "status"}


def test_pipedrive_and_salesforce_presets(importing_world):
    world = importing_world
    pipedrive = (
        "Deal - ID,Deal - Title,Deal - Organization,Deal - Value,Deal - Currency,Deal - Status,Deal - Stage,"
        "Deal - Pipeline,Deal - Owner,Deal - Lost reason,Deal - Deal created,Deal - Lost time\n"
        "4711,Birch Health,Birch,48000,EUR,Lost,Proposal,New business,Erin,Price too high,"
        "2026-09-02 09:12:44,2026-11-20 15:04:05\n"
        "4712,Aspen,Aspen Co,1000,usd,Open,Demo,New business,dave,,2026-09-03 10:00:00,\n"
    )
    column_map = {field: columns[0] for field, columns in imports.PRESETS["pipedrive"].items()}
    job = run(world, pipedrive, kind="pipedrive", column_map=column_map)
    assert job.created_count == 2, list(job.row_errors.values_list("row", "field", "problem"))
    birch = Deal.objects.get(pipedrive_id="4711")
    assert (birch.status, birch.close_reason.code, birch.currency, birch.owner.username) == (
        "lost",
        "price-too-high",
        "EUR",
        "erin",
    )
    salesforce = (
        "Opportunity ID,Opportunity Name,Account Name,Stage,Amount,Close Date,Created Date,"
        "Opportunity Owner,Loss Reason\n"
        "0065e00000GhIjKAAV,Birch Renewal,Birch,Closed Lost,36000,11/19/2026,9/1/2026,alice,No budget\n"
    )
    column_map = {field: columns[0] for field, columns in imports.PRESETS["salesforce"].items()}
    job = run(world, salesforce, kind="salesforce", column_map=column_map)
    assert job.created_count == 1, list(job.row_errors.values_list("row", "field", "problem"))
    assert Deal.objects.get(salesforce_id="0065e00000GhIjKAAV").close_reason.code == "no-budget"


def test_upload_mapping_and_progress_pages(client, importing_world, django_capture_on_commit_callbacks):
    world = importing_world
    client.force_login(world.alice)
    assert client.get(reverse("crm:imports")).status_code == 403
    client.force_login(world.carol)
    bad = client.post(
        reverse("crm:imports"), {"kind": "hubspot", "file": SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad")}
    )
    assert bad.status_code == 400 and "not UTF-8" in bad.content.decode()
    upload = SimpleUploadedFile("hubspot-deals.csv", hubspot_export(40, bad_rows={5: BAD_ROWS[17]}).encode())
    response = client.post(reverse("crm:imports"), {"kind": "hubspot", "file": upload})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("crm:import-map", args=[job.pk])
    page = client.get(response["Location"]).content.decode()
    assert '<option value="Record ID" selected>' in page  # the HubSpot preset chose the columns
    form = {field: column for field, column in HUBSPOT_MAP.items()}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("crm:import-map", args=[job.pk]), form)
    assert response["Location"] == reverse("crm:import-detail", args=[job.pk])
    assert len(callbacks) == 1  # the Celery task is queued on commit
    assert "Queued" in client.get(response["Location"]).content.decode()
    imports.import_job_run(job_id=job.pk)  # what the queued task does
    page = client.get(response["Location"]).content.decode()
    assert "Done" in page and "40 of 40 rows" in page and 'id="count-errors">1<' in page
    assert "hubspot-deals.csv" in page and "external_id" in page and "is empty" in page
    fragment = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert (
        fragment.startswith('<div id="import-progress"') and "hx-get" not in fragment
    )  # done: stops polling


def test_required_columns_are_asked_for(client, importing_world):
    client.force_login(importing_world.carol)
    upload = SimpleUploadedFile("odd.csv", b"Foo,Bar\n1,2\n")
    response = client.post(reverse("crm:imports"), {"kind": "hubspot", "file": upload})
    response = client.post(response["Location"], {})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"external_id", "name", "owner", "stage"}


@pytest.mark.django_db(transaction=True)
def test_import_runs_in_a_real_worker(client, importing_world, crm_worker):
    from crm.tests.conftest import wait_for

    client.force_login(importing_world.carol)
    upload = SimpleUploadedFile("hubspot-deals.csv", hubspot_export(300, bad_rows={}).encode())
    response = client.post(reverse("crm:imports"), {"kind": "hubspot", "file": upload})
    client.post(response["Location"], HUBSPOT_MAP)
    job = ImportJob.objects.get()
    wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status="done").exists(), message="the import")
    job.refresh_from_db()
    assert (job.created_count, job.error_count) == (300, 0)


def test_a_row_failing_after_writes_is_undone_alone(world):
    """A later export moves an open deal to a stage retired since: its new name and amount are
    written before the stage move is refused, so the row is reported and leaves nothing behind;
    the rows around it (same chunk) are imported."""
    header = ",".join(HUBSPOT_COLUMNS) + "\n"
    run(world, header + "1,First,Demo,New business,100,,2026-01-02,alice,,Fresh Co\n")
    Stage.objects.filter(pipeline=world.pipeline, name="Proposal").update(removed_at=timezone.now())
    content = header + (
        "2,Second,Demo,New business,200,,2026-01-02,alice,,Fresh Co 2\n"
        "1,First renamed,Proposal,New business,150,,2026-01-02,alice,,Fresh Co\n"
        "3,Third,Closed Lost,New business,300,2026-10-02,2026-01-02,alice,no-budget,Fresh Co 3\n"
    )
    job = run(world, content)
    assert (job.created_count, job.error_count) == (2, 1)
    [error] = job.row_errors.all()
    assert (error.row, error.field) == (3, "stage")
    assert "retired" in error.problem
    first = Deal.objects.get(hubspot_id="1")
    assert (first.name, first.amount, first.stage.name) == ("First", 100, "Demo")
    assert set(Deal.objects.values_list("hubspot_id", flat=True)) == {"1", "2", "3"}
    assert Deal.objects.get(hubspot_id="3").close_reason.code == "no-budget"
    again = run(world, content)
    assert (again.created_count, again.unchanged_count, again.error_count) == (0, 2, 1)
