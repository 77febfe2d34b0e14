"""A HubSpot-style export with every state imports through the pages alone (upload, columns as the
preset chose them, the review step), and the dashboard's figures for it equal figures computed
here in plain Python over the same file. Bad rows are reported one by one, never a 500."""

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import imports
from crm.models import ImportJob, UnmappedReason
from crm.tests.exports import FULL_COLUMNS, INTERNAL_STAGES, hubspot_full_export
from deals.models import Deal, DealEvent
from insights import rollup
from insights.selectors import (
    Dashboard,
    DashboardFilters,
    figure_by_competitor,
    figure_by_segment,
    figure_headline,
    figure_losses_by_stage,
)

ROWS = 600
LOSS_TEXTS = {"Price too high", "no-budget", "price_too_high"}
NO_DECISION_TEXTS = {"status_quo", "Not a priority now"}
COMPETITOR_NAMES = {
    "Northwind CRM": "Northwind CRM",
    "Globex": "Globex Sales Cloud",
    "Initech Pipeline": "Initech Pipeline",
}


def line(**values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([values.get(column, "") for column in FULL_COLUMNS])
    return out.getvalue()


def bad_and_matching_rows() -> tuple[bytes, dict, dict]:
    """Rows appended to the export: six bad ones (line -> (field, problem start)) and one that
    looks like the existing "Birch renewal" deal."""
    common = {
        "Deal Stage": "Closed Lost",
        "Pipeline": "New business",
        "Amount": "100",
        "Close Date": "2026-08-01",
        "Create Date": "2026-02-01",
        "Deal owner": "alice",
        "Associated Company": "Bad Co",
    }
    first = ROWS + 2
    rows = [
        (line(**common, **{"Record ID": "b1", "Deal Name": "Huge", "Deal Description": "x" * 140_000}),
         ("row", "has a cell longer than 131,072 characters")),
        (line(**common, **{"Record ID": "b2", "Deal Name": "N" * 250}),
         ("name", "is longer than 200 characters")),
        (line(**common, **{"Record ID": "b3", "Deal Name": "Caf@BAD@ deal"}),
         ("name", "holds bytes that are not UTF-8")),
        (line(**{**common, "Close Date": "2026-13-45"}, **{"Record ID": "b4", "Deal Name": "Date"}),
         ("closed", "is not a date")),
        (line(**{**common, "Create Date": "yesterday"}, **{"Record ID": "b5", "Deal Name": "Created"}),
         ("created", "is not a date")),  # a bad amount only warns (test_import_final_state)
        (line(**common, **{"Record ID": "b6", "Deal Name": "Rival", "Competitor": "Acme Nobody"}),
         ("competitor", "matches no competitor")),
    ]  # fmt: skip
    match = line(
        **{**common, "Associated Company": "Birch Health", "Stage at close": "Proposal"},
        **{"Record ID": "m1", "Deal Name": "Birch renewal", "Closed Lost Reason": "no-budget"},
    )
    text = "".join(row for row, _ in rows) + match
    data = text.encode().replace(b"@BAD@", b"\xff")
    errors = {first + n: expected for n, (_row, expected) in enumerate(rows)}
    return data, errors, {"m1": first + len(rows)}


def at(value: str) -> datetime:
    if len(value) == 10:
        return datetime.fromisoformat(value + " 12:00").replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def expected_figures(text: str, bad_lines: set, birch_industry: str) -> dict:
    """The dashboard's figures computed independently, over the file's rows."""
    status, needs, lost_stage, competitors, industries = Counter(), 0, Counter(), Counter(), Counter()
    won_amounts, won_cycles = [], []
    good = [row for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2) if n not in bad_lines]
    account_industry = {"Birch Health": birch_industry}  # an account's first known industry stays
    for row in good:
        if not account_industry.get(row["Associated Company"]):
            account_industry[row["Associated Company"]] = row["Industry"]
    for row in good:
        stage, reason = row["Deal Stage"], row["Closed Lost Reason"]
        competitor = COMPETITOR_NAMES.get(row["Competitor"])
        if stage == "Closed Won":
            outcome = "won"
            won_amounts.append(Decimal(row["Amount"]))
            won_cycles.append((at(row["Close Date"]) - at(row["Create Date"])).total_seconds() / 86400)
        elif stage == "Closed Lost":
            outcome = "no_decision" if reason in NO_DECISION_TEXTS else "lost"
            if outcome == "lost" and not (
                reason in LOSS_TEXTS or (reason == "Competitor was cheaper" and competitor)
            ):
                needs += 1
        else:
            outcome = "open"
        status[outcome] += 1
        at_close = INTERNAL_STAGES.get(row["Stage at close"], row["Stage at close"]) or "Qualification"
        industry = account_industry[row["Associated Company"]]
        if outcome == "lost":
            lost_stage[at_close] += 1
            industries[industry] += 1
        if competitor and outcome in ("won", "lost"):
            competitors[(competitor, outcome)] += 1
    won, lost = status["won"], status["lost"]
    avg_amount = sum(won_amounts) / len(won_amounts)
    avg_cycle = sum(won_cycles) / len(won_cycles)
    return {
        "status": status,
        "needs_reason": needs,
        "win_rate": won / (won + lost),
        "velocity": float(status["open"]) * float(avg_amount) * won / (won + lost) / avg_cycle,
        "lost_by_stage": dict(lost_stage),
        "competitors": dict(competitors),
        "lost_by_industry": dict(industries),
    }


