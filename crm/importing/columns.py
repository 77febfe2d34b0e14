"""What an import reads from a CRM export: our fields, each CRM's column names, and the parsers
that turn one cell into a value or a RowError naming the field."""

import re
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from deals.details import AMOUNT_LIMIT

# Our field → (label on the mapping page, required).
FIELDS = {
    "external_id": ("CRM record id", True),
    "name": ("Deal name", True),
    "owner": ("Owner (user name, e-mail or full name)", True),
    "stage": ("Stage", True),
    "status": ("Status (won / lost / no decision / open), if a separate column", False),
    "pipeline": ("Pipeline", False),
    "account": ("Account / company", False),
    "amount": ("Amount", False),
    "currency": ("Currency", False),
    "created": ("Created date", False),
    "closed": ("Close date", False),
    "won_date": ("Won date (a separate column, used for won deals)", False),
    "lost_date": ("Lost date (a separate column, used for lost and no-decision deals)", False),
    "reason": ("Loss (or no-decision) reason", False),
    "won_reason": ("Won reason", False),
    "competitor": ("Competitor (lost to, or beaten)", False),
    "stage_at_close": ("Stage at close (the stage a closed deal closed at)", False),
    "reopened": ("Reopened date (closed, then reopened)", False),
    "expected_close": ("Expected close date (open deals)", False),
    "team": ("Team", False),
    "industry": ("Industry", False),
    "company_size": ("Company size (employees)", False),
    "contacts": ("Contacts: Name (email), several separated by “;”", False),
    "company_domain": ("Company domain", False),
}

# Column names in each CRM's standard deal export (custom properties under their usual labels).
PRESETS = {
    "hubspot": {
        "external_id": ["Record ID", "Deal ID"],
        "name": ["Deal Name"],
        "owner": ["Deal owner", "Deal Owner"],
        "stage": ["Deal Stage"],
        "pipeline": ["Pipeline"],
        "account": ["Associated Company", "Company name"],
        "amount": ["Amount"],
        "currency": ["Currency"],
        "created": ["Create Date"],
        "closed": ["Close Date"],
        "won_date": ["Closed Won Date", "Date closed won"],
        "lost_date": ["Closed Lost Date", "Date closed lost"],
        "reason": ["Closed Lost Reason"],
        "won_reason": ["Closed Won Reason"],
        "competitor": ["Competitor", "Lost to competitor"],
        "stage_at_close": ["Stage at close", "Deal stage at close"],
        "reopened": ["Reopened Date", "Date reopened"],
        "team": ["HubSpot Team", "Team"],
        "industry": ["Industry", "Company Industry"],
        "company_size": ["Number of Employees", "Company size"],
        "contacts": ["Associated Contact", "Associated Contacts"],
        "company_domain": ["Company Domain Name", "Associated Company Domain"],
    },
    "salesforce": {
        "external_id": ["Opportunity ID", "Id"],
        "name": ["Opportunity Name"],
        "owner": ["Opportunity Owner", "Owner Email"],
        "stage": ["Stage"],
        "account": ["Account Name"],
        "amount": ["Amount"],
        "currency": ["Opportunity Currency", "Amount Currency"],
        "created": ["Created Date"],
        "closed": ["Close Date"],
        "reason": ["Loss Reason", "Closed Lost Reason"],
        "won_reason": ["Win Reason", "Closed Won Reason"],
        "competitor": ["Competitor", "Main Competitor"],
        "stage_at_close": ["Stage at close", "Last Stage Before Close"],
        "industry": ["Industry", "Account Industry"],
        "company_size": ["Employees", "Account Employees"],
        "contacts": ["Contact Roles", "Primary Contact"],
        "company_domain": ["Account Website", "Website"],
    },
    "pipedrive": {
        "external_id": ["Deal - ID", "ID"],
        "name": ["Deal - Title", "Title"],
        "owner": ["Deal - Owner", "Owner"],
        "stage": ["Deal - Stage", "Stage"],
        "status": ["Deal - Status", "Status"],
        "pipeline": ["Deal - Pipeline", "Pipeline"],
        "account": ["Deal - Organization", "Organization"],
        "amount": ["Deal - Value", "Value"],
        "currency": ["Deal - Currency", "Currency"],
        "created": ["Deal - Deal created", "Deal created"],
        "closed": ["Deal - Lost time", "Deal - Deal closed on", "Deal closed on"],
        "won_date": ["Deal - Won time", "Won time"],
        "reason": ["Deal - Lost reason", "Lost reason"],
        "expected_close": ["Deal - Expected close date", "Expected close date"],
        "industry": ["Organization - Industry"],
        "company_size": ["Organization - Number of employees"],
        "contacts": ["Deal - Contact person", "Contact person"],
        "company_domain": ["Organization - Website"],
    },
}

