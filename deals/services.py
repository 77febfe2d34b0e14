"""Every close of a deal, and its reopen, goes through one function here.

Each function is atomic, keyword-only, records DealEvent rows, and raises DealError
with a message for the user (and the form field it concerns) when a rule says no. Work a
close causes in other apps (follow-ups, the CRM write-back) hangs on deals.signals.

A deal's other changes (create, details, stage, CRM links) live in deals.details; they and
the errors are importable from here too.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from closedlost.errors import ServiceError
from deals.closing import CloseRows, close_write
from deals.details import (  # noqa: F401  (re-exported: the deal services' one import path)
    CRM_ID_FIELDS,
    CRM_ID_PATTERN,
    actor_kind,
    deal_change_owner,
    deal_change_stage,
    deal_create,
    deal_link_crm,
    deal_set_competitor,
    deal_update_details,
)
from deals.errors import DealAlreadyClosed, DealError, DealNotClosed  # noqa: F401
from deals.models import (
    OUTCOME_REASON_KIND,
    Closure,
    ClosureSecondaryReason,
    Deal,
    DealEvent,
    DealStatus,
    Stage,
)
from deals.signals import deal_closed, deal_closing, deal_reopening
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import User

NOTE_MIN_WORDS = 3
NOTE_MAX_LENGTH = 5000  # characters: what happened, not a transcript
SECONDARY_REASONS_MAX = 10
REVISIT_MAX_AHEAD = timedelta(days=2 * 365)  # a reminder further out is a typo, not a plan


def _tell(signal: Signal, **kwargs) -> None:
    """Send `signal` inside the change's transaction; a receiver's refusal (a ServiceError, e.g.
    an inactive nurture sequence) refuses the change as a DealError naming the same field."""
    try:
        signal.send(sender=Deal, **kwargs)
    except DealError:
        raise
    except ServiceError as exc:
        raise DealError(exc.message, field=exc.field) from exc


@dataclass(frozen=True)
class CloseDetails:
    reason: Reason | None
    competitor: Competitor | None = None
    note: str = ""
    secondary_reasons: tuple[Reason, ...] = ()
    revisit_on: date | None = None
    # The rep's follow-up choice, passed on to deal_closing's receivers: a nurture sequence
    # (None: the reason's default), or none at all.
    nurture_sequence: Any = None
    skip_nurture: bool = False


def _describe_closure(closure: Closure) -> str:
    who = closure.actor.display_name if closure.actor else "a CRM sync"
    when = timezone.localtime(closure.closed_at).strftime("%Y-%m-%d %H:%M %Z")
    return f"This deal was already closed ({closure.get_outcome_display().lower()}) by {who} at {when}."


def _validate_revisit(revisit_on: date | None, *, as_of: date) -> None:
    """A revisit date is the day of the close or later, and at most two years on."""
    if revisit_on is None:
        return
    if revisit_on < as_of:
        raise DealError(
            f"Choose a revisit date from {as_of:%Y-%m-%d} on: {revisit_on:%Y-%m-%d} is in the past.",
            field="revisit_on",
        )
    if revisit_on > as_of + REVISIT_MAX_AHEAD:
        raise DealError(
            f"Choose a revisit date within two years (by {as_of + REVISIT_MAX_AHEAD:%Y-%m-%d}).",
            field="revisit_on",
        )


def _validate_close(*, deal: Deal, outcome: str, details: CloseDetails, as_of: date | None = None) -> None:
    """The rules a close must meet before anything is written: an active reason of the outcome's
    kind, the competitor or note the reason asks for, sane sizes and a revisit date in range.

    `as_of`: the day of the close (a backdated close is checked against its own day)."""
    if len(details.note) > NOTE_MAX_LENGTH:
        raise DealError(
            f"Keep the note under {NOTE_MAX_LENGTH:,} characters ({len(details.note):,} given).", field="note"
        )
    if len(details.secondary_reasons) > SECONDARY_REASONS_MAX:
        raise DealError(
            f"Choose at most {SECONDARY_REASONS_MAX} secondary reasons.", field="secondary_reasons"
        )
    _validate_revisit(details.revisit_on, as_of=as_of or timezone.localdate())
    kind = OUTCOME_REASON_KIND[outcome]
    reason = details.reason
    if reason is None:
        if outcome == DealStatus.WON and not deal.pipeline.win_reason_required:
            return
        raise DealError("Choose a reason: every close needs a standard reason.", field="reason")
    if reason.kind != kind:
        raise DealError(
            f"“{reason.label}” is a {reason.get_kind_display().lower()} reason; choose a "
            f"{kind.label.lower()} reason.",
            field="reason",
        )
    if not reason.active:
        raise DealError(f"“{reason.label}” has been retired; choose an active reason.", field="reason")
    if details.competitor is not None and not details.competitor.active:
        raise DealError(f"“{details.competitor}” is no longer an active competitor.", field="competitor")
    if reason.requires_competitor and details.competitor is None:
        who = "who we beat" if outcome == DealStatus.WON else "who we lost to"
        raise DealError(f"“{reason.label}” needs the competitor: choose {who}.", field="competitor")
    if reason.requires_note and len(details.note.split()) < NOTE_MIN_WORDS:
        raise DealError(
            f"“{reason.label}” needs a note of at least {NOTE_MIN_WORDS} words saying what happened.",
            field="note",
        )
    for secondary in details.secondary_reasons:
        if secondary.pk == reason.pk:
            raise DealError(
                "The primary reason cannot also be a secondary reason.", field="secondary_reasons"
            )
        if secondary.kind != kind or not secondary.active:
            raise DealError(
                f"“{secondary.label}” is not an active {kind.label.lower()} reason.",
                field="secondary_reasons",
            )


def _deal_close(
    *,
    deal: Deal,
    outcome: str,
    details: CloseDetails,
    actor: User | None,
    closed_at: datetime | None,
    via_crm: bool = False,
    needs_reason: bool = False,
) -> Closure:
    closed_at = closed_at or timezone.now()
    if not needs_reason:
        _validate_close(deal=deal, outcome=outcome, details=details, as_of=timezone.localdate(closed_at))
    with transaction.atomic():
        # Lock the row: of two concurrent closes, the second waits there and then sees the first.
        # The owner and account come along for the follow-ups' titles (only the deal row is locked).
        rows = CloseRows(
            outcome=outcome,
            reason=details.reason,
            competitor=details.competitor,
            note=details.note.strip(),
            revisit_on=details.revisit_on,
            secondary_reasons=details.secondary_reasons,
            actor=actor,
            actor_kind=actor_kind(actor, via_crm=via_crm),
            closed_at=closed_at,
            needs_reason=needs_reason,
        )
        locked, closure = close_write(deal_id=deal.pk, rows=rows)
        if closure is None:
            standing = (
                Closure.objects.select_related("actor").filter(deal=locked, reopened_at__isnull=True).first()
            )
            message = _describe_closure(standing) if standing else "This deal is already closed."
            raise DealAlreadyClosed(message)
        _tell(
            deal_closing,
            deal_id=locked.pk,
            closure_id=closure.pk,
            via_crm=via_crm,
            closure=closure,
            nurture_sequence=details.nurture_sequence,
            skip_nurture=details.skip_nurture,
        )
        transaction.on_commit(
            partial(deal_closed.send, sender=Deal, deal_id=locked.pk, closure_id=closure.pk, via_crm=via_crm)
        )
    deal.status, deal.close_reason, deal.closed_at = outcome, details.reason, closed_at
    deal.needs_reason = needs_reason
    deal.close_reason_kind = closure.reason_kind
    return closure


def deal_mark_lost(
    *,
    deal: Deal,
    reason: Reason | None,
    actor: User | None,
    competitor: Competitor | None = None,
    note: str = "",
    secondary_reasons: Iterable[Reason] = (),
    revisit_on: date | None = None,
    closed_at: datetime | None = None,
    via_crm: bool = False,
    nurture_sequence: Any = None,
    skip_nurture: bool = False,
) -> Closure:
    """Close an open deal as lost with an active loss reason (`via_crm`: a CRM closed it).

    The follow-ups (deal_closing's receivers) schedule the nurture sequence (`nurture_sequence`,
    else the reason's default, none with `skip_nurture`) and a reopen reminder on `revisit_on`.
    """
    details = CloseDetails(
        reason, competitor, note, tuple(secondary_reasons), revisit_on, nurture_sequence, skip_nurture
    )
    return _deal_close(
        deal=deal, outcome=DealStatus.LOST, details=details, actor=actor, closed_at=closed_at, via_crm=via_crm
    )


def deal_mark_lost_from_crm(
    *,
    deal: Deal,
    crm_reason_text: str,
    closed_at: datetime | None = None,
    competitor: Competitor | None = None,
) -> Closure:
    """A CRM closed the deal lost without a reason we can map: close it, flagged "needs a reason".

    The CRM's own words go into the note so the rep sees what the CRM said; the competitor it
    named is kept, so "lost to" counts the deal while it waits for its reason.
    """
    text = crm_reason_text.strip()
    details = CloseDetails(None, competitor=competitor, note=f"CRM reason: {text}" if text else "")
    return _deal_close(
        deal=deal,
        outcome=DealStatus.LOST,
        details=details,
        actor=None,
        closed_at=closed_at,
        via_crm=True,
        needs_reason=True,
    )


def deal_mark_won_from_crm(
    *,
    deal: Deal,
    crm_reason_text: str,
    closed_at: datetime | None = None,
    competitor: Competitor | None = None,
) -> Closure:
    """A CRM closed the deal won without a win reason we can map: the CRM decides the outcome, so
    the deal is won here too, flagged "needs a reason" until the rep (or a mapping) gives one."""
    text = crm_reason_text.strip()
    details = CloseDetails(None, competitor=competitor, note=f"CRM win reason: {text}" if text else "")
    return _deal_close(
        deal=deal,
        outcome=DealStatus.WON,
        details=details,
        actor=None,
        closed_at=closed_at,
        via_crm=True,
        needs_reason=True,
    )


def deal_give_reason(
    *,
    deal: Deal,
    reason: Reason,
    actor: User | None,
    competitor: Competitor | None = None,
    note: str = "",
    secondary_reasons: Iterable[Reason] = (),
    revisit_on: date | None = None,
    via_crm: bool = False,
) -> Closure:
    """Give the standard reason to a deal a CRM closed without one; clears "needs a reason".

    A won deal takes a win reason. For a lost one, a no-decision reason makes the close No
    Decision (the same closure, its outcome corrected and the status change recorded): the CRM
    said "lost" for want of a better word. The competitor the CRM named stays unless another is
    given.
    """
    with transaction.atomic():
        # The owner and account come along for the follow-ups' titles (only the deal row is locked).
        locked = (
            Deal.objects.select_for_update(of=("self",)).select_related("owner", "account").get(pk=deal.pk)
        )
        if locked.status not in (DealStatus.LOST, DealStatus.WON) or not locked.needs_reason:
            raise DealError("This deal is not waiting for a reason.", field="reason")
        closure = Closure.objects.select_for_update().get(deal=locked, reopened_at__isnull=True)
        closure.deal = locked  # receivers read the owner and account from it
        competitor = competitor or closure.competitor
        details = CloseDetails(reason, competitor, note, tuple(secondary_reasons), revisit_on)
        if locked.status == DealStatus.WON:
            outcome = DealStatus.WON
        else:
            outcome = DealStatus.NO_DECISION if reason.kind == ReasonKind.NO_DECISION else DealStatus.LOST
        _validate_close(deal=locked, outcome=outcome, details=details)
        _closure_reason_given(closure, outcome=outcome, details=details, actor=actor, via_crm=via_crm)
        _tell(
            deal_closing,
            deal_id=locked.pk,
            closure_id=closure.pk,
            via_crm=via_crm,
            closure=closure,
            nurture_sequence=None,
            skip_nurture=False,
        )
        transaction.on_commit(
            partial(deal_closed.send, sender=Deal, deal_id=locked.pk, closure_id=closure.pk, via_crm=via_crm)
        )
    deal.status, deal.close_reason, deal.close_reason_kind = outcome, reason, reason.kind
    deal.needs_reason = False
    return closure


def _closure_reason_given(
    closure: Closure, *, outcome: str, details: CloseDetails, actor, via_crm: bool
) -> None:
    """deal_give_reason's writes: the closure and the deal get the reason (and the outcome its
    kind implies), the secondary reasons are added, and a changed outcome is recorded."""
    reason, deal = details.reason, closure.deal
    closure.reason, closure.reason_kind, closure.needs_reason = reason, reason.kind, False
    closure.outcome, closure.competitor, closure.revisit_on = outcome, details.competitor, details.revisit_on
    closure.note = "\n".join(part for part in (details.note.strip(), closure.note) if part)
    fields = ["outcome", "reason", "reason_kind", "needs_reason", "competitor", "note", "revisit_on"]
    closure.save(update_fields=fields)
    ClosureSecondaryReason.objects.bulk_create(
        ClosureSecondaryReason(closure=closure, reason=secondary) for secondary in details.secondary_reasons
    )
    Deal.objects.filter(pk=deal.pk, needs_reason=True).update(
        status=outcome, close_reason=reason, close_reason_kind=reason.kind, needs_reason=False
    )
    if outcome == DealStatus.NO_DECISION:
        DealEvent.objects.create(
            deal=deal, field=DealEvent.Field.STATUS, from_value=DealStatus.LOST, to_value=outcome,
            actor=actor, actor_kind=actor_kind(actor, via_crm=via_crm), closure=closure, at=timezone.now(),
        )  # fmt: skip


def deal_mark_won(
    *,
    deal: Deal,
    reason: Reason | None,
    actor: User | None,
    competitor: Competitor | None = None,
    note: str = "",
    secondary_reasons: Iterable[Reason] = (),
    closed_at: datetime | None = None,
    via_crm: bool = False,
) -> Closure:
    """Close an open deal as won (with an active win reason where the pipeline asks for one)."""
    details = CloseDetails(reason, competitor, note, tuple(secondary_reasons))
    return _deal_close(
        deal=deal, outcome=DealStatus.WON, details=details, actor=actor, closed_at=closed_at, via_crm=via_crm
    )


def deal_mark_no_decision(
    *,
    deal: Deal,
    reason: Reason | None,
    actor: User | None,
    competitor: Competitor | None = None,
    note: str = "",
    secondary_reasons: Iterable[Reason] = (),
    revisit_on: date | None = None,
    closed_at: datetime | None = None,
    nurture_sequence: Any = None,
    skip_nurture: bool = False,
    via_crm: bool = False,
) -> Closure:
    """Close an open deal as No Decision (the buyer kept the status quo); schedules follow-ups
    as deal_mark_lost does."""
    details = CloseDetails(
        reason, competitor, note, tuple(secondary_reasons), revisit_on, nurture_sequence, skip_nurture
    )
    return _deal_close(
        deal=deal,
        outcome=DealStatus.NO_DECISION,
        details=details,
        actor=actor,
        closed_at=closed_at,
        via_crm=via_crm,
    )


def deal_reopen(
    *,
    deal: Deal,
    actor: User | None,
    stage: Stage | None = None,
    reopened_at: datetime | None = None,
    via_crm: bool = False,
) -> Deal:
    """Put a closed deal back to open, in the stage it closed at (or `stage`).

    The standing closure is kept and marked reopened; the history records the change.
    """
    reopened_at = reopened_at or timezone.now()
    with transaction.atomic():
        locked = Deal.objects.select_for_update().select_related("stage").get(pk=deal.pk)
        if locked.status == DealStatus.OPEN:
            raise DealNotClosed("This deal is already open.")
        closure = Closure.objects.select_for_update().get(deal=locked, reopened_at__isnull=True)
        closure.deal = locked
        target = stage or closure.stage_at_close
        if target.pipeline_id != locked.pipeline_id:
            raise DealError(f"Stage “{target}” is not in this deal's pipeline.", field="stage")
        closure.reopened_at = reopened_at
        closure.reopened_by = actor
        closure.save(update_fields=["reopened_at", "reopened_by"])
        previous_status, previous_stage = locked.status, locked.stage
        Deal.objects.filter(pk=locked.pk).update(
            status=DealStatus.OPEN,
            close_reason=None,
            close_reason_kind=None,
            closed_at=None,
            stage=target,
            needs_reason=False,
        )
        events = [
            DealEvent(
                deal=locked,
                field=DealEvent.Field.STATUS,
                from_value=previous_status,
                to_value=DealStatus.OPEN,
                actor=actor,
                actor_kind=actor_kind(actor, via_crm=via_crm),
                closure=closure,
                at=reopened_at,
            )
        ]
        if target.pk != previous_stage.pk:
            events.append(
                DealEvent(
                    deal=locked,
                    field=DealEvent.Field.STAGE,
                    from_value=previous_stage.name,
                    to_value=target.name,
                    actor=actor,
                    actor_kind=actor_kind(actor, via_crm=via_crm),
                    at=reopened_at,
                )
            )
        DealEvent.objects.bulk_create(events)
        _tell(
            deal_reopening,
            deal_id=locked.pk,
            closure_id=closure.pk,
            closure=closure,
            reopened_at=reopened_at,
            via_crm=via_crm,
        )
    # What the UPDATE wrote, without reading the row again.
    deal.status, deal.close_reason, deal.close_reason_kind = DealStatus.OPEN, None, None
    deal.closed_at, deal.needs_reason, deal.stage = None, False, target
    return deal
