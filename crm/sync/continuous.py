"""After the first sync: a deal the CRM created arrives here (by webhook or reconciliation) with
its company and contacts, and is brought to the CRM's state through the same rules as a webhook
change (a close lost maps its reason or waits in "needs a reason"; its buyers get the nurture
e-mails). A known deal's company and contacts are refreshed the same way."""

from datetime import datetime

from django.db import transaction

from crm.adapters import adapter_for
from crm.adapters.base import LOST, OPEN, WON, CrmChange
from crm.changes import crm_change_apply
from crm.importing.apply import account_for
from crm.models import CrmConnection
from crm.sync.apply import Mirror, companies_and_people, deal_row, links_set
from crm.sync.fetch import sync_fetcher
from crm.sync.mirror import pipelines_mirror
from crm.sync.shapes import CrmDeal
from deals.details import deal_create
from deals.models import Deal


class DealNotCreated(Exception):
    """The CRM's deal cannot come in (e.g. its owner maps to no user); the message says why."""


def _mirror_for(connection: CrmConnection, crm_deal: CrmDeal, fetch) -> Mirror:
    mirror = Mirror.load(connection)
    if crm_deal.pipeline_id not in mirror.pipelines or not any(
        key[1] in (crm_deal.stage_id, crm_deal.stage_value) for key in mirror.stages
    ):  # a pipeline or stage made in the CRM since the last mirror
        pipelines = adapter_for(connection.kind).read_pipelines(connection=connection, fetch=fetch)
        pipelines_mirror(connection=connection, pipelines=pipelines)
        mirror = Mirror.load(connection)
    return mirror


def deal_arrive(
    *, connection: CrmConnection, external_id: str, received_at: datetime, fetch=None
) -> tuple[Deal, str]:
    """Create the CRM's deal `external_id` here as the CRM has it now. Call inside a transaction.

    Raises DealNotCreated (with why) when it cannot come in, and the fetch's errors
    (crm.sync.fetch) when the CRM cannot be read: the caller retries."""
    fetch = fetch or sync_fetcher(connection)
    crm_deal = adapter_for(connection.kind).read_deal(
        connection=connection, fetch=fetch, external_id=external_id
    )
    if crm_deal is None:
        raise DealNotCreated(f"{connection} has no deal {external_id}.")
    mirror = _mirror_for(connection, crm_deal, fetch)
    row = deal_row(connection, mirror, crm_deal)
    if isinstance(row, str):
        raise DealNotCreated(f"{connection} deal {external_id} “{crm_deal.name}”: {row}.")
    with transaction.atomic():
        contacts = companies_and_people(connection, mirror, [crm_deal])
        deal = deal_create(
            name=row.name,
            account=account_for(row, mirror.look),
            owner=row.owner,
            team=row.team,
            stage=row.closed_stage or row.stage,
            amount=row.amount,
            currency=row.currency,
            created_at=row.created,
            expected_close_date=row.expected_close,
            external_ids={connection.external_id_field: external_id},
        )
        links_set(connection, [crm_deal], contacts)  # before the close: its e-mails go to them
        result = "created open"
        if row.outcome != OPEN:
            outcome = LOST if row.outcome == LOST else WON
            text = crm_deal.won_reason_text if outcome == WON else crm_deal.reason_text
            change = CrmChange(
                external_id, outcome, text, row.closed, stage_value=crm_deal.stage_value,
                competitor_text=crm_deal.competitor_text or None,
            )  # fmt: skip
            result = crm_change_apply(
                connection=connection, change=change, deal=deal, received_at=received_at
            )
    return deal, f"created from {connection}: {result}"


def deal_contacts_refresh(*, connection: CrmConnection, deal: Deal, fetch=None) -> str:
    """Read a known deal's company and contacts again (contacts gone from it in the CRM leave it)."""
    fetch = fetch or sync_fetcher(connection)
    crm_deal = adapter_for(connection.kind).read_deal(
        connection=connection, fetch=fetch, external_id=getattr(deal, connection.external_id_field)
    )
    if crm_deal is None:
        return ""
    with transaction.atomic():
        mirror = Mirror.load(connection)
        contacts = companies_and_people(connection, mirror, [crm_deal])
        added = links_set(connection, [crm_deal], contacts)
    return f"contacts: {len(crm_deal.contacts)} ({added} new)" if added else ""