# Our column lengths: a longer value is a per-row error, not a silent cut.
MAX_LENGTH = {
    "name": 200,
    "account": 200,
    "reason": 300,
    "won_reason": 300,
    "industry": 100,
    "team": 100,
    "competitor": 120,
    "owner": 254,
    "stage": 100,
    "stage_at_close": 100,
    "pipeline": 100,
}
CSV_FIELD_LIMIT = 131_072  # the csv module's default limit: longer cells are broken quoting, not data

LOST, WON, NO_DECISION, OPEN = "lost", "won", "no_decision", "open"
OUTCOME_WORDS = {
    LOST: {"lost", "closed lost", "closedlost", "closed - lost"},
    WON: {"won", "closed won", "closedwon", "closed - won"},
    NO_DECISION: {"no decision", "closed no decision", "closednodecision", "closed - no decision"},
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d.%m.%Y"]


class RowError(Exception):
    def __init__(self, field: str, problem: str, value: str = ""):
        super().__init__(problem)
        self.field, self.problem, self.value = field, problem, value


@lru_cache(maxsize=8192)  # an export repeats its stages, owners, teams and reasons on every row
def word(value: str) -> str:
    return " ".join(value.casefold().split())


OUTCOME_OF_WORD = {said: outcome for outcome, words in OUTCOME_WORDS.items() for said in words}


def outcome_of(values: dict) -> str:
    """The row's state in the CRM, from a status column or the stage's closing values."""
    return said_outcome(values.get("status", "")) or said_outcome(values.get("stage", "")) or OPEN


def said_outcome(value: str) -> str | None:
    """The outcome a status or stage cell names (won, lost, no decision), or None."""
    return OUTCOME_OF_WORD.get(word(value)) if value else None


def parse_amount(raw: str) -> Decimal:
    if raw.strip() and not re.search(r"\d", raw):
        raise RowError("amount", "is not a number", raw)
    cleaned = re.sub(r"[^\d.\-]", "", raw.replace(",", ""))
    try:
        value = Decimal(cleaned) if cleaned else Decimal("0")
    except InvalidOperation as exc:
        raise RowError("amount", "is not a number", raw) from exc
    if value < 0:
        raise RowError("amount", "cannot be negative", raw)
    if value >= AMOUNT_LIMIT:
        raise RowError("amount", "is too large", raw)
    return value.quantize(Decimal("0.01"))


DAY_ONLY = re.compile(r"[\d./-]{8,10}")


def parse_when(raw: str, field: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    return _when(raw, field)


@lru_cache(maxsize=8192)  # dates repeat across an export's rows; a RowError is not cached
def _when(raw: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in DATE_FORMATS:
            try:
                parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007 - made aware just below
                break
            except ValueError:
                continue
    if parsed is None or not 1900 <= parsed.year <= 2200:
        raise RowError(field, "is not a date (use YYYY-MM-DD)", raw)
    if DAY_ONLY.fullmatch(raw):  # a day without a time: noon, so no zone moves its date
        parsed = datetime.combine(parsed.date(), time(12))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_size(raw: str) -> int | None:
    """Employees: a number ("1,200"), a band ("51-200": its lower end) or "1000+"."""
    raw = raw.strip()
    if not raw:
        return None
    match = re.match(r"^(\d[\d,. ]*)\s*(?:[-–+]|to\b|$)", raw)
    if match is None:
        raise RowError("company_size", "is not a number of employees", raw)
    digits = re.sub(r"[^\d]", "", match.group(1))
    if not digits or int(digits) > 10_000_000:
        raise RowError("company_size", "is not a number of employees", raw)
    return int(digits)
