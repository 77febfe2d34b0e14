"""Scheduling and cancelling a closure's follow-ups, inside the deal services' transactions.

followups.receivers calls these when deals.signals says a deal is closing or reopening. On
PostgreSQL the sequence is chosen and recorded, and its steps and the deal's contacts (with
their opt-outs) read, in one statement; the follow-ups then go in with one insert. Elsewhere
(SQLite for `make run`) the same rows come from the ORM, query by query.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from deals.models import Closure, Contact, Deal, DealStatus
from followups import emails
from followups.errors import FollowUpError
from followups.models import (
    DUE_STATES,
    ClosureSequence,
    ContactOptOut,
    FollowUp,
    FollowUpKind,
    FollowUpState,
    NurtureSequence,
    NurtureStep,
    ReasonSequenceDefault,
    StepAction,
)

# A backdated close (CRM import, demo data) does not schedule work that was due long ago.
BACKDATE_GRACE = timedelta(days=14)
REMINDER_HOUR = time(9, 0)
# Off: the ORM path on PostgreSQL too (the tests run it there, so both paths stay checked).
ONE_STATEMENT = True


def at_reminder_hour(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, REMINDER_HOUR))


@dataclass(frozen=True)
class _Plan:
    """What a closure's follow-ups are made of, as recorded and read."""

    sequence_id: int | None
    steps: list[NurtureStep]
    contacts: list[Contact]  # every contact of the deal, by id (the first names owner tasks)
    opted_out: set[int]  # ids of contacts whose address opted out


def followups_schedule_for_closure(
    *,
    closure: Closure,
    sequence: NurtureSequence | None = None,
    skip_nurture: bool = False,
    now: datetime | None = None,
) -> list[FollowUp]:
    """Schedule a lost / no-decision closure's nurture steps and its reopen reminder.

    The sequence is the rep's choice, else the reason's active default, else none (`skip_nurture`
    means none even if the reason has a default). Records the choice in ClosureSequence.
    Call inside the close's transaction: a refusal (FollowUpError, which the deal services raise
    again as a DealError naming the same field) undoes the close too.
    `closure.deal` is the locked deal, with its owner and account loaded (for the titles).
    """
    if closure.outcome not in (DealStatus.LOST, DealStatus.NO_DECISION):
        return []
    if sequence is not None and not skip_nurture and not sequence.active:
        raise FollowUpError(f"The sequence “{sequence}” is no longer active.", field="nurture_sequence")
    chosen = None if skip_nurture else sequence
    if ONE_STATEMENT and connection.vendor == "postgresql":
        plan = _record_in_one_statement(closure=closure, sequence=chosen, skip_nurture=skip_nurture)
    else:
        plan = _record_with_orm(closure=closure, sequence=chosen, skip_nurture=skip_nurture)
    rows = _rows(closure=closure, plan=plan, now=now or timezone.now())
    if not rows:
        return []
    if ONE_STATEMENT and connection.vendor == "postgresql":
        return _insert(rows)
    return FollowUp.objects.bulk_create(rows)


def _rows(*, closure: Closure, plan: _Plan, now: datetime) -> list[FollowUp]:
    deal = closure.deal
    horizon = now - BACKDATE_GRACE
    common = {"deal": deal, "closure": closure, "assignee_id": deal.owner_id, "created_at": now}
    recipients = [c for c in plan.contacts if c.email and c.pk not in plan.opted_out]
    title = emails.followup_titles(deal, plan.contacts[0] if plan.contacts else None)
    rows: list[FollowUp] = []
    for step in plan.steps:
        due_at = closure.closed_at + timedelta(days=step.days_after_close)
        if due_at < horizon or not step.active:  # a deactivated step: for past closes only
            continue
        kept = {"sequence_id": plan.sequence_id, "step": step, "due_at": due_at, **common}
        if step.action == StepAction.OWNER_TASK:
            rows.append(FollowUp(kind=FollowUpKind.OWNER_TASK, title=title(step), **kept))
        else:
            rows.extend(
                FollowUp(kind=FollowUpKind.CONTACT_EMAIL, contact=c, title=title(step, c), **kept)
                for c in recipients
            )
    if closure.revisit_on is not None:
        due_at = at_reminder_hour(closure.revisit_on)
        if due_at >= horizon:
            reminder = FollowUp(kind=FollowUpKind.REOPEN_REMINDER, due_at=due_at, title=title(None), **common)
            rows.append(reminder)
    return rows


def opted_out_emails(emails_: list[str]) -> set[str]:
    """Which of these addresses opted out (lower-cased, as opt-outs are kept)."""
    from deals.erasure import email_fingerprint

    lowered = {e.lower(): e.lower() for e in emails_ if e}
    # An erased person's opt-out is kept only as a fingerprint of the address: still honoured.
    lowered.update({email_fingerprint(e): e for e in list(lowered)})
    found = ContactOptOut.objects.filter(email__in=list(lowered)).values_list("email", flat=True)
    return {lowered[key] for key in found}


def _record_with_orm(*, closure: Closure, sequence: NurtureSequence | None, skip_nurture: bool) -> _Plan:
    """The ORM's way: the reason's default and its steps in one query, then the choice, the
    contacts, and the opt-outs when a step e-mails someone."""
    if skip_nurture:
        chosen, source, steps = None, ClosureSequence.Source.SKIPPED, []
    elif sequence is not None:
        chosen, source, steps = sequence, ClosureSequence.Source.REP, list(sequence.steps.all())
    else:
        chosen, source, steps = _reason_default(closure.reason_id)
    ClosureSequence.objects.create(closure=closure, sequence=chosen, source=source)
    contacts = list(closure.deal.contacts.order_by("pk")) if steps else []
    opted_out: set[int] = set()
    if any(c.email for c in contacts) and any(s.action != StepAction.OWNER_TASK for s in steps):
        gone = opted_out_emails([c.email for c in contacts])
        opted_out = {c.pk for c in contacts if c.email and c.email.lower() in gone}
    return _Plan(chosen.pk if chosen else None, steps, contacts, opted_out)