def dashboard_now(world) -> dict:
    board = Dashboard(
        user=world.carol,
        filters=DashboardFilters(
            date_from=datetime(2020, 1, 1).date(), date_to=datetime(2030, 12, 31).date()
        ),
    )
    headline = figure_headline(board)
    return {
        "status": Counter(
            {k: headline[k] for k in ("won", "lost", "no_decision")} | {"open": headline["open_deals"]}
        ),
        "needs_reason": headline["needs_reason"],
        "win_rate": headline["win_rate"],
        "velocity": float(headline["sales_velocity_per_day"]),
        "lost_by_stage": {r["stage"]: r["lost"] for r in figure_losses_by_stage(board)["rows"]},
        "competitors": {
            (r["competitor"], outcome): r[outcome]
            for r in figure_by_competitor(board)["rows"]
            for outcome in ("won", "lost")
            if r[outcome]
        },
        "lost_by_industry": {
            r["segment_key"] or "": r["lost"] for r in figure_by_segment(board)["industry"] if r["lost"]
        },
    }


def admin_maps_reasons(client, world) -> None:
    """The admin maps the CRM's own values on the mappings page (loss, no decision, win)."""
    for text, code in [
        ("price_too_high", "price-too-high"),
        ("status_quo", "status-quo"),
        ("great_relationship", "win-relationship"),
    ]:
        response = client.post(
            reverse("crm:mappings"), {"kind": "", "crm_value": text, "reason": world.reasons[code].pk}
        )
        assert response.status_code == 302, response.content.decode()[-2000:]


@pytest.fixture
def importing_world(world):
    world.pipeline.win_reason_required = False  # "won without a reason" is allowed here
    world.pipeline.save()
    return world


def test_a_hubspot_export_imports_through_the_pages_and_the_dashboard_agrees(client, importing_world):
    world = importing_world
    birch = world.deal(name="Birch renewal")  # here before the CRM was connected: no HubSpot id
    client.force_login(world.carol)
    admin_maps_reasons(client, world)
    extra, bad, matches = bad_and_matching_rows()
    data = hubspot_full_export(ROWS).encode() + extra

    response = client.post(
        reverse("crm:imports"),
        {"kind": "hubspot", "encoding": "utf-8", "file": SimpleUploadedFile("hubspot-deals.csv", data)},
    )
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("crm:import-map", args=[job.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "1 character could not be read as utf-8" in page.content.decode()  # the preview warns
    form = page.context["form"]
    chosen = {name: field.initial for name, field in form.fields.items() if field.initial}
    assert chosen["competitor"] == "Competitor" and chosen["stage_at_close"] == "Stage at close"
    assert chosen["won_reason"] == "Closed Won Reason" and chosen["reopened"] == "Reopened Date"
    assert {"team", "industry", "company_size"} <= set(chosen)
    response = client.post(reverse("crm:import-map", args=[job.pk]), chosen)  # the preset, as is
    assert response["Location"] == reverse("crm:import-review", args=[job.pk])

    review = client.get(response["Location"])
    form = review.context["form"]
    assert {value for value, _rows in form.stage_values} == set(INTERNAL_STAGES)
    assert [(m.external_id, m.deal_id) for m in form.matches] == [("m1", birch.pk)]
    assert "These rows look like existing deals" in review.content.decode()
    answers = {f"stage_{n}": INTERNAL_STAGES[value] for n, (value, _rows) in enumerate(form.stage_values)}
    response = client.post(review.request["PATH_INFO"], {**answers, "link_m1": "on"})
    assert response["Location"] == reverse("crm:import-detail", args=[job.pk])

    imports.import_job_run(job_id=job.pk)  # what the queued worker task does
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.error_count) == ("done", ROWS + len(bad) + 1, len(bad))
    reported = {e.row: (e.field, e.problem) for e in job.row_errors.all()}
    assert set(reported) == set(bad)
    for number, (field, problem) in bad.items():
        assert reported[number][0] == field and reported[number][1].startswith(problem), reported[number]
    page = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert "holds bytes that are not UTF-8" in page

    birch.refresh_from_db()  # linked and closed, not duplicated
    assert (birch.hubspot_id, birch.status, birch.close_reason.code) == ("m1", "lost", "no-budget")
    assert Deal.objects.filter(name="Birch renewal").count() == 1

    expected = expected_figures(data.decode(errors="replace"), set(bad), birch.account.industry)
    actual = dashboard_now(world)
    assert abs(actual.pop("velocity") - expected.pop("velocity")) < 0.01
    assert abs(actual.pop("win_rate") - expected.pop("win_rate")) < 1e-9
    assert actual == expected
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}  # the summary equals a rebuild

    # Reopened rows keep their closure history; a second run of the same file changes nothing.
    reopened = Deal.objects.filter(status="open", closures__reopened_at__isnull=False).distinct().count()
    assert reopened == sum(
        1 for row in csv.DictReader(io.StringIO(data.decode(errors="replace"))) if row["Reopened Date"]
    )
    before = dashboard_now(world)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.QUEUED, processed_rows=0, error_count=0
    )
    job.row_errors.all().delete()
    imports.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.created_count, job.updated_count) == (0, 0)
    assert dashboard_now(world) == before


