"""One interface every CRM's adapter implements, and the normalized shapes it speaks in.

An adapter knows one CRM's protocol: how it proves a webhook's sender, which fields identify
one delivery (the dedupe key), what a stored event means (a `CrmChange`), how to write a
deal's state back, and how to read the deals changed since a moment (reconciliation). What a
change then does to a deal is the same for every CRM (crm.changes, crm.services).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from django.http import HttpResponse, JsonResponse

from crm.models import CrmConnection, WebhookEvent

LOST, WON, OPEN = "lost", "won", "open"


class WebhookRejected(Exception):
    """The request is not from the CRM we trust; `status` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


class StageNotMapped(Exception):
    """A write-back needs a CRM stage value the connection's stage map does not give."""


@dataclass(frozen=True)
class IncomingRequest:
    """What a receiver needs of a webhook request."""

    method: str
    uri: str  # the full address the CRM called
    body: bytes
    headers: Mapping
    query: Mapping


@dataclass(frozen=True)
class Received:
    dedupe_key: str
    item: int  # the event's position in what is stored for it
    body: str | None = None  # what to store for it: None, the whole delivery as received


class Handled(str):
    """What an adapter did itself with an event about no deal's state (a person erased, a contact
    taken off a deal): a result text, recorded as done unless it starts with "ignored"."""


@dataclass(frozen=True)
class CrmChange:
    """What one CRM event (or one deal read back from the CRM) says about a deal."""

    external_id: str
    outcome: str | None  # LOST, WON or OPEN: the deal's state in the CRM; None: not about its state
    reason_text: str | None  # the CRM's reason for that outcome, when the event carries one
    closed_at: datetime | None  # when the CRM made the change (its own clock)
    stage_value: str = ""
    amount: Decimal | None = None  # the CRM's amount, when the event carries it
    owner: str | None = None  # the CRM's owner (its user id or e-mail), when the event carries it
    # A change that carries only a reason (outcome None): which of the CRM's reason fields it is
    # (LOST: the loss reason, WON: the win reason).
    reason_outcome: str | None = None
    # The CRM's competitor field (connection.competitor_field), when the event or read carries it.
    competitor_text: str | None = None
    # The deal's contacts changed in the CRM (e.g. Pipedrive: another person): read them again.
    contacts_changed: bool = False

    @property
    def closes_lost(self) -> bool:
        return self.outcome == LOST


@dataclass(frozen=True)
class WriteBack:
    """One request that brings the CRM's deal to our state; `pushed` is remembered for echoes."""

    method: str
    url: str
    body: dict
    pushed: dict


@dataclass(frozen=True)
class CrmOwner:
    """One of the CRM's users who can own deals (a HubSpot owner, a Pipedrive or Salesforce user)."""

    crm_id: str
    name: str
    email: str
    active: bool


# Reads one page of a CRM's API: (method, url, JSON body or None) → the decoded answer.
Fetch = Callable[[str, str, dict | None], dict]


def outcome_of(connection: CrmConnection, stage_value: str) -> str:
    if stage_value in (connection.lost_stages or []):
        return LOST
    return WON if stage_value in (connection.won_stages or []) else OPEN


def reason_field_for(connection: CrmConnection, outcome: str | None) -> str:
    return {LOST: connection.reason_field, WON: connection.win_reason_field}.get(outcome, "") or ""


def reason_field_out(connection: CrmConnection, state: dict) -> str:
    """The CRM field a write-back puts our reason in: a win reason in the win-reason field (none
    if the CRM has none), a loss or no-decision reason in the loss-reason field (a CRM closes a
    no-decision deal "lost" with that reason)."""
    if not state["reason"]:
        return ""
    return connection.win_reason_field if state["outcome"] == WON else connection.reason_field


def parse_time(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def from_ms(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_amount(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else None


def crm_value(value) -> str | None:
    """An id-like value from a payload (a number, a string or {"id": ...}) as text, or None."""
    if isinstance(value, dict):
        value = value.get("id") or value.get("value")
    return None if value in (None, "") else str(value)


class CrmAdapter(ABC):
    """One CRM's protocol. Stateless: one instance per CRM kind serves every request."""

    kind: ClassVar[str]
    # The properties / fields a webhook or a read may carry that we follow besides the stage.
    amount_field: ClassVar[str]
    owner_field: ClassVar[str]

    @abstractmethod
    def verify(self, *, connection: CrmConnection, request: IncomingRequest) -> None:
        """Raise WebhookRejected unless the request provably comes from the connected CRM."""

    @abstractmethod
    def received(self, *, connection: CrmConnection, body: bytes) -> list[Received]:
        """The events of a verified delivery with their dedupe keys (WebhookRejected if malformed)."""

    @abstractmethod
    def change(self, *, connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
        """What a stored event says, or why it is not followed (a text)."""

    @abstractmethod
    def write_back(self, *, connection: CrmConnection, state: dict) -> WriteBack | None:
        """The request that gives the CRM's deal our `state` (external_id, status, stage, reason)."""

    @abstractmethod
    def changed_since(
        self, *, connection: CrmConnection, since: datetime, fetch: Fetch
    ) -> Iterator[CrmChange]:
        """Every deal the CRM changed since `since`, page by page, as changes."""

    @abstractmethod
    def list_owners(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmOwner]:
        """Every user of the CRM who can own deals, active or not, page by page."""

    @abstractmethod
    def owner_write_back(self, *, connection: CrmConnection, external_id: str, owner_id: str) -> WriteBack:
        """The request that makes `owner_id` (a CRM owner id) the owner of the CRM's deal."""

    # The sync's reads (crm.sync: each CRM's module is mixed into its adapter).
    def read_pipelines(self, *, connection: CrmConnection, fetch: Fetch) -> list:
        """The CRM's deal pipelines with their stages (crm.sync.shapes.CrmPipeline)."""
        raise NotImplementedError

    def read_deals(self, *, connection: CrmConnection, fetch: Fetch, cursor: str, closed_since: datetime):
        """One page of open deals and deals closed since `closed_since`, from `cursor` (a DealsPage)."""
        raise NotImplementedError

    def read_deal(self, *, connection: CrmConnection, fetch: Fetch, external_id: str):
        """One deal with its company and contacts (a CrmDeal), None if the CRM has no such deal."""
        raise NotImplementedError

    def people_changed_since(
        self, *, connection: CrmConnection, since: datetime, until: datetime, fetch: Fetch
    ):
        """Contacts the CRM deleted and deals whose contacts changed (a crm.sync.shapes
        CrmPeopleChanges), for a CRM that tells neither by webhook (reconciliation)."""
        raise NotImplementedError

    def auth_headers(self, *, connection: CrmConnection) -> dict[str, str]:
        """The headers that carry the connection's API token (write-back and reads)."""
        return {"Authorization": f"Bearer {connection.api_token}"}

    def open_stage_value(self, *, connection: CrmConnection, stage_name: str) -> str:
        """The CRM's stage value for one of our open stages: the connection's stage map, else its name."""
        return (connection.stage_map or {}).get(stage_name) or stage_name

    def accepted(self, stored: int) -> HttpResponse:
        return JsonResponse({"stored": stored})

    def refused(self, exc: WebhookRejected) -> HttpResponse:
        return JsonResponse({"error": exc.message}, status=exc.status)
