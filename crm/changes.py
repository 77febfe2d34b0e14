"""What a stored CRM event means here, and bringing the deal to it through the deal services:
the CRM's reason text mapped to our taxonomy, each CRM's payload read as a change (lost, won,
open, or only a reason), and the change applied in the CRM's own order. Used by webhook
processing and by reconciliation."""

from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from crm.adapters import adapter_for
from crm.adapters.base import LOST, OPEN, WON, CrmChange  # noqa: F401 - importable from here as before
from crm.details import crm_details_apply
from crm.kept_reasons import COMPETITOR, reason_keep, with_kept_competitor, with_kept_reason
from crm.models import (
    EXTERNAL_ID_FIELD,
    CrmConnection,
    CrmDealState,
    CrmLostReason,
    DealSync,
    ReasonMapping,
    UnmappedReason,
    WebhookEvent,
)
from deals import services as deal_services
from deals.models import Deal, DealStatus, Stage
from outbox.services import handoff_enqueue
from reasons.models import Competitor, Reason, ReasonKind

HANDOFF_REMINDER = "crm.reminder"
# An incoming change equal to what we pushed within this window is our own echo.
ECHO_WINDOW = timedelta(hours=6)


def normalise_reason_text(text: str) -> str:
    return " ".join((text or "").casefold().split())[:300]


# --- reasons: CRM text → our taxonomy -------------------------------------------------------


def _active_survivor(reason: Reason | None) -> Reason | None:
    """A retired reason that was merged counts as its survivor."""
    seen = set()
    while reason is not None and not reason.active and reason.pk not in seen:
        seen.add(reason.pk)
        reason = getattr(reason, "merged_into", None)
    return reason if reason is not None and reason.active else None


def _competitor_in(text: str) -> Competitor | None:
    folded = text.casefold()
    for competitor in Competitor.objects.filter(active=True):
        names = [competitor.name, *(competitor.aliases or [])]
        if any(name and name.casefold() in folded for name in names):
            return competitor
    return None


def competitor_named(text: str | None) -> Competitor | None:
    """The competitor the CRM's competitor field names: by name or alias, any case, rolled up to
    a merged competitor's survivor (as the first sync matches it); None when it names nobody."""
    wanted = " ".join((text or "").casefold().split())
    if not wanted:
        return None
    for competitor in Competitor.objects.select_related("merged_into").order_by("pk"):
        survivor = competitor.merged_into or competitor
        names = [competitor.name, *(competitor.aliases or [])]
        if survivor.active and any(" ".join((n or "").casefold().split()) == wanted for n in names):
            return survivor
    return None


# A CRM's "lost" carries a loss reason or, for a deal that was never decided, a no-decision one.
LOST_REASON_KINDS = (ReasonKind.LOSS, ReasonKind.NO_DECISION)


def reason_for_crm_text(
    *, kind: str, text: str, kinds=LOST_REASON_KINDS
) -> tuple[Reason | None, Competitor | None]:
    """Our reason (of one of `kinds`) for a CRM's reason text: the mapping table, then code, then label."""
    value = normalise_reason_text(text)
    if not value:
        return None, None
    mapping = (
        ReasonMapping.objects.filter(Q(kind=kind) | Q(kind=""), crm_value=value, reason__kind__in=kinds)
        .select_related("reason", "competitor")
        .order_by("-kind")
        .first()
    )
    if mapping is not None:
        reason, competitor = _active_survivor(mapping.reason), mapping.competitor
    else:
        candidates = Reason.objects.filter(kind__in=kinds).filter(
            Q(code=text.strip()) | Q(code=slugify(text)) | Q(label__iexact=text.strip())
        )
        reason, competitor = _active_survivor(candidates.first()), None
    if reason is not None and reason.requires_competitor and competitor is None:
        competitor = _competitor_in(text)
    return reason, competitor


def unmapped_reason_record(*, kind: str, text: str, count: int = 1, outcome: str = LOST) -> None:
    """Put a CRM reason text no mapping matched into the "needs classification" queue (`outcome`:
    which of the CRM's reason fields it came from, "lost" or "won")."""
    value = normalise_reason_text(text)
    if not value:
        return
    now = timezone.now()
    updated = UnmappedReason.objects.filter(kind=kind, outcome=outcome, crm_value=value).update(
        occurrences=F("occurrences") + count, last_seen=now
    )
    if not updated:
        UnmappedReason.objects.bulk_create(
            [UnmappedReason(kind=kind, outcome=outcome, crm_value=value, example=text.strip()[:300],
                            occurrences=count)],
            update_conflicts=True,
            unique_fields=["kind", "outcome", "crm_value"],
            update_fields=["last_seen"],
        )  # fmt: skip


