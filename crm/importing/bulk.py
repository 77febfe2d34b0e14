"""The set-based route: new deals of a chunk written with one INSERT per table instead of the
services' per-row statements (about ten times faster on a first import of a large export).

It takes only rows whose close the rules plainly allow, and writes exactly what the services
would for them (crm.importing.apply for everything else):
- deal_create + deal_mark_lost / deal_mark_no_decision / deal_mark_won / deal_mark_lost_from_crm:
  the Deal in its final state, one Closure (stage, amount and currency at close), one status
  DealEvent (actor: CRM), a skipped nurture choice (ClosureSequence) for a historical lost or
  no-decision close with a reason, the CRM's text for a deal waiting for a reason, and the
  deal_closing / deal_closed signals;
- the rules: the reason comes from reason_for_crm_text (active, of the close's kind); a reason
  that needs a competitor or a note the row cannot give, and a won row without a win reason where
  the pipeline asks for one, go to the services instead, which decide and report;
- the database still checks every constraint, and the dashboards' summary is kept by the same
  statement triggers (they see these INSERTs like any other; tests compare it with a rebuild).
"""

from functools import partial

from django.db import transaction

from crm.changes import normalise_reason_text
from crm.importing.columns import LOST, NO_DECISION, OPEN, WON
from crm.importing.rows import Close, Lookups, Reasons, Row
from crm.models import EXTERNAL_ID_FIELD, CrmLostReason, ImportJob
from deals.models import Account, Closure, Deal, DealEvent, DealStatus
from deals.services import NOTE_MIN_WORDS
from deals.signals import deal_closed, deal_closing
from followups.models import ClosureSequence

STATUS = {LOST: DealStatus.LOST, WON: DealStatus.WON, NO_DECISION: DealStatus.NO_DECISION}


def note_for(job: ImportJob, text: str) -> str:
    return f"Imported from {job.get_kind_display()}: “{text}”" if text else ""


def bulk_close(job: ImportJob, row: Row, reasons: Reasons) -> Close | None | bool:
    """The close this route writes for a row: None for an open row, False if the services decide."""
    if row.outcome == OPEN and row.reopened is None:
        return None
    close = reasons.close_of(row, LOST if row.reopened else None)  # reopened: its earlier loss
    reason = close.reason
    if reason is None:
        if close.outcome == WON and row.pipeline.win_reason_required:
            return False  # the services report it
        return close
    if reason.requires_competitor and close.competitor is None:
        return False
    if reason.requires_note:
        text = row.won_reason_text if close.outcome == WON else row.reason_text
        if len(note_for(job, text).split()) < NOTE_MIN_WORDS:
            return False
    return close


def accounts_ready(rows: list[Row], look: Lookups) -> None:
    """Every row's account in look.accounts: found by name (the oldest) or made, in a few statements.

    An account's industry and size, where unknown, come from the first row (in file order) that
    gives them."""
    names = {row.account_name for row in rows}
    new = [name for name in names if name not in look.accounts]
    for account in Account.objects.filter(name__in=new).order_by("-pk"):
        look.accounts[account.name] = account  # the lowest pk wins, as in account_for
    Account.objects.bulk_create(
        look.accounts.setdefault(name, Account(name=name)) for name in new if name not in look.accounts
    )
    fill = {}
    for row in rows:
        account = look.accounts[row.account_name]
        if row.industry and not account.industry:
            account.industry = row.industry
            fill[account.pk] = account
        if row.employees is not None and account.employees is None:
            account.employees = row.employees
            fill[account.pk] = account
    if fill:
        Account.objects.bulk_update(list(fill.values()), ["industry", "employees"])


