"""The set-based route: new deals of a chunk written with one COPY per table instead of the
services' per-row statements (ten to twenty times faster on a first import of a large export).

It takes only rows whose close the rules plainly allow, and writes exactly what the services
would for them (crm.importing.apply for everything else):
- deal_create + deal_mark_lost / deal_mark_no_decision / deal_mark_won / deal_mark_lost_from_crm:
  the Deal in its final state, one Closure (stage, amount and currency at close), one status
  DealEvent (actor: CRM), a skipped nurture choice (ClosureSequence) for a historical lost or
  no-decision close with a reason, the CRM's text for a deal waiting for a reason, and the
  deal_closed signal on commit (deal_closing's receivers have nothing to do for a new deal a CRM
  closed: no write-back goes to the CRM it came from, and the nurture choice is written here);
- the rules: the reason comes from reason_for_crm_text (active, of the close's kind); a reason
  that needs a competitor or a note the row cannot give goes to the services instead, which
  decide; a won row whose win reason does not map (or is missing where the pipeline asks for one)
  is won, waiting for its reason (deal_mark_won_from_crm);
- the database still checks every constraint, and the dashboards' summary is kept by the same
  statement triggers (they see these INSERTs like any other; tests compare it with a rebuild).
"""

from functools import partial

from django.db import transaction

from closedlost.bulk import insert_rows
from crm.changes import normalise_reason_text
from crm.importing.columns import LOST, NO_DECISION, OPEN, WON
from crm.importing.rows import Close, Lookups, Reasons, Row, earlier_outcome
from crm.models import EXTERNAL_ID_FIELD, CrmLostReason, ImportJob
from deals.models import Account, Closure, Deal, DealEvent, DealStatus
from deals.services import NOTE_MIN_WORDS
from deals.signals import deal_closed
from followups.models import ClosureSequence

STATUS = {LOST: DealStatus.LOST, WON: DealStatus.WON, NO_DECISION: DealStatus.NO_DECISION}


KIND_LABELS = dict(ImportJob._meta.get_field("kind").flatchoices)


def note_for(job: ImportJob, text: str) -> str:
    """What the services' route notes (job.get_kind_display(), without its per-row lookups)."""
    return f"Imported from {KIND_LABELS.get(job.kind, job.kind)}: “{text}”" if text else ""


def bulk_close(job: ImportJob, row: Row, reasons: Reasons) -> Close | None | bool:
    """The close this route writes for a row: None for an open row, False if the services decide."""
    if row.outcome == OPEN and row.reopened is None:
        return None
    close = reasons.close_of(row, LOST if row.reopened else None)  # reopened: its earlier loss
    reason = close.reason
    if reason is None:
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


def _deal(job: ImportJob, row: Row, close: Close | None, look: Lookups) -> dict:
    """The deal in its final state (a reopened one is open again, at the CRM's stage now)."""
    stage = row.stage or look.first_stage[row.pipeline.pk]
    deal = {
        "name": row.name,
        "account_id": look.accounts[row.account_name].pk,
        "owner_id": row.owner.pk,
        "team_id": row.team.pk,
        "pipeline_id": row.pipeline.pk,
        "stage_id": stage.pk,
        "amount": row.amount,
        "currency": row.currency,
        "expected_close_date": row.expected_close,
        "status": DealStatus.OPEN,
        EXTERNAL_ID_FIELD[job.kind]: row.external_id,
    }
    if row.created is not None:
        deal["created_at"] = row.created
    if close is not None and row.reopened is None:
        deal.update(
            status=STATUS[close.outcome],
            closed_at=row.closed,
            needs_reason=close.needs_reason,
            close_reason_id=close.reason.pk if close.reason else None,
            close_reason_kind=close.reason.kind if close.reason else None,
        )
    return deal


def _waiting_note(close: Close, text: str) -> str:
    """What deal_mark_lost_from_crm / deal_mark_won_from_crm note for a deal waiting for a reason."""
    return f"CRM {'win ' if close.outcome == WON else ''}reason: {text}" if text else ""


