"""Applying one row through the deal services: the route for rows that update, link or reopen a
deal, and the fallback for any row the set-based route (crm.importing.bulk) does not take."""

from datetime import datetime

from crm.changes import crm_lost_reason_record
from crm.importing.columns import LOST, NO_DECISION, OPEN, WON
from crm.importing.rows import Close, Lookups, Reasons, Row, earlier_outcome
from crm.models import EXTERNAL_ID_FIELD, ImportJob
from deals import services as deal_services
from deals.models import Account, Deal, DealEvent, DealStatus


def account_for(row: Row, look: Lookups) -> Account:
    """The row's account by name (made once per import), with its industry and size where unknown."""
    account = look.accounts.get(row.account_name)
    if account is None:
        account = Account.objects.filter(name=row.account_name).order_by("pk").first()
        if account is None:
            account = Account.objects.create(
                name=row.account_name, industry=row.industry, employees=row.employees
            )
        look.accounts[row.account_name] = account
    fill = {}
    if row.industry and not account.industry:
        fill["industry"] = account.industry = row.industry
    if row.employees is not None and account.employees is None:
        fill["employees"] = account.employees = row.employees
    if fill:
        Account.objects.filter(pk=account.pk).update(**fill)
    return account


def is_unchanged(deal: Deal, row: Row, reasons: Reasons) -> bool:
    """Nothing in the row would change the deal (so it needs no write at all)."""
    if deal.name != row.name or deal.amount != row.amount:
        return False
    if deal.is_open:
        return row.outcome == OPEN and (row.stage is None or row.stage.pk == deal.stage_id)
    if _reopens(deal, row, reasons):
        return False
    # A closed deal only changes when it waits for a reason and the row now gives one that maps.
    return not (deal.needs_reason and _resolving_close(deal, row, reasons))


def _resolving_close(deal: Deal, row: Row, reasons: Reasons) -> Close | None:
    """The close that answers a deal waiting for a reason: for a lost one a loss or no-decision
    reason that maps, for a won one a win reason that maps."""
    wanted = (WON,) if deal.status == DealStatus.WON else (LOST, NO_DECISION)
    if not deal.needs_reason or row.outcome not in wanted:
        return None
    if not (row.won_reason_text if row.outcome == WON else row.reason_text):
        return None
    close = reasons.close_of(row)
    return close if close.reason is not None and not close.needs_reason else None


def _reopens(deal: Deal, row: Row, reasons: Reasons) -> bool:
    """The CRM reopened the deal after our close (its reopened date is later), or closed it
    differently since (a later close date with another outcome). An export without a reopened
    date cannot say an open row was reopened after our close: such a deal stays closed."""
    if deal.is_open or deal.closed_at is None:
        return False
    if row.reopened is not None:
        return row.reopened > deal.closed_at
    if row.outcome == OPEN or row.closed is None or row.closed <= deal.closed_at:
        return False
    return reasons.close_of(row).outcome != deal.status


def _note(job: ImportJob, text: str) -> str:
    return f"Imported from {job.get_kind_display()}: “{text}”" if text else ""


def close_deal(*, job: ImportJob, deal: Deal, row: Row, close: Close, at: datetime):
    """Close an open deal as the row says, through the services; returns the unmapped
    (outcome, text) or None."""
    if close.outcome == WON:
        if not close.needs_reason:
            try:
                deal_services.deal_mark_won(
                    deal=deal, reason=close.reason, actor=None, competitor=close.competitor,
                    note=_note(job, row.won_reason_text), closed_at=at, via_crm=True,
                )  # fmt: skip
                return None
            except deal_services.DealAlreadyClosed:
                raise
            except deal_services.DealError:
                pass  # e.g. the win reason needs a competitor the row does not name: ask the rep
        # The CRM says won: won here too, waiting in "needs a reason" (never refused, never open).
        deal_services.deal_mark_won_from_crm(
            deal=deal, crm_reason_text=row.won_reason_text, closed_at=at, competitor=close.competitor
        )
        crm_lost_reason_record(deal=deal, kind=job.kind, text=row.won_reason_text)
        return close.unmapped_key
    if close.reason is not None:
        close_with = (
            deal_services.deal_mark_no_decision
            if close.outcome == NO_DECISION
            else deal_services.deal_mark_lost
        )
        try:
            close_with(
                deal=deal, reason=close.reason, actor=None, competitor=close.competitor,
                note=_note(job, row.reason_text), closed_at=at, via_crm=True,
                skip_nurture=True,  # a historical close: no nurture e-mails now
            )  # fmt: skip
            return None
        except deal_services.DealAlreadyClosed:
            raise
        except deal_services.DealError:
            pass  # e.g. needs a note the export does not give: ask the rep
    deal_services.deal_mark_lost_from_crm(
        deal=deal, crm_reason_text=row.reason_text, closed_at=at, competitor=close.competitor
    )
    crm_lost_reason_record(deal=deal, kind=job.kind, text=row.reason_text)
    return close.unmapped_key if close.reason is None else None


