"""What every adapter's sync reads return: one CRM's pipelines, deals, companies and buyers in
our terms (no Django here)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

OPEN, WON, LOST = "open", "won", "lost"


@dataclass(frozen=True)
class CrmStage:
    external_id: str
    name: str
    order: int
    probability: int  # percent
    outcome: str = OPEN  # a CRM's "Closed Lost" / "Closed Won" stage closes the deal


@dataclass(frozen=True)
class CrmPipeline:
    external_id: str
    name: str
    stages: list[CrmStage]


@dataclass(frozen=True)
class CrmCompany:
    external_id: str
    name: str
    domain: str = ""
    industry: str = ""
    employees: int | None = None


@dataclass(frozen=True)
class CrmPerson:
    external_id: str
    name: str
    email: str
    title: str = ""
    opted_out: bool = False  # the CRM's e-mail opt-out: ours too, at once, for good
    company_id: str = ""


@dataclass(frozen=True)
class CrmDealContact:
    person: CrmPerson
    role: str = ""
    is_primary: bool = False


@dataclass
class CrmDeal:
    external_id: str
    name: str
    pipeline_id: str
    # Open: the stage it is in. Closed: the stage it closed at when the CRM says (else its
    # closed stage, or "").
    stage_id: str
    outcome: str  # OPEN, WON or LOST
    owner: str  # the CRM's owner id or e-mail (the connection's owner map names ours)
    amount: Decimal
    currency: str
    created: datetime | None
    closed: datetime | None
    expected_close: datetime | None = None
    reason_text: str = ""
    won_reason_text: str = ""
    competitor_text: str = ""
    company: CrmCompany | None = None
    contacts: list[CrmDealContact] = field(default_factory=list)
    # The stage value the CRM gives the deal now (a closed stage for a closed HubSpot deal).
    stage_value: str = ""


@dataclass
class DealsPage:
    deals: list[CrmDeal]
    cursor: str | None  # where the next page starts; None: this was the last
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, why)


@dataclass
class CrmPeopleChanges:
    """What reconciliation asks of a CRM's people since its last run."""

    deleted_contacts: list[str]  # the CRM's ids of contacts deleted there (erased here)
    deals: list[str]  # the CRM's ids of deals whose contacts changed (their contacts re-read)