def test_an_unmapped_text_classified_as_no_decision_makes_its_deals_no_decision(client, importing_world):
    world = importing_world
    client.force_login(world.carol)
    header = ",".join(FULL_COLUMNS) + "\n"
    rows = "".join(
        line(**{
            "Record ID": f"n{n}", "Deal Name": f"Deal {n}", "Deal Stage": "Closed Lost",
            "Pipeline": "New business",
            "Amount": "100", "Close Date": "2026-08-01", "Create Date": "2026-02-01", "Deal owner": "alice",
            "Closed Lost Reason": "Board froze all spend", "Competitor": "Globex" if n == 0 else "",
        })
        for n in range(3)
    )  # fmt: skip
    job = imports.import_job_create(
        kind="hubspot", filename="x.csv", content=header + rows, actor=world.carol
    )
    column_map = {f: cols[0] for f, cols in imports.PRESETS["hubspot"].items() if cols[0] in FULL_COLUMNS}
    imports.import_job_start(job=job, column_map=column_map)
    imports.import_job_run(job_id=job.pk)
    waiting = Deal.objects.filter(needs_reason=True)
    assert waiting.count() == 3
    assert waiting.get(hubspot_id="n0").closures.get().competitor.name == "Globex Sales Cloud"  # kept
    unmapped = UnmappedReason.objects.get(crm_value="board froze all spend")
    page = client.get(reverse("crm:classify", args=[unmapped.pk])).content.decode()
    assert "No decision: Budget frozen" in page
    response = client.post(
        reverse("crm:classify", args=[unmapped.pk]), {"reason": world.reasons["budget-frozen"].pk}
    )
    assert response.status_code == 302
    deals = Deal.objects.filter(hubspot_id__in=["n0", "n1", "n2"])
    assert {(d.status, d.close_reason.code, d.needs_reason) for d in deals} == {
        ("no_decision", "budget-frozen", False)
    }
    standing = deals.get(hubspot_id="n0").closures.get(reopened_at__isnull=True)
    assert standing.competitor.name == "Globex Sales Cloud"
    assert str(standing.closed_at.date()) == "2026-08-01"  # the CRM's close date stays
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


