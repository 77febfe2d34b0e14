"""Owner changes made here, written back to each CRM the deal is linked to, like closes: the intent
(a DealOwnerSync row and its outbox message) is written in the owner change's own transaction
(crm.receivers listens to deals.signals.deal_owner_changing), the worker sends it after commit.

The CRM's owner is the new owner's CRM owner id from the connection's owner map. A new owner
without one is not written back: the row says so on the deal page ("skipped", with what to do),
and the offboarding page says how many deals it concerns. An owner change the CRM made is never
sent back (no echo loop); a repeated hand-off sends nothing twice."""

from django.db import transaction
from django.utils import timezone

from crm.adapters import adapter_for
from crm.models import CrmConnection, DealOwnerSync
from crm.owners import owner_crm_id
from crm.services import Processed, max_attempts, write_back_send
from deals.models import Deal
from outbox.services import handoff_enqueue
from teams.models import User

HANDOFF_OWNER_WRITE_BACK = "crm.owner_write_back"
State = DealOwnerSync.State


def _no_crm_id(connection: CrmConnection, owner: User) -> str:
    return (
        f"{owner.display_name} has no {connection} owner id in the connection's owner map, so "
        f"{connection} still names the previous owner. Map them (People → From the CRM, or the "
        "connection page), then send again."
    )


def deal_owner_sync_queue(*, deal_id: int, owner: User) -> list[str]:
    """Inside the owner change's transaction: per CRM the deal is linked to (with write-back on),
    a pending owner write-back and its outbox message, or a skipped one saying why. The kinds queued."""
    connections = list(CrmConnection.objects.filter(active=True, write_back=True))
    if not connections:
        return []
    deal = Deal.objects.filter(pk=deal_id).values(*{c.external_id_field for c in connections}).first() or {}
    queued = []
    with transaction.atomic():
        for connection in connections:
            if not deal.get(connection.external_id_field):
                continue
            crm_id = owner_crm_id(connection=connection, user=owner)
            values = {"state": State.PENDING, "last_error": "", "attempts": 0}
            if crm_id is None:
                values = {"state": State.SKIPPED, "last_error": _no_crm_id(connection, owner), "attempts": 0}
            DealOwnerSync.objects.update_or_create(deal_id=deal_id, kind=connection.kind, defaults=values)
            if crm_id is not None:
                queued.append(connection.kind)
        if queued:
            handoff_enqueue(kind=HANDOFF_OWNER_WRITE_BACK, items=[[deal_id, kind] for kind in queued])
    return queued


def deal_owner_sync_retry(*, sync: DealOwnerSync) -> None:
    """An admin (or the deal's viewer) sends a failed or skipped owner write-back again."""
    with transaction.atomic():
        DealOwnerSync.objects.filter(pk=sync.pk).update(state=State.PENDING, attempts=0, last_error="")
        handoff_enqueue(kind=HANDOFF_OWNER_WRITE_BACK, items=[[sync.deal_id, sync.kind]])


def deal_owner_push(*, deal_id: int, kind: str, timeout: float = 10.0) -> Processed:
    """PATCH the deal's current owner (their CRM owner id) to one CRM; one attempt. The current
    owner, not the one of the change that queued it: a hand-off delivered twice, or after a later
    change, sends what the CRM lacks, and nothing when it already has it."""
    connection = CrmConnection.objects.filter(kind=kind, active=True, write_back=True).first()
    deal = Deal.objects.select_related("owner").filter(pk=deal_id).first()
    sync = DealOwnerSync.objects.filter(deal_id=deal_id, kind=kind).first()
    if connection is None or deal is None or sync is None:
        return Processed("nothing to do")
    if sync.state in (State.FAILED, State.SKIPPED):  # given up: an admin's "send again" re-queues it
        return Processed(sync.state)
    now = timezone.now()
    external_id = getattr(deal, connection.external_id_field)
    crm_id = owner_crm_id(connection=connection, user=deal.owner)
    if sync.state == State.SYNCED and sync.crm_owner_id == crm_id:  # this owner was sent already
        return Processed(State.SYNCED)
    if not external_id or crm_id is None:  # unlinked, or the owner map lost the owner since
        note = _no_crm_id(connection, deal.owner) if external_id else "The deal is no longer linked."
        DealOwnerSync.objects.filter(pk=sync.pk).update(
            state=State.SKIPPED, last_error=note, last_attempt_at=now
        )
        return Processed(State.SKIPPED)
    request = adapter_for(kind).owner_write_back(
        connection=connection, external_id=external_id, owner_id=crm_id
    )
    attempts = sync.attempts + 1
    error, retry_in = write_back_send(connection, request, timeout, attempts)
    if not error:
        DealOwnerSync.objects.filter(pk=sync.pk).update(
            state=State.SYNCED, attempts=0, last_error="", crm_owner_id=crm_id, last_attempt_at=now,
            synced_at=timezone.now(),
        )  # fmt: skip
        return Processed(State.SYNCED)
    retrying = retry_in is not None and attempts < max_attempts()
    DealOwnerSync.objects.filter(pk=sync.pk).update(
        state=State.RETRYING if retrying else State.FAILED, attempts=attempts, last_error=error[:2000],
        last_attempt_at=now,
    )  # fmt: skip
    return Processed(State.RETRYING, retry_in=retry_in) if retrying else Processed(State.FAILED)


def deal_owner_sync_handoff(item: list) -> float | None:
    """The outbox's handler for one owner write-back: [deal id, CRM kind]."""
    deal_id, kind = item
    return deal_owner_push(deal_id=deal_id, kind=kind).retry_in


def owner_syncs_skipped(*, deal_ids: list[int]) -> dict[str, int]:
    """How many of these deals' owner write-backs were skipped, by CRM name (for the offboarding page)."""
    skipped: dict[str, int] = {}
    for sync in DealOwnerSync.objects.filter(deal_id__in=deal_ids, state=State.SKIPPED):
        label = sync.get_kind_display()
        skipped[label] = skipped.get(label, 0) + 1
    return skipped
