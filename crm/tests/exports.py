"""Realistic CRM deal exports for tests and the benchmark: a HubSpot CSV with a few bad rows."""

import csv
import io
import random

HUBSPOT_COLUMNS = [
    "Record ID",
    "Deal Name",
    "Deal Stage",
    "Pipeline",
    "Amount",
    "Close Date",
    "Create Date",
    "Deal owner",
    "Closed Lost Reason",
    "Associated Company",
]
OPEN_STAGES = ["Qualification", "Discovery", "Demo", "Proposal", "Negotiation"]
OWNERS = ["alice@closedlost.invalid", "Erin", "dave"]  # e-mail, full name, user name
LOSS_TEXTS = [
    "Price too high",
    "no-budget",
    "Missing feature",
    "Went dark on us",
    "",
    "Chose to build in-house",
]

# line number in the file (header = 1) -> (column to spoil, bad value, field, problem)
BAD_ROWS = {
    17: ("Record ID", "", "external_id", "is empty"),
    250: (
        "Deal owner",
        "zed@nowhere.example",
        "owner",
        "matches no user (by user name, e-mail or full name)",
    ),
    1234: ("Amount", "twelve grand", "amount", "is not a number: imported without an amount"),
    4000: ("Deal Stage", "Nowhere", "stage", "matches no stage of pipeline “New business”"),
    6001: ("Pipeline", "Enterprise", "pipeline", "matches no pipeline"),
    8500: ("Deal Name", "", "name", "is empty"),
    9999: ("Amount", "-5", "amount", "cannot be negative: imported without an amount"),
}


def hubspot_export(rows: int, *, bad_rows: dict | None = None, seed: int = 7, id_offset: int = 0) -> str:
    """A HubSpot deal export of `rows` deals: ~60% open, ~35% closed lost, ~5% closed won."""
    bad_rows = BAD_ROWS if bad_rows is None else bad_rows
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HUBSPOT_COLUMNS)
    for n in range(rows):
        line = n + 2
        roll = rng.random()
        created = f"2026-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d} 09:{rng.randint(0, 59):02d}"
        if roll < 0.60:
            stage, closed, reason = rng.choice(OPEN_STAGES), "", ""
        elif roll < 0.95:
            stage, closed, reason = (
                "Closed Lost",
                f"2026-{rng.randint(7, 10):02d}-{rng.randint(1, 28):02d}",
                rng.choice(LOSS_TEXTS),
            )
        else:
            stage, closed, reason = (
                "Closed Won",
                f"2026-{rng.randint(7, 10):02d}-{rng.randint(1, 28):02d}",
                "",
            )
        row = {
            "Record ID": str(9_000_000 + id_offset + n),
            "Deal Name": f"Deal {id_offset + n} - {rng.choice(['Renewal', 'Expansion', 'New logo'])}",
            "Deal Stage": stage,
            "Pipeline": "New business",
            "Amount": f"{rng.randint(1, 500) * 100}.00",
            "Close Date": closed,
            "Create Date": created,
            "Deal owner": rng.choice(OWNERS),
            "Closed Lost Reason": reason,
            "Associated Company": f"Company {rng.randint(1, 400)}",
        }
        if line in bad_rows:
            column, value, _field, _problem = bad_rows[line]
            row[column] = value
        writer.writerow([row[c] for c in HUBSPOT_COLUMNS])
    return out.getvalue()


# --- a full HubSpot export: every state, segments, competitors, stage at close -------------------