def _deal(job: ImportJob, row: Row, close: Close | None, look: Lookups) -> Deal:
    """The deal in its final state (a reopened one is open again, at the CRM's stage now)."""
    first = look.first_stage[row.pipeline.pk]
    deal = Deal(
        name=row.name,
        account=look.accounts[row.account_name],
        owner=row.owner,
        team=row.team,
        pipeline=row.pipeline,
        stage=row.stage or first,
        amount=row.amount,
        currency=row.currency,
        expected_close_date=row.expected_close,
        **{EXTERNAL_ID_FIELD[job.kind]: row.external_id},
    )
    deal.close_stage = row.closed_stage or row.stage or first  # where it closed (not a column)
    if row.created is not None:
        deal.created_at = row.created
    if close is not None and row.reopened is None:
        deal.status, deal.closed_at, deal.needs_reason = STATUS[close.outcome], row.closed, close.needs_reason
        deal.close_reason = close.reason
        deal.close_reason_kind = close.reason.kind if close.reason else None
    return deal


def _closure(job: ImportJob, deal: Deal, row: Row, close: Close) -> Closure:
    text = row.won_reason_text if close.outcome == WON else row.reason_text
    return Closure(
        deal=deal,
        outcome=STATUS[close.outcome],
        reason=close.reason,
        reason_kind=close.reason.kind if close.reason else None,
        competitor=close.competitor,
        note=f"CRM reason: {text}" if close.needs_reason and text else note_for(job, text),
        stage_at_close=deal.close_stage,
        amount_at_close=deal.amount,
        currency=deal.currency,
        closed_at=row.closed,
        needs_reason=close.needs_reason,
        reopened_at=row.reopened,
    )


def _events(closures: list[Closure]) -> list[DealEvent]:
    """A status event per close; per reopen, a status event back to open (and the stage it went to)."""
    crm = DealEvent.ActorKind.CRM
    events = []
    for closure in closures:
        deal = closure.deal
        events.append(
            DealEvent(deal=deal, field=DealEvent.Field.STATUS, from_value=DealStatus.OPEN,
                      to_value=closure.outcome, actor_kind=crm, closure=closure, at=closure.closed_at)
        )  # fmt: skip
        if closure.reopened_at is None:
            continue
        events.append(
            DealEvent(deal=deal, field=DealEvent.Field.STATUS, from_value=closure.outcome,
                      to_value=DealStatus.OPEN, actor_kind=crm, closure=closure, at=closure.reopened_at)
        )  # fmt: skip
        if deal.stage_id != deal.close_stage.pk:
            events.append(
                DealEvent(deal=deal, field=DealEvent.Field.STAGE, from_value=deal.close_stage.name,
                          to_value=deal.stage.name, actor_kind=crm, at=closure.reopened_at)
            )  # fmt: skip
    return events


def bulk_create_rows(*, job: ImportJob, rows: list[tuple[Row, Close | None]], look: Lookups) -> dict:
    """Write the rows' deals (and closes); returns {unmapped CRM text: rows}. Call in a transaction."""
    deals = Deal.objects.bulk_create([_deal(job, row, close, look) for row, close in rows])
    closed = [(deal, row, close) for deal, (row, close) in zip(deals, rows, strict=True) if close is not None]
    closures = Closure.objects.bulk_create([_closure(job, deal, row, close) for deal, row, close in closed])
    DealEvent.objects.bulk_create(_events(closures))
    ClosureSequence.objects.bulk_create(
        ClosureSequence(closure=closure, sequence=None, source=ClosureSequence.Source.SKIPPED)
        for closure in closures
        if closure.outcome != DealStatus.WON and not closure.needs_reason
    )
    CrmLostReason.objects.bulk_create(
        CrmLostReason(
            deal=deal, kind=job.kind, crm_value=normalise_reason_text(row.reason_text), text=row.reason_text
        )
        for deal, row, close in closed
        if close.needs_reason and row.reason_text
    )
    unmapped = {}
    for closure, (_d, _r, close) in zip(closures, closed, strict=True):
        deal_closing.send(sender=Deal, deal_id=closure.deal_id, closure_id=closure.pk, via_crm=True)
        transaction.on_commit(
            partial(
                deal_closed.send, sender=Deal, deal_id=closure.deal_id, closure_id=closure.pk, via_crm=True
            )
        )
        if close.unmapped:
            unmapped[close.unmapped] = unmapped.get(close.unmapped, 0) + 1
    return unmapped