def crm_lost_reason_record(*, deal: Deal, kind: str, text: str) -> None:
    """Remember what the CRM said for a deal waiting for a reason (one upsert statement)."""
    if text:
        CrmLostReason.objects.bulk_create(
            [CrmLostReason(deal=deal, kind=kind, crm_value=normalise_reason_text(text), text=text[:300])],
            update_conflicts=True,
            unique_fields=["deal"],
            update_fields=["kind", "crm_value", "text"],
        )


# --- processing stored events ----------------------------------------------------------------


class EventFailed(Exception):
    """Processing failed in a way a retry may cure (e.g. the deal is not imported yet)."""


def change_of(connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
    """What a stored event says (through its CRM's adapter), or why it is not followed."""
    return adapter_for(event.kind).change(connection=connection, event=event)


_PUSHED_OUTCOME = {"lost": LOST, "no_decision": LOST, "won": WON, "open": OPEN}


def _is_echo(*, deal: Deal, kind: str, change: CrmChange) -> bool:
    """The CRM telling us what we just told it: nothing new, whatever our deal looks like now.

    Only the state we pushed (outcome, stage, reason) is an echo: a reopen in the CRM after we
    pushed a close is not.
    """
    sync = DealSync.objects.filter(deal=deal, kind=kind, synced_at__isnull=False).first()
    if sync is None or not sync.last_pushed or timezone.now() - sync.synced_at > ECHO_WINDOW:
        return False
    pushed = sync.last_pushed
    if change.outcome is not None:
        if change.outcome != _PUSHED_OUTCOME.get(pushed.get("status")):
            return False
        if change.stage_value and change.stage_value != pushed.get("stage"):
            return False
    if change.reason_text is None:
        return change.outcome is not None  # a competitor alone is never ours: we do not push it
    return normalise_reason_text(change.reason_text) == normalise_reason_text(pushed.get("reason", ""))


def _about_state(change: CrmChange) -> bool:
    return change.outcome is not None or change.reason_text is not None or change.competitor_text is not None


def _apply_change(*, connection: CrmConnection, change: CrmChange, event: WebhookEvent) -> str:
    field = EXTERNAL_ID_FIELD[connection.kind]
    deal = Deal.objects.filter(**{field: change.external_id}).first()
    if deal is None:  # a deal made in the CRM: read it (company, contacts) and make it here
        from crm.sync.continuous import DealNotCreated, deal_arrive
        from crm.sync.fetch import CrmNotFound, CrmRefused, CrmUnavailable

        try:
            event.deal, result = deal_arrive(
                connection=connection, external_id=change.external_id, received_at=event.received_at
            )
        except (DealNotCreated, CrmNotFound, CrmRefused, CrmUnavailable) as exc:
            raise EventFailed(f"No deal has {connection} id {change.external_id} yet: {exc}") from exc
        return result
    event.deal = deal
    results = []
    if _about_state(change):
        if _is_echo(deal=deal, kind=connection.kind, change=change):
            results.append("ignored: the CRM echoed our own change")
        else:
            results.append(
                crm_change_apply(
                    connection=connection, change=change, deal=deal, received_at=event.received_at
                )
            )
    details = crm_details_apply(connection=connection, change=change, deal=deal)
    if change.contacts_changed:
        from crm.sync.links import crm_deal_contacts_reread

        details.append(crm_deal_contacts_reread(connection=connection, deal_external_id=change.external_id))
    if results:  # beside a change of state, say only which details changed
        details = [d for d in details if "ignored" not in d]
    return "; ".join(results + details) or "ignored: nothing this deal follows changed"


def crm_change_apply(
    *, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime
) -> str:
    """Bring the deal to the CRM's state through the deal services (webhooks and reconciliation).

    Call inside a transaction. A change older than one already applied changes nothing.
    """
    if change.outcome is None:  # a reason alone has its own clock: it never makes a close look old
        results = []
        if change.reason_text is not None:
            results.append(_apply_reason(connection=connection, change=change, deal=deal))
        if change.competitor_text is not None:
            results.append(_apply_competitor(connection=connection, change=change, deal=deal))
        return "; ".join(results) or "ignored: nothing this deal follows changed"
    if not _newest_change(deal=deal, kind=connection.kind, at=change.closed_at):
        return "ignored: older than a change already applied"
    closed_here_later = deal.closed_at and change.closed_at and change.closed_at < deal.closed_at
    if deal.status != DealStatus.OPEN and closed_here_later:
        return "ignored: the deal was closed here after this CRM change"
    if change.outcome in (LOST, WON):  # the CRM's newest reason, even one that came before the close
        change = with_kept_reason(deal=deal, kind=connection.kind, change=change)
        change = with_kept_competitor(deal=deal, kind=connection.kind, change=change)
    apply = {LOST: _apply_lost, WON: _apply_won, OPEN: _apply_open}[change.outcome]
    result = apply(connection=connection, change=change, deal=deal, received_at=received_at)
    if change.competitor_text and result.startswith("ignored") and deal.status != DealStatus.OPEN:
        # e.g. reconciliation of a deal closed here before the CRM named its competitor
        named = _apply_competitor(connection=connection, change=change, deal=deal)
        return result if named.startswith("ignored") else f"{named} ({result.removeprefix('ignored: ')})"
    return result


def _newest_change(*, deal: Deal, kind: str, at: datetime | None) -> bool:
    """Record `at` as the deal's newest change from this CRM; False if a newer one was applied.

    Deliveries come late, twice and out of order: the CRM's own clock decides.
    """
    if at is None:
        return True
    state, created = CrmDealState.objects.select_for_update().get_or_create(
        deal=deal, kind=kind, defaults={"changed_at": at}
    )
    if created or state.changed_at is None or at >= state.changed_at:
        CrmDealState.objects.filter(pk=state.pk).update(changed_at=at)
        return True
    return False


def _reason_and_competitor(connection: CrmConnection, change: CrmChange, kinds) -> tuple:
    """The close's reason text, our reason, and its competitor: the one the CRM's competitor field
    names (as in the first sync), else the one the reason's mapping gives."""
    text = (change.reason_text or "").strip()
    reason, competitor = (
        reason_for_crm_text(kind=connection.kind, text=text, kinds=kinds) if text else (None, None)
    )
    return text, reason, competitor_named(change.competitor_text) or competitor


def _apply_competitor(*, connection: CrmConnection, change: CrmChange, deal: Deal) -> str:
    """The CRM's competitor field changed: kept for the deal's close (whenever it comes), and the
    standing close of a closed deal takes the competitor it names."""
    if not reason_keep(deal=deal, kind=connection.kind, outcome=COMPETITOR, text=change.competitor_text or "",
                       at=change.closed_at):  # fmt: skip
        return "ignored: older than a competitor already kept"
    competitor = competitor_named(change.competitor_text)
    if deal.status == DealStatus.OPEN:
        return "kept: the competitor waits for the deal's close"
    if competitor is None:
        return f"ignored: the CRM's competitor {change.competitor_text!r} is none of ours"
    if not deal_services.deal_set_competitor(deal=deal, competitor=competitor):
        return f"ignored: the close already names {competitor.name}"
    return f"competitor: {competitor.name}"


def _apply_reason(*, connection: CrmConnection, change: CrmChange, deal: Deal) -> str:
    """Only the CRM's reason changed: kept for the deal's close (whenever it comes), and it
    answers a deal here that waits for its reason."""
    outcome = change.reason_outcome or LOST
    text = change.reason_text or ""
    if not reason_keep(deal=deal, kind=connection.kind, outcome=outcome, text=text, at=change.closed_at):
        return "ignored: older than a reason already kept"
    waiting = DealStatus.WON if outcome == WON else DealStatus.LOST
    if deal.status == waiting and deal.needs_reason:
        return _give_reason(connection=connection, change=change, deal=deal, outcome=outcome)
    if deal.status == DealStatus.OPEN:
        return "kept: the reason waits for the deal's close"
    return "ignored: a reason for a deal that is not waiting for one (kept for its next close)"


def _give_reason(*, connection: CrmConnection, change: CrmChange, deal: Deal, outcome: str = LOST) -> str:
    kinds = (ReasonKind.WIN,) if outcome == WON else LOST_REASON_KINDS
    text, reason, competitor = _reason_and_competitor(connection, change, kinds)
    if reason is None:  # a no-decision reason makes the deal No Decision (deal_give_reason)
        if text:
            unmapped_reason_record(kind=connection.kind, text=text, outcome=outcome)
        return "ignored: still no standard reason"
    try:
        deal_services.deal_give_reason(
            deal=deal, reason=reason, actor=None, competitor=competitor, note=_crm_note(connection, text),
            via_crm=True,
        )  # fmt: skip
    except deal_services.DealError as exc:
        return f"ignored: {exc.message}"
    return f"reason given: {reason.code}"


def _reopen_here(*, deal: Deal, change: CrmChange, stage=None) -> None:
    deal_services.deal_reopen(deal=deal, actor=None, stage=stage, reopened_at=change.closed_at, via_crm=True)


def _apply_lost(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    if deal.status == DealStatus.LOST and deal.needs_reason:
        return _give_reason(connection=connection, change=change, deal=deal)
    if deal.status in (DealStatus.LOST, DealStatus.NO_DECISION):
        return f"ignored: the deal is already {deal.get_status_display().lower()}"
    if deal.status == DealStatus.WON:  # the CRM took the win back and lost it since: follow it
        _reopen_here(deal=deal, change=change)
    text, reason, competitor = _reason_and_competitor(connection, change, LOST_REASON_KINDS)
    closed_at = change.closed_at or received_at
    if reason is not None:
        close = deal_services.deal_mark_no_decision if reason.kind == ReasonKind.NO_DECISION else None
        try:
            if close is not None:
                note = _crm_note(connection, text)
                close(deal=deal, reason=reason, actor=None, note=note, closed_at=closed_at, via_crm=True)
                return f"no decision: {reason.code}"
            deal_services.deal_mark_lost(
                deal=deal, reason=reason, actor=None, competitor=competitor, note=_crm_note(connection, text),
                closed_at=closed_at, via_crm=True,
            )  # fmt: skip
            return f"closed lost: {reason.code}"
        except deal_services.DealAlreadyClosed:
            return "ignored: the deal was closed meanwhile"
        except deal_services.DealError:
            pass  # e.g. the reason needs a competitor the CRM did not name: ask the rep
    elif text:
        unmapped_reason_record(kind=connection.kind, text=text)
    # No standard reason yet, but the competitor the CRM named still counts as "lost to".
    competitor = competitor or (_competitor_in(text) if text else None)
    deal_services.deal_mark_lost_from_crm(
        deal=deal, crm_reason_text=text, closed_at=closed_at, competitor=competitor
    )
    crm_lost_reason_record(deal=deal, kind=connection.kind, text=text)
    handoff_enqueue(kind=HANDOFF_REMINDER, items=[deal.pk])
    return "closed lost: needs a reason"


def _apply_won(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    """The CRM decides the outcome: the deal is won here, with the win reason its text maps to,
    else waiting in "needs a reason" (when the pipeline asks for one or the CRM gave a text)."""
    if deal.status == DealStatus.WON and deal.needs_reason:
        return _give_reason(connection=connection, change=change, deal=deal, outcome=WON)
    if deal.status == DealStatus.WON:
        return "ignored: the deal is already won"
    if deal.status != DealStatus.OPEN:  # lost (or no decision) here, won in the CRM since
        _reopen_here(deal=deal, change=change)
    text, reason, competitor = _reason_and_competitor(connection, change, (ReasonKind.WIN,))
    closed_at = change.closed_at or received_at
    if reason is not None or not (text or deal.pipeline.win_reason_required):
        try:
            deal_services.deal_mark_won(
                deal=deal, reason=reason, actor=None, competitor=competitor,
                note=_crm_note(connection, text, "won"), closed_at=closed_at, via_crm=True,
            )  # fmt: skip
            return f"closed won: {reason.code}" if reason else "closed won"
        except deal_services.DealAlreadyClosed:
            return "ignored: the deal was closed meanwhile"
        except deal_services.DealError:
            pass  # e.g. the reason needs the competitor the CRM did not name: ask the rep
    elif text:
        unmapped_reason_record(kind=connection.kind, text=text, outcome=WON)
    competitor = competitor or (_competitor_in(text) if text else None)
    deal_services.deal_mark_won_from_crm(
        deal=deal, crm_reason_text=text, closed_at=closed_at, competitor=competitor
    )
    crm_lost_reason_record(deal=deal, kind=connection.kind, text=text)
    handoff_enqueue(kind=HANDOFF_REMINDER, items=[deal.pk])
    return "closed won: needs a reason"


def _apply_open(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    """The CRM has the deal open at a stage: reopen a deal closed here, or follow its stage."""
    value = change.stage_value.strip()
    mapped = [ours for ours, theirs in (connection.stage_map or {}).items() if theirs == value]
    stages = Stage.objects.filter(pipeline_id=deal.pipeline_id)
    stage = (
        (stages.filter(**{connection.external_id_field: value}).first() if value else None)  # mirrored
        or (stages.filter(name__in=mapped).first() if mapped else None)
        or stages.filter(name__iexact=value).first()
    )
    if deal.status != DealStatus.OPEN:
        _reopen_here(deal=deal, change=change, stage=stage)
        return f"reopened: stage {stage.name if stage else 'at close'}"
    if stage is None or stage.pk == deal.stage_id:
        return f"ignored: open in both (stage {change.stage_value!r})"
    deal_services.deal_change_stage(deal=deal, stage=stage, actor=None, changed_at=change.closed_at)
    return f"stage: {stage.name}"


def _crm_note(connection: CrmConnection, text: str, outcome: str = "lost") -> str:
    return f"Closed {outcome} in {connection}: “{text}”" if text else f"Closed {outcome} in {connection}."