def _create(*, job: ImportJob, row: Row, look: Lookups) -> Deal:
    return deal_services.deal_create(
        name=row.name,
        account=account_for(row, look),
        owner=row.owner,
        team=row.team,
        stage=row.closed_stage or row.stage or look.first_stage[row.pipeline.pk],
        amount=row.amount,
        currency=row.currency,
        created_at=row.created,
        expected_close_date=row.expected_close,
        external_ids={EXTERNAL_ID_FIELD[job.kind]: row.external_id},
    )


def apply_row(*, job: ImportJob, row: Row, deal: Deal | None, look: Lookups, reasons: Reasons):
    """Write one row (inside its savepoint). Returns (result, deal, unmapped (outcome, text) or None)."""
    if deal is None and row.external_id in job.links:
        deal = Deal.objects.get(pk=job.links[row.external_id])  # confirmed on the review page
        deal = deal_services.deal_link_crm(
            deal=deal, actor=job.created_by, links={EXTERNAL_ID_FIELD[job.kind]: row.external_id}
        )
    if deal is None:
        deal = _create(job=job, row=row, look=look)
        if row.reopened is None:
            unmapped = _close_as_row(job=job, deal=deal, row=row, reasons=reasons)
            _reopen_history(deal, row)
            return "created", deal, unmapped
        # Closed once (lost, at the stage of that close), open again since, at its stage now.
        unmapped = close_deal(job=job, deal=deal, row=row, close=reasons.close_of(row, LOST), at=row.closed)
        deal_services.deal_reopen(
            deal=deal, actor=None, stage=row.stage, reopened_at=row.reopened, via_crm=True
        )
        return "created", deal, unmapped
    deal = deal_services.deal_update_details(
        deal=deal, name=row.name, amount=row.amount, actor=None, via_crm=True
    )
    if _reopens(deal, row, reasons):
        stage = row.stage if row.outcome == OPEN else None
        at = row.reopened or row.closed
        deal = deal_services.deal_reopen(deal=deal, actor=None, stage=stage, reopened_at=at, via_crm=True)
    elif deal.is_open and row.outcome == OPEN and row.stage is not None and row.stage.pk != deal.stage_id:
        deal = deal_services.deal_change_stage(deal=deal, stage=row.stage, actor=None)
    close = _resolving_close(deal, row, reasons)
    if close is not None:
        deal_services.deal_give_reason(  # a no-decision reason makes a lost deal No Decision
            deal=deal, reason=close.reason, competitor=close.competitor, actor=None, via_crm=True
        )
    unmapped = _close_as_row(job=job, deal=deal, row=row, reasons=reasons)
    _reopen_history(deal, row)
    return "updated", deal, unmapped


def _reopen_history(deal: Deal, row: Row) -> None:
    """A row closed, reopened and closed again: its reopen, dated by the row, in the deal's history
    (once, however often the file is imported)."""
    if row.reopened_earlier is None:
        return
    event = {"deal": deal, "field": DealEvent.Field.STATUS, "to_value": DealStatus.OPEN}
    event["at"] = row.reopened_earlier
    if not DealEvent.objects.filter(**event).exists():
        DealEvent.objects.create(
            **event, from_value=earlier_outcome(row), actor=None, actor_kind=DealEvent.ActorKind.CRM
        )


def _close_as_row(*, job: ImportJob, deal: Deal, row: Row, reasons: Reasons):
    """An open deal the row has closed: at the stage it closed at, then closed as the CRM says."""
    if not deal.is_open or row.outcome == OPEN:
        return None
    if row.stage is not None and row.stage.pk != deal.stage_id:
        deal_services.deal_change_stage(deal=deal, stage=row.stage, actor=None, changed_at=row.closed)
    return close_deal(job=job, deal=deal, row=row, close=reasons.close_of(row), at=row.closed)
