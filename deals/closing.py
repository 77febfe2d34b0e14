"""The rows of one close, written under the deal's row lock (deals.services decides the rules).

On PostgreSQL the close is one statement: a data-modifying CTE locks the deal FOR UPDATE,
inserts the closure (and its secondary reasons) only if the deal is still open, updates the
deal and inserts the status event, and returns the locked row with its owner and account.
Elsewhere (SQLite for `make run`) the same rows are written through the ORM, one by one. The
database's constraints and triggers see the same rows either way.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, connection

from deals.models import Account, Closure, ClosureSecondaryReason, Deal, DealEvent, DealStatus
from deals.rows import attnames, columns, instance
from reasons.models import Competitor, Reason
from teams.models import User

# Off: the ORM path on PostgreSQL too (the tests run it there, so both paths stay checked).
ONE_STATEMENT = True


@dataclass(frozen=True)
class CloseRows:
    """What a close writes, as given by the service."""

    outcome: str
    reason: Reason | None
    competitor: Competitor | None
    note: str
    revisit_on: date | None
    secondary_reasons: tuple[Reason, ...]
    actor: User | None
    actor_kind: str
    closed_at: datetime
    needs_reason: bool


def close_write(*, deal_id: int, rows: CloseRows) -> tuple[Deal, Closure | None]:
    """Lock the deal; if it is open, write the close. Returns the locked deal (owner and account
    loaded, as it was before the close) and the new closure, or None when the deal was not open."""
    if ONE_STATEMENT and connection.vendor == "postgresql":
        return _write_in_one_statement(deal_id=deal_id, rows=rows)
    return _write_with_orm(deal_id=deal_id, rows=rows)


def _closure(locked: Deal, rows: CloseRows) -> Closure:
    return Closure(
        deal=locked,
        outcome=rows.outcome,
        reason=rows.reason,
        reason_kind=rows.reason.kind if rows.reason else None,
        competitor=rows.competitor,
        note=rows.note,
        revisit_on=rows.revisit_on,
        actor=rows.actor,
        stage_at_close_id=locked.stage_id,
        amount_at_close=locked.amount,
        currency=locked.currency,
        closed_at=rows.closed_at,
        needs_reason=rows.needs_reason,
    )


def _write_with_orm(*, deal_id: int, rows: CloseRows) -> tuple[Deal, Closure | None]:
    locked = Deal.objects.select_for_update(of=("self",)).select_related("owner", "account").get(pk=deal_id)
    if locked.status != DealStatus.OPEN:
        return locked, None
    closure = _closure(locked, rows)
    closure.save(force_insert=True)
    ClosureSecondaryReason.objects.bulk_create(
        ClosureSecondaryReason(closure=closure, reason=reason) for reason in rows.secondary_reasons
    )
    updated = Deal.objects.filter(pk=locked.pk, status=DealStatus.OPEN).update(
        status=rows.outcome,
        close_reason=rows.reason,
        close_reason_kind=closure.reason_kind,
        closed_at=rows.closed_at,
        needs_reason=rows.needs_reason,
    )
    if updated != 1:  # cannot happen under the row lock; refuse rather than write twice
        raise IntegrityError("deal changed under its row lock")
    DealEvent.objects.create(
        deal=locked,
        field=DealEvent.Field.STATUS,
        from_value=DealStatus.OPEN,
        to_value=rows.outcome,
        actor=rows.actor,
        actor_kind=rows.actor_kind,
        closure=closure,
        at=rows.closed_at,
    )
    return locked, closure


def _close_sql() -> str:
    deal, owner, account = columns(Deal), columns(User), columns(Account)
    selected = ", ".join([f"d.{c}" for c in deal] + [f"o.{c}" for c in owner] + [f"a.{c}" for c in account])
    # Only column names from the models are formatted in; every value is a parameter.
    return f"""
        WITH locked AS (
            SELECT {", ".join(deal)} FROM deals_deal WHERE id = %(deal)s FOR UPDATE
        ), closure AS (
            INSERT INTO deals_closure (deal_id, outcome, reason_id, reason_kind, competitor_id, note,
                revisit_on, actor_id, stage_at_close_id, amount_at_close, currency, closed_at, needs_reason)
            SELECT id, %(outcome)s, %(reason)s, %(reason_kind)s, %(competitor)s, %(note)s, %(revisit_on)s,
                   %(actor)s, stage_id, amount, currency, %(closed_at)s, %(needs_reason)s
              FROM locked WHERE status = 'open'
            RETURNING id, deal_id
        ), secondary AS (
            INSERT INTO deals_closuresecondaryreason (closure_id, reason_id)
            SELECT closure.id, r.id FROM closure, unnest(%(secondary)s::bigint[]) AS r(id)
        ), updated AS (
            UPDATE deals_deal d SET status = %(outcome)s, close_reason_id = %(reason)s,
                   close_reason_kind = %(reason_kind)s, closed_at = %(closed_at)s,
                   needs_reason = %(needs_reason)s
              FROM closure WHERE d.id = closure.deal_id AND d.status = 'open'
            RETURNING d.id
        ), event AS (
            INSERT INTO deals_dealevent (deal_id, field, from_value, to_value, actor_id, actor_kind,
                closure_id, at)
            SELECT deal_id, 'status', 'open', %(outcome)s, %(actor)s, %(actor_kind)s, id, %(closed_at)s
              FROM closure
        )
        SELECT (SELECT id FROM closure), (SELECT count(*) FROM updated), {selected}
          FROM locked d JOIN teams_user o ON o.id = d.owner_id JOIN deals_account a ON a.id = d.account_id
    """  # noqa: S608


_SQL: list[str] = []  # built once, on first use (the models' columns are known by then)


def _write_in_one_statement(*, deal_id: int, rows: CloseRows) -> tuple[Deal, Closure | None]:
    if not _SQL:
        _SQL.append(_close_sql())
    params = {
        "deal": deal_id,
        "outcome": rows.outcome,
        "reason": rows.reason.pk if rows.reason else None,
        "reason_kind": rows.reason.kind if rows.reason else None,
        "competitor": rows.competitor.pk if rows.competitor else None,
        "note": rows.note,
        "revisit_on": rows.revisit_on,
        "actor": rows.actor.pk if rows.actor else None,
        "actor_kind": rows.actor_kind,
        "closed_at": rows.closed_at,
        "needs_reason": rows.needs_reason,
        "secondary": [reason.pk for reason in rows.secondary_reasons],
    }
    with connection.cursor() as cursor:
        cursor.execute(_SQL[0], params)
        found = cursor.fetchone()
    if found is None:
        raise Deal.DoesNotExist(f"Deal {deal_id} does not exist.")
    closure_id, updated, *values = found
    deal_width, owner_width = len(attnames(Deal)), len(attnames(User))
    locked = instance(Deal, values)
    locked.owner = instance(User, values[deal_width:])
    locked.account = instance(Account, values[deal_width + owner_width :])
    if closure_id is None:
        return locked, None
    if updated != 1:  # cannot happen under the row lock; refuse rather than write twice
        raise IntegrityError("deal changed under its row lock")
    closure = _closure(locked, rows)
    closure.pk = closure_id
    closure._state.adding, closure._state.db = False, connection.alias
    return locked, closure