def projection(offset: int) -> dict:
    """Everything the import wrote for each deal of one run, keyed by its row (ids minus `offset`)."""
    from deals.models import DealEvent

    out = {}
    deals = Deal.objects.filter(hubspot_id__startswith="7").select_related(
        "stage", "close_reason", "account", "team"
    )
    for deal in deals:
        row = int(deal.hubspot_id) - 7_000_000 - offset
        if not 0 <= row < 100_000:
            continue
        closures = [
            (c.outcome, c.reason.code if c.reason else None, c.competitor_id, c.stage_at_close.name,
             c.closed_at, c.reopened_at, c.needs_reason, c.note,
             getattr(getattr(c, "nurture", None), "source", None))
            for c in deal.closures.select_related("reason", "stage_at_close").order_by("closed_at")
        ]  # fmt: skip
        events = sorted(
            (e.field, e.from_value, e.to_value, e.actor_kind, e.at, e.closure_id is not None)
            for e in DealEvent.objects.filter(deal=deal)
        )
        lost_text = getattr(getattr(deal, "crm_lost_reason", None), "text", None)
        out[row] = (
            deal.status, deal.stage.name, deal.close_reason.code if deal.close_reason else None,
            deal.needs_reason, deal.closed_at, deal.amount, deal.created_at, deal.expected_close_date,
            deal.team.name,
            deal.account.name, deal.account.industry, deal.account.employees, closures, events, lost_text,
        )  # fmt: skip
    return out


def test_the_set_based_route_writes_what_the_services_write(importing_world, monkeypatch):
    from crm.importing import chunk as run

    world = importing_world
    for text, code in [("price_too_high", "price-too-high"), ("status_quo", "status-quo")]:
        from crm.models import ReasonMapping

        ReasonMapping.objects.create(kind="", crm_value=text, reason=world.reasons[code])
    column_map = {f: cols[0] for f, cols in imports.PRESETS["hubspot"].items() if cols[0] in FULL_COLUMNS}
    results = {}
    for offset, set_based in [(0, False), (50_000, True)]:
        monkeypatch.setattr(run, "SET_BASED", set_based)
        content = hubspot_full_export(300, id_offset=offset)  # the same rows, other ids
        job = imports.import_job_create(kind="hubspot", filename="x.csv", content=content, actor=world.carol)
        imports.import_job_start(job=job, column_map=column_map, stage_map=INTERNAL_STAGES)
        assert imports.import_job_run(job_id=job.pk) == "done"
        results[set_based] = projection(offset)
    assert len(results[True]) == 300
    assert results[True] == results[False]
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


@pytest.mark.parametrize("matches", [2, 20])
def test_the_review_page_runs_a_fixed_number_of_queries(
    client, importing_world, matches, django_assert_num_queries, django_assert_max_num_queries
):
    world = importing_world
    client.force_login(world.carol)
    rows = ""
    for n in range(matches):
        world.deal(name=f"Match {n}")
        rows += line(**{"Record ID": f"r{n}", "Deal Name": f"Match {n}", "Deal Stage": "appointmentscheduled",
                        "Associated Company": "Birch Health", "Deal owner": "alice"})  # fmt: skip
    job = imports.import_job_create(
        kind="hubspot", filename="x.csv", content=",".join(FULL_COLUMNS) + "\n" + rows, actor=world.carol
    )
    chosen = {f: cols[0] for f, cols in imports.PRESETS["hubspot"].items() if cols[0] in FULL_COLUMNS}
    # The columns saved: session and user, the job, the preview (2 slices), our stages, the file
    # read once (2 slices), the unlinked deals with the file's names, the rows matching them read
    # again (2 slices), which of their ids are linked, the scan kept on the job, the stage names.
    # (a file shorter than the preview ends its slices one query sooner or later: at most 14)
    with django_assert_max_num_queries(14):
        saved = client.post(reverse("crm:import-map", args=[job.pk]), chosen)
    assert saved["Location"] == reverse("crm:import-review", args=[job.pk])
    # The review page reads what the scan kept: session and user, the job, our stage names.
    with django_assert_num_queries(4):
        page = client.get(reverse("crm:import-review", args=[job.pk]))
    assert page.content.decode().count('type="checkbox"') == matches
    assert "“appointmentscheduled” (" in page.content.decode()


def test_the_encoding_is_chosen_on_upload_and_previewed(client, importing_world):
    client.force_login(importing_world.carol)
    common = {"Deal Stage": "Demo", "Pipeline": "New business", "Deal owner": "alice"}
    text = ",".join(FULL_COLUMNS) + "\n" + line(**common, **{"Record ID": "e1", "Deal Name": "Café Müller"})
    text += line(**common, **{"Record ID": "e2", "Deal Name": "Plain"})
    data = text.encode("cp1252")
    for encoding, shown, errors in [
        ("windows-1252", "Café Müller", 0),
        ("utf-8", "Caf\ufffd M\ufffdller", 1),
    ]:
        response = client.post(
            reverse("crm:imports"),
            {"kind": "hubspot", "encoding": encoding, "file": SimpleUploadedFile("x.csv", data)},
        )
        page = client.get(response["Location"])
        assert shown in page.content.decode()
        assert ("could not be read as utf-8" in page.content.decode()) == bool(errors)
        chosen = {name: field.initial for name, field in page.context["form"].fields.items() if field.initial}
        response = client.post(response["Location"], chosen)
        job = ImportJob.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
        imports.import_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.error_count) == ("done", errors)
    assert Deal.objects.get(hubspot_id="e1").name == "Café Müller"