def _closure(job: ImportJob, deal_id: int, row: Row, close: Close, look: Lookups) -> dict:
    text = row.won_reason_text if close.outcome == WON else row.reason_text
    return {
        "deal_id": deal_id,
        "outcome": STATUS[close.outcome],
        "reason_id": close.reason.pk if close.reason else None,
        "reason_kind": close.reason.kind if close.reason else None,
        "competitor_id": close.competitor.pk if close.competitor else None,
        "note": _waiting_note(close, text) if close.needs_reason else note_for(job, text),
        "stage_at_close_id": (row.closed_stage or row.stage or look.first_stage[row.pipeline.pk]).pk,
        "amount_at_close": row.amount,
        "currency": row.currency,
        "closed_at": row.closed,
        "needs_reason": close.needs_reason,
        "reopened_at": row.reopened,
    }


def _events(closed: list, closure_ids: list[int], look: Lookups) -> list[dict]:
    """A status event per close; per reopen, a status event back to open (and the stage it went to)."""
    crm, status, stage_field = DealEvent.ActorKind.CRM, DealEvent.Field.STATUS, DealEvent.Field.STAGE
    events = []
    for (deal_id, row, close), closure_id in zip(closed, closure_ids, strict=True):
        outcome = STATUS[close.outcome]
        common = {"deal_id": deal_id, "actor_kind": crm, "actor_id": None}
        if row.reopened_earlier is not None:  # closed, reopened, then closed again: the reopen's row
            before = STATUS[earlier_outcome(row)]
            events.append({**common, "field": status, "from_value": before, "to_value": DealStatus.OPEN,
                           "closure_id": None, "at": row.reopened_earlier})  # fmt: skip
        events.append({**common, "field": status, "from_value": DealStatus.OPEN, "to_value": outcome,
                       "closure_id": closure_id, "at": row.closed})  # fmt: skip
        if row.reopened is None:
            continue
        events.append({**common, "field": status, "from_value": outcome, "to_value": DealStatus.OPEN,
                       "closure_id": closure_id, "at": row.reopened})  # fmt: skip
        closed_at = row.closed_stage or row.stage or look.first_stage[row.pipeline.pk]
        if row.stage is not None and row.stage.pk != closed_at.pk:
            events.append({**common, "field": stage_field, "from_value": closed_at.name,
                           "to_value": row.stage.name, "closure_id": None, "at": row.reopened})  # fmt: skip
    return events


def bulk_create_rows(*, job: ImportJob, rows: list[tuple[Row, Close | None]], look: Lookups) -> dict:
    """Write the rows' deals (and closes); returns {(outcome, unmapped CRM text): rows}. Call in a
    transaction."""
    deal_ids = insert_rows(Deal, [_deal(job, row, close, look) for row, close in rows])
    closed = [(pk, row, close) for pk, (row, close) in zip(deal_ids, rows, strict=True) if close is not None]
    closure_ids = insert_rows(Closure, [_closure(job, pk, row, close, look) for pk, row, close in closed])
    insert_rows(DealEvent, _events(closed, closure_ids, look), returning=False)
    insert_rows(
        ClosureSequence,
        [
            {"closure_id": closure_id, "sequence_id": None, "source": ClosureSequence.Source.SKIPPED}
            for closure_id, (_pk, _row, close) in zip(closure_ids, closed, strict=True)
            if close.outcome != WON and not close.needs_reason
        ],
        returning=False,
    )
    waiting = [(pk, row.won_reason_text if close.outcome == WON else row.reason_text)
               for pk, row, close in closed if close.needs_reason]  # fmt: skip
    insert_rows(
        CrmLostReason,
        [
            {"deal_id": pk, "kind": job.kind, "crm_value": normalise_reason_text(text), "text": text}
            for pk, text in waiting
            if text
        ],
        returning=False,
    )
    unmapped = {}
    for closure_id, (deal_id, _row, close) in zip(closure_ids, closed, strict=True):
        transaction.on_commit(
            partial(deal_closed.send, sender=Deal, deal_id=deal_id, closure_id=closure_id, via_crm=True)
        )
        if key := close.unmapped_key:
            unmapped[key] = unmapped.get(key, 0) + 1
    return unmapped
