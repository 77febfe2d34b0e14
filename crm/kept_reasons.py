"""The CRM's newest reason text per deal and outcome, kept with the CRM's time of it.

A CRM may send a deal's reason before its close (HubSpot: the `closed_lost_reason` event in its
own request before the `dealstage` one; Salesforce: an outbound message of the reason field
alone; Pipedrive: the field edited while the deal is open). The reason is kept here and the close
takes it when it comes, whatever the arrival order: of the close's own reason and the kept one,
the newer by the CRM's clock wins.
"""

from dataclasses import replace
from datetime import datetime

from crm.adapters.base import LOST, CrmChange, parse_time
from crm.models import CrmDealState
from deals.models import Deal

# The CRM's competitor field is kept the same way, under this key beside the outcomes' reasons.
COMPETITOR = "competitor"


def reason_keep(*, deal: Deal, kind: str, outcome: str, text: str, at: datetime | None) -> bool:
    """Keep `text` as the CRM's reason for `outcome` unless a newer one is kept; False if older.

    Call inside a transaction (the deal's CRM state row is locked)."""
    state, _ = CrmDealState.objects.select_for_update().get_or_create(deal=deal, kind=kind)
    kept = (state.reasons or {}).get(outcome)
    if kept and at is not None and (seen := parse_time(kept[1])) is not None and at < seen:
        return False
    when = at.isoformat() if at is not None else (kept[1] if kept else "")
    state.reasons = {**(state.reasons or {}), outcome: [text or "", when]}
    CrmDealState.objects.filter(pk=state.pk).update(reasons=state.reasons)
    return True


def reason_kept(*, deal: Deal, kind: str, outcome: str) -> tuple[str, datetime | None] | None:
    reasons = CrmDealState.objects.filter(deal=deal, kind=kind).values_list("reasons", flat=True).first()
    kept = (reasons or {}).get(outcome)
    return (kept[0], parse_time(kept[1])) if kept else None


def with_kept_reason(*, deal: Deal, kind: str, change: CrmChange) -> CrmChange:
    """The close `change` with the CRM's newest reason for its outcome: its own, or the one kept
    when the close carries none or the kept one is newer. The winner is kept."""
    outcome = change.outcome or LOST
    kept = reason_kept(deal=deal, kind=kind, outcome=outcome)
    own_is_newer = kept is None or (
        change.reason_text is not None
        and (kept[1] is None or change.closed_at is None or change.closed_at >= kept[1])
    )
    if own_is_newer:
        if change.reason_text is not None:
            reason_keep(deal=deal, kind=kind, outcome=outcome, text=change.reason_text, at=change.closed_at)
        return change
    return replace(change, reason_text=kept[0])


def with_kept_competitor(*, deal: Deal, kind: str, change: CrmChange) -> CrmChange:
    """The close `change` with the CRM's competitor: its own (kept), else the one the CRM named
    before the close (kept from a change of the competitor field alone)."""
    if change.competitor_text is not None:
        reason_keep(
            deal=deal, kind=kind, outcome=COMPETITOR, text=change.competitor_text, at=change.closed_at
        )
        return change
    kept = reason_kept(deal=deal, kind=kind, outcome=COMPETITOR)
    return replace(change, competitor_text=kept[0]) if kept else change