def test_a_later_export_reopens_wins_and_classifies_known_deals(importing_world):
    world = importing_world
    column_map = {f: cols[0] for f, cols in imports.PRESETS["hubspot"].items() if cols[0] in FULL_COLUMNS}
    common = {"Pipeline": "New business", "Deal owner": "alice", "Create Date": "2026-01-05", "Amount": "500"}

    def export(*rows) -> None:
        content = ",".join(FULL_COLUMNS) + "\n" + "".join(line(**common, **row) for row in rows)
        job = imports.import_job_create(kind="hubspot", filename="x.csv", content=content, actor=world.carol)
        imports.import_job_start(job=job, column_map=column_map)
        imports.import_job_run(job_id=job.pk)

    lost = {"Deal Stage": "Closed Lost", "Close Date": "2026-06-01", "Stage at close": "Demo"}
    export(
        {"Record ID": "a", "Deal Name": "A", **lost, "Closed Lost Reason": "no-budget"},
        {"Record ID": "b", "Deal Name": "B", **lost, "Closed Lost Reason": "no-budget"},
        {"Record ID": "c", "Deal Name": "C", **lost, "Closed Lost Reason": "Board said no"},
    )
    export(
        {"Record ID": "a", "Deal Name": "A", "Deal Stage": "Closed Won", "Close Date": "2026-09-01",
         "Closed Won Reason": "Best product fit"},
        {"Record ID": "b", "Deal Name": "B", "Deal Stage": "Proposal", "Close Date": "2026-06-01",
         "Reopened Date": "2026-07-01", "Closed Lost Reason": "no-budget"},
        {"Record ID": "c", "Deal Name": "C", **lost, "Closed Lost Reason": "Not a priority now"},
    )  # fmt: skip
    a, b, c = (Deal.objects.get(hubspot_id=x) for x in "abc")
    assert (a.status, a.close_reason.code, a.closures.count()) == ("won", "win-best-fit", 2)
    assert (b.status, b.stage.name, b.closures.get().stage_at_close.name) == ("open", "Proposal", "Demo")
    assert (c.status, c.close_reason.code, c.needs_reason) == ("no_decision", "not-a-priority", False)
    assert str(c.closed_at.date()) == "2026-06-01"
    events = DealEvent.objects.count()
    export(
        {"Record ID": "a", "Deal Name": "A", "Deal Stage": "Closed Won", "Close Date": "2026-09-01",
         "Closed Won Reason": "Best product fit"},
        {"Record ID": "c", "Deal Name": "C", **lost, "Closed Lost Reason": "Not a priority now"},
    )  # fmt: skip
    assert DealEvent.objects.count() == events  # the same export again changes nothing
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


def test_values_with_tabs_backslashes_and_line_breaks_arrive_as_written(importing_world):
    world = importing_world
    name = 'Back\\slash\tTab "quoted"\nsecond line'
    content = ",".join(FULL_COLUMNS) + "\n" + line(**{
        "Record ID": "t1", "Deal Name": name, "Deal Stage": "Closed Lost", "Pipeline": "New business",
        "Deal owner": "alice", "Close Date": "2026-03-01", "Closed Lost Reason": "Odd\\text\twith tab",
        "Associated Company": "Tab\tCo",
    })  # fmt: skip
    job = imports.import_job_create(kind="hubspot", filename="x.csv", content=content, actor=world.carol)
    column_map = {f: cols[0] for f, cols in imports.PRESETS["hubspot"].items() if cols[0] in FULL_COLUMNS}
    imports.import_job_start(job=job, column_map=column_map)
    imports.import_job_run(job_id=job.pk)
    deal = Deal.objects.select_related("account", "crm_lost_reason").get(hubspot_id="t1")
    assert (deal.name, deal.account.name, deal.crm_lost_reason.text) == (
        name,
        "Tab\tCo",
        "Odd\\text\twith tab",
    )
    assert deal.closures.get().note == "CRM reason: Odd\\text\twith tab"