FULL_COLUMNS = [
    "Record ID",
    "Deal Name",
    "Deal Stage",
    "Pipeline",
    "Amount",
    "Close Date",
    "Create Date",
    "Deal owner",
    "Closed Lost Reason",
    "Closed Won Reason",
    "Competitor",
    "Stage at close",
    "Reopened Date",
    "HubSpot Team",
    "Industry",
    "Number of Employees",
    "Associated Company",
    "Deal Description",
]
# Stage at close as HubSpot's internal values for some rows: the review page maps them.
INTERNAL_STAGES = {"qualifiedtobuy": "Qualification", "presentationscheduled": "Demo"}
STAGES_AT_CLOSE = ["Discovery", "Proposal", "Negotiation", "qualifiedtobuy", "presentationscheduled", ""]
WON_TEXTS = ["Best product fit", "great_relationship", "", "Beat a competitor"]
LOST_TEXTS = [
    "Price too high",  # a loss reason's label
    "no-budget",  # a loss reason's code
    "price_too_high",  # mapped by the admin
    "Competitor was cheaper",  # needs the competitor: without one it waits for a reason
    "status_quo",  # mapped by the admin to a no-decision reason
    "Not a priority now",  # a no-decision reason's label
    "Went dark on us",  # unmapped: needs a reason
    "Chose to build in-house",  # unmapped
    "",  # no reason at all
]
COMPETITORS = ["Northwind CRM", "Globex", "Initech Pipeline", ""]
INDUSTRIES = ["Retail", "Healthcare", "Software", ""]
SIZES = ["12", "51-200", "1,200", "300", ""]


def hubspot_full_export(rows: int, *, seed: int = 11, id_offset: int = 0) -> str:
    """A HubSpot deal export: ~35% open, ~10% reopened, ~15% won, ~40% closed lost (with loss,
    no-decision, unmapped and empty reasons), with competitors, stage at close and segments."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FULL_COLUMNS)
    for n in range(rows):
        roll = rng.random()
        month = rng.randint(1, 5)
        row = dict.fromkeys(FULL_COLUMNS, "")
        row.update(
            {
                "Record ID": str(7_000_000 + id_offset + n),
                "Deal Name": f"Deal {id_offset + n} {rng.choice(['Renewal', 'Expansion', 'New logo'])}",
                "Pipeline": "New business",
                "Amount": f"{rng.randint(1, 500) * 100}.00",
                "Create Date": f"2026-{month:02d}-{rng.randint(1, 28):02d} 09:{rng.randint(0, 59):02d}",
                "Deal owner": rng.choice(OWNERS),
                "HubSpot Team": rng.choice(["East", "West", ""]),
                "Industry": rng.choice(INDUSTRIES),
                "Number of Employees": rng.choice(SIZES),
                "Associated Company": f"Company {rng.randint(1, 300)}",
            }
        )
        close_date = f"2026-{rng.randint(month + 1, 10):02d}-{rng.randint(1, 28):02d}"
        if roll < 0.35:
            row.update({"Deal Stage": rng.choice(OPEN_STAGES), "Close Date": close_date})
        elif roll < 0.45:
            row.update(
                {
                    "Deal Stage": rng.choice(OPEN_STAGES),
                    "Close Date": close_date,
                    "Reopened Date": f"2026-11-{rng.randint(1, 28):02d}",
                    "Closed Lost Reason": rng.choice(LOST_TEXTS),
                    "Stage at close": rng.choice(STAGES_AT_CLOSE),
                }
            )
        elif roll < 0.60:
            text = rng.choice(WON_TEXTS)
            competitor = (
                rng.choice(COMPETITORS[:3]) if text == "Beat a competitor" else rng.choice(COMPETITORS)
            )
            row.update(
                {
                    "Deal Stage": "Closed Won",
                    "Close Date": close_date,
                    "Closed Won Reason": text,
                    "Competitor": competitor,
                    "Stage at close": rng.choice(STAGES_AT_CLOSE),
                }
            )
        else:
            row.update(
                {
                    "Deal Stage": "Closed Lost",
                    "Close Date": close_date,
                    "Closed Lost Reason": rng.choice(LOST_TEXTS),
                    "Competitor": rng.choice(COMPETITORS),
                    "Stage at close": rng.choice(STAGES_AT_CLOSE),
                }
            )
        writer.writerow([row[c] for c in FULL_COLUMNS])
    return out.getvalue()