def _reason_default(reason_id: int | None):
    """(sequence, source, steps) of the reason's active default; a default without steps costs
    a second query."""
    if reason_id is None:
        return None, ClosureSequence.Source.NONE, []
    steps = list(
        NurtureStep.objects.select_related("sequence").filter(
            sequence__reason_defaults__reason_id=reason_id, sequence__active=True
        )
    )
    if steps:
        return steps[0].sequence, ClosureSequence.Source.REASON_DEFAULT, steps
    default = (
        ReasonSequenceDefault.objects.select_related("sequence")
        .filter(reason_id=reason_id, sequence__active=True)
        .first()
    )
    if default:
        return default.sequence, ClosureSequence.Source.REASON_DEFAULT, []
    return None, ClosureSequence.Source.NONE, []


# The rep's sequence, else the reason's active default (at most one: one default per reason),
# recorded; then the chosen sequence's steps and the deal's contacts with their opt-outs.
_RECORD_SQL = """
    WITH chosen AS (
        SELECT %(sequence)s::bigint AS id, %(rep)s AS source WHERE %(sequence)s::bigint IS NOT NULL
        UNION ALL
        SELECT d.sequence_id, %(reason_default)s
          FROM followups_reasonsequencedefault d
          JOIN followups_nurturesequence s ON s.id = d.sequence_id AND s.active
         WHERE d.reason_id = %(reason)s AND %(sequence)s::bigint IS NULL AND NOT %(skip)s
    ), recorded AS (
        INSERT INTO followups_closuresequence (closure_id, sequence_id, source)
        SELECT %(closure)s, (SELECT id FROM chosen), coalesce((SELECT source FROM chosen), %(otherwise)s)
        RETURNING sequence_id
    )
    SELECT r.sequence_id,
           (SELECT json_agg(row_to_json(s) ORDER BY s.position, s.days_after_close)
              FROM followups_nurturestep s WHERE s.sequence_id = r.sequence_id),
           (SELECT json_agg(json_build_object(
                       'contact', row_to_json(c),
                       'opted_out',
                       EXISTS (SELECT 1 FROM followups_contactoptout o WHERE o.email IN (
                           lower(c.email),
                           'sha256:' || encode(sha256(convert_to('closedlost-opt-out:' || lower(c.email),
                                                                 'UTF8')), 'hex'))))
                   ORDER BY c.id)
              FROM deals_contact c JOIN deals_deal_contacts dc ON dc.contact_id = c.id
             WHERE dc.deal_id = %(deal)s AND r.sequence_id IS NOT NULL)
      FROM recorded r
"""


def _record_in_one_statement(
    *, closure: Closure, sequence: NurtureSequence | None, skip_nurture: bool
) -> _Plan:
    params = {
        "rep": ClosureSequence.Source.REP.value,
        "reason_default": ClosureSequence.Source.REASON_DEFAULT.value,
        "sequence": sequence.pk if sequence else None,
        "reason": closure.reason_id,
        "skip": skip_nurture,
        "closure": closure.pk,
        "otherwise": (ClosureSequence.Source.SKIPPED if skip_nurture else ClosureSequence.Source.NONE).value,
        "deal": closure.deal_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        sequence_id, steps, contacts = cursor.fetchone()
    steps = [_instance(NurtureStep, row) for row in _json(steps)]
    found = _json(contacts)
    return _Plan(
        sequence_id,
        steps,
        [_instance(Contact, item["contact"]) for item in found],
        {item["contact"]["id"] for item in found if item["opted_out"]},
    )


_INSERT_SQL: dict[int, str] = {}  # by row count (the usual few), built on first use


def _insert_sql(count: int) -> str:
    sql = _INSERT_SQL.get(count)
    if sql is None:
        fields = [f for f in FollowUp._meta.concrete_fields if not f.primary_key]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        # Column names from the model; every value is a parameter.
        sql = f"INSERT INTO followups_followup ({columns}) VALUES {', '.join([one_row] * count)} RETURNING id"  # noqa: S608
        if count <= 32:
            _INSERT_SQL[count] = sql
    return sql


def _insert(rows: list[FollowUp]) -> list[FollowUp]:
    """bulk_create's one INSERT, without its per-call query building (the close's hot path)."""
    fields = [f for f in FollowUp._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(getattr(row, f.attname), connection) for row in rows for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(len(rows)), values)
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk
            row._state.adding, row._state.db = False, connection.alias
    return rows


def _json(value) -> list:
    return json.loads(value) if isinstance(value, str) else (value or [])


def _instance(model, row: dict):
    fields = model._meta.concrete_fields
    return model.from_db(connection.alias, [f.attname for f in fields], [row[f.column] for f in fields])


def followups_cancel_for_deal(*, deal: Deal, reason: str, now: datetime | None = None) -> int:
    """Cancel everything still to come for a deal (it was reopened or won). Returns how many."""
    # Under a worker's row lock the UPDATE waits, then re-checks the state: an email that
    # just went out stays `sent`.
    return (
        FollowUp.objects.filter(deal=deal)
        .filter(
            Q(state__in=[*DUE_STATES, FollowUpState.QUEUED])
            | (Q(state__in=[FollowUpState.SENT, FollowUpState.FAILED]) & ~Q(kind=FollowUpKind.CONTACT_EMAIL))
        )
        .update(state=FollowUpState.CANCELLED, cancelled_reason=reason, completed_at=now or timezone.now())
    )
