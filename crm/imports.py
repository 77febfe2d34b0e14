"""CSV import of CRM deal exports: upsert by the CRM's id, one row never stops the others.

Each row runs in its own savepoint; a bad row becomes ImportRowError(row, field, problem)
and the good rows land. Closing goes through deals.services like everywhere else. Running
the same file twice changes nothing the second time.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from crm.models import EXTERNAL_ID_FIELD, ImportJob, ImportRowError
from deals import services as deal_services
from deals.models import Account, Deal, DealStatus, Pipeline
from teams.models import Team, User

CHUNK = 500

# Our field → (label on the mapping page, required).
FIELDS = {
    "external_id": ("CRM record id", True),
    "name": ("Deal name", True),
    "owner": ("Owner (user name, e-mail or full name)", True),
    "stage": ("Stage", True),
    "status": ("Status (won / lost / open), if a separate column", False),
    "pipeline": ("Pipeline", False),
    "account": ("Account / company", False),
    "amount": ("Amount", False),
    "currency": ("Currency", False),
    "created": ("Created date", False),
    "closed": ("Close date", False),
    "reason": ("Loss reason", False),
}

# Column names in each CRM's standard deal export.
PRESETS = {
    "hubspot": {
        "external_id": ["Record ID", "Deal ID"],
        "name": ["Deal Name"],
        "owner": ["Deal owner", "Deal Owner"],
        "stage": ["Deal Stage"],
        "pipeline": ["Pipeline"],
        "account": ["Associated Company", "Company name"],
        "amount": ["Amount"],
        "currency": ["Currency"],
        "created": ["Create Date"],
        "closed": ["Close Date"],
        "reason": ["Closed Lost Reason"],
    },
    "salesforce": {
        "external_id": ["Opportunity ID", "Id"],
        "name": ["Opportunity Name"],
        "owner": ["Opportunity Owner", "Owner Email"],
        "stage": ["Stage"],
        "account": ["Account Name"],
        "amount": ["Amount"],
        "currency": ["Opportunity Currency", "Amount Currency"],
        "created": ["Created Date"],
        "closed": ["Close Date"],
        "reason": ["Loss Reason", "Closed Lost Reason"],
    },
    "pipedrive": {
        "external_id": ["Deal - ID", "ID"],
        "name": ["Deal - Title", "Title"],
        "owner": ["Deal - Owner", "Owner"],
        "stage": ["Deal - Stage", "Stage"],
        "status": ["Deal - Status", "Status"],
        "pipeline": ["Deal - Pipeline", "Pipeline"],
        "account": ["Deal - Organization", "Organization"],
        "amount": ["Deal - Value", "Value"],
        "currency": ["Deal - Currency", "Currency"],
        "created": ["Deal - Deal created", "Deal created"],
        "closed": ["Deal - Lost time", "Deal - Deal closed on", "Deal closed on"],
        "reason": ["Deal - Lost reason", "Lost reason"],
    },
}

LOST_WORDS = {"lost", "closed lost", "closedlost", "closed - lost"}
WON_WORDS = {"won", "closed won", "closedwon", "closed - won"}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d.%m.%Y"]


class RowError(Exception):
    def __init__(self, field: str, problem: str, value: str = ""):
        super().__init__(problem)
        self.field, self.problem, self.value = field, problem, value


def import_job_create(*, kind: str, filename: str, content: str, actor: User) -> ImportJob:
    total = max(sum(1 for _ in csv.reader(io.StringIO(content))) - 1, 0)
    return ImportJob.objects.create(
        kind=kind, filename=filename[:255], content=content, created_by=actor, total_rows=total
    )


def import_job_start(*, job: ImportJob, column_map: dict[str, str]) -> None:
    """Save the column mapping and hand the import to the worker (one transaction)."""
    from crm.services import HANDOFF_IMPORT
    from outbox.services import handoff_enqueue

    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.MAPPING).update(
            column_map=column_map, status=ImportJob.Status.QUEUED
        )
        if updated:
            handoff_enqueue(kind=HANDOFF_IMPORT, items=[job.pk])


def _parse_amount(raw: str) -> Decimal:
    if raw.strip() and not re.search(r"\d", raw):
        raise RowError("amount", "is not a number", raw)
    cleaned = re.sub(r"[^\d.\-]", "", raw.replace(",", ""))
    try:
        value = Decimal(cleaned) if cleaned else Decimal("0")
    except InvalidOperation as exc:
        raise RowError("amount", "is not a number", raw) from exc
    if value < 0:
        raise RowError("amount", "cannot be negative", raw)
    if value >= Decimal("1e12"):
        raise RowError("amount", "is too large", raw)
    return value.quantize(Decimal("0.01"))


def _parse_when(raw: str, field: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007 - made aware just below
                break
            except ValueError:
                continue
    if parsed is None:
        raise RowError(field, "is not a date (use YYYY-MM-DD)", raw)
    if isinstance(parsed, date) and not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time(12))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Lookups:
    users: dict
    pipelines: dict
    stages: dict  # (pipeline id, lower name) -> Stage
    first_stage: dict  # pipeline id -> Stage
    accounts: dict
    teams: dict  # user id -> Team


def _lookups() -> _Lookups:
    users = {}
    for user in User.objects.all():
        for key in {user.username, user.email, user.get_full_name()}:
            if key:
                users.setdefault(key.casefold(), user)
    pipelines = {p.name.casefold(): p for p in Pipeline.objects.prefetch_related("stages")}
    stages, first_stage = {}, {}
    for pipeline in pipelines.values():
        ordered = sorted(pipeline.stages.all(), key=lambda s: s.order)
        if ordered:
            first_stage[pipeline.pk] = ordered[0]
        for stage in ordered:
            stages[(pipeline.pk, stage.name.casefold())] = stage
    teams, team_rows = {}, Team.objects.in_bulk()
    for user_id, team_id in User.objects.filter(memberships__isnull=False).values_list(
        "pk", "memberships__team_id"
    ).order_by("pk", "memberships__id"):  # fmt: skip
        teams.setdefault(user_id, team_rows[team_id])
    return _Lookups(users, pipelines, stages, first_stage, {}, teams)


def _outcome(values: dict) -> str:
    for field in ("status", "stage"):
        word = " ".join(values.get(field, "").casefold().split())
        if word in LOST_WORDS:
            return DealStatus.LOST
        if word in WON_WORDS:
            return DealStatus.WON
    return DealStatus.OPEN


@dataclass
class _Row:
    external_id: str
    name: str
    owner: User
    team: Team
    pipeline: Pipeline
    stage: object  # Stage or None for a closed deal whose stage the export does not name
    outcome: str
    amount: Decimal
    currency: str
    created: datetime | None
    closed: datetime | None
    account_name: str
    reason_text: str


def _parse_row(values: dict, look: _Lookups) -> _Row:
    """Check one row without touching the database; raises RowError naming the field."""
    external_id = values.get("external_id", "").strip()
    if not external_id:
        raise RowError("external_id", "is empty")
    if not _ID.match(external_id):
        raise RowError("external_id", "may hold only letters, digits, - and _", external_id)
    name = values.get("name", "").strip()
    if not name:
        raise RowError("name", "is empty")
    if len(name) > 200:
        raise RowError("name", "is longer than 200 characters", name[:50])
    owner_key = values.get("owner", "").strip()
    owner = look.users.get(owner_key.casefold())
    if owner is None:
        raise RowError("owner", "matches no user (by user name, e-mail or full name)", owner_key)
    team = look.teams.get(owner.pk)
    if team is None:
        raise RowError("owner", "is in no team", owner_key)
    pipeline_name = values.get("pipeline", "").strip()
    if pipeline_name:
        pipeline = look.pipelines.get(pipeline_name.casefold())
        if pipeline is None:
            raise RowError("pipeline", "matches no pipeline", pipeline_name)
    elif len(look.pipelines) == 1:
        pipeline = next(iter(look.pipelines.values()))
    else:
        raise RowError("pipeline", "is needed: there is more than one pipeline")
    outcome = _outcome(values)
    stage_name = values.get("stage", "").strip()
    stage = look.stages.get((pipeline.pk, stage_name.casefold()))
    if stage is None and outcome == DealStatus.OPEN:
        raise RowError("stage", f"matches no stage of pipeline “{pipeline.name}”", stage_name)
    amount = _parse_amount(values.get("amount", ""))
    currency = (values.get("currency", "").strip() or "USD").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise RowError("currency", "is not a three-letter currency code", currency)
    created = _parse_when(values.get("created", ""), "created")
    closed = _parse_when(values.get("closed", ""), "closed")
    if outcome != DealStatus.OPEN and closed is None:
        raise RowError("closed", "is needed for a closed deal")
    return _Row(
        external_id=external_id,
        name=name,
        owner=owner,
        team=team,
        pipeline=pipeline,
        stage=stage,
        outcome=outcome,
        amount=amount,
        currency=currency,
        created=created,
        closed=closed,
        account_name=values.get("account", "").strip()[:200] or name,
        reason_text=values.get("reason", "").strip()[:300],
    )


def _is_unchanged(deal: Deal, row: _Row, reasons: "_Reasons") -> bool:
    """Nothing in the row would change the deal (so it needs no write at all)."""
    if deal.name != row.name or deal.amount != row.amount:
        return False
    if deal.is_open:
        return row.outcome == DealStatus.OPEN and (row.stage is None or row.stage.pk == deal.stage_id)
    # A closed deal only changes when it waits for a reason and the row now gives one that maps.
    return not (deal.needs_reason and row.reason_text and reasons.get(row.reason_text)[0] is not None)


class _Reasons:
    """Reason lookups of one import run, cached by text; unmapped texts counted once per row."""

    def __init__(self, kind: str):
        from crm.services import reason_for_crm_text

        self.kind, self.lookup, self.cache, self.unmapped = kind, reason_for_crm_text, {}, {}

    def get(self, text: str):
        if text not in self.cache:
            self.cache[text] = self.lookup(kind=self.kind, text=text) if text else (None, None)
        return self.cache[text]


def _apply_row(*, job: ImportJob, row: _Row, deal: Deal | None, look: _Lookups, reasons: _Reasons):
    """Write one row (inside its savepoint). Returns (result, deal, unmapped text or "")."""
    from crm.services import crm_lost_reason_record

    id_field = EXTERNAL_ID_FIELD[job.kind]
    unmapped = ""
    if deal is None:
        account = look.accounts.get(row.account_name)
        if account is None:
            account = Account.objects.filter(name=row.account_name).first() or Account.objects.create(
                name=row.account_name
            )
            look.accounts[row.account_name] = account
        deal = deal_services.deal_create(
            name=row.name,
            account=account,
            owner=row.owner,
            team=row.team,
            stage=row.stage or look.first_stage[row.pipeline.pk],
            amount=row.amount,
            currency=row.currency,
            created_at=row.created,
            external_ids={id_field: row.external_id},
        )
        result = "created"
    else:
        result = "updated"
        deal = deal_services.deal_update_details(
            deal=deal, name=row.name, amount=row.amount, actor=None, via_crm=True
        )
        if deal.is_open and row.stage is not None and row.stage.pk != deal.stage_id:
            deal = deal_services.deal_change_stage(deal=deal, stage=row.stage, actor=None)
    if deal.is_open and row.outcome == DealStatus.LOST:
        reason, competitor = reasons.get(row.reason_text)
        closed = False
        if reason is not None:
            try:
                deal_services.deal_mark_lost(
                    deal=deal,
                    reason=reason,
                    actor=None,
                    competitor=competitor,
                    note=f"Imported from {job.get_kind_display()}: “{row.reason_text}”",
                    closed_at=row.closed,
                    via_crm=True,
                    skip_nurture=True,  # a historical close: no nurture e-mails now
                )
                closed = True
            except deal_services.DealAlreadyClosed:
                raise
            except deal_services.DealError:
                pass  # e.g. needs a competitor the export does not name: ask the rep
        if not closed:
            unmapped = row.reason_text if reason is None else ""
            deal_services.deal_mark_lost_from_crm(
                deal=deal, crm_reason_text=row.reason_text, closed_at=row.closed
            )
            crm_lost_reason_record(deal=deal, kind=job.kind, text=row.reason_text)
    elif deal.is_open and row.outcome == DealStatus.WON:
        try:
            deal_services.deal_mark_won(
                deal=deal, reason=None, actor=None, closed_at=row.closed, via_crm=True
            )
        except deal_services.DealError as exc:
            raise RowError(
                "status", f"won, but {exc.message[0].lower()}{exc.message[1:]} Close it here."
            ) from exc
    elif deal.status == DealStatus.LOST and deal.needs_reason and row.reason_text:
        reason, competitor = reasons.get(row.reason_text)
        if reason is not None:
            deal_services.deal_give_reason(
                deal=deal, reason=reason, actor=None, competitor=competitor, via_crm=True
            )
    return result, deal, unmapped


class _Redo(Exception):
    """A row failed after writing: undo the chunk and run it again row by row in savepoints."""


def _error(job: ImportJob, line: int, exc: Exception) -> ImportRowError:
    if isinstance(exc, RowError):
        return ImportRowError(job=job, row=line, field=exc.field, problem=exc.problem, value=exc.value[:300])
    return ImportRowError(job=job, row=line, field=exc.field or "row", problem=exc.message[:300])


def _import_chunk(*, job, parsed, look, reasons, savepoints: bool):
    """Apply the parsed rows of one chunk; returns (counts, errors, unmapped texts).

    Without `savepoints` (the fast path) the first row that fails raises _Redo; with them,
    each row has its own savepoint and a failing row is only recorded.
    """
    id_field = EXTERNAL_ID_FIELD[job.kind]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors, unmapped = [], {}
    ids = [row.external_id for _, row in parsed]
    existing = {getattr(d, id_field): d for d in Deal.objects.filter(**{f"{id_field}__in": ids})}
    for line, row in parsed:
        deal = existing.get(row.external_id)
        if deal is not None and _is_unchanged(deal, row, reasons):
            counts["unchanged"] += 1
            continue
        try:
            if savepoints:
                with transaction.atomic():
                    result, deal, text = _apply_row(job=job, row=row, deal=deal, look=look, reasons=reasons)
            else:
                result, deal, text = _apply_row(job=job, row=row, deal=deal, look=look, reasons=reasons)
        except (RowError, deal_services.DealError) as exc:
            if not savepoints:
                raise _Redo from exc
            errors.append(_error(job, line, exc))
            continue
        existing[row.external_id] = deal
        counts[result] += 1
        if text:
            unmapped[text] = unmapped.get(text, 0) + 1
    return counts, errors, unmapped


def import_job_run(*, job_id: int) -> str:
    """Import every row of a queued job, in chunks, recording progress and per-row errors."""
    from crm.services import unmapped_reason_record

    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return "not claimed"
    job = ImportJob.objects.get(pk=job_id)
    try:
        reader = csv.reader(io.StringIO(job.content))
        header = next(reader, [])
        index = {column: i for i, column in enumerate(header)}
        columns = {field: index[column] for field, column in job.column_map.items() if column in index}
        look, reasons = _lookups(), _Reasons(job.kind)
        totals = {"created": 0, "updated": 0, "unchanged": 0}
        processed, rows = 0, enumerate(reader, start=2)
        while True:
            chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            parsed, parse_errors = [], []
            for line, raw in chunk:
                values = {field: raw[i] if i < len(raw) else "" for field, i in columns.items()}
                try:
                    parsed.append((line, _parse_row(values, look)))
                except RowError as exc:
                    parse_errors.append(_error(job, line, exc))
            accounts = dict(look.accounts)
            try:
                with transaction.atomic():
                    counts, errors, unmapped = _import_chunk(
                        job=job, parsed=parsed, look=look, reasons=reasons, savepoints=False
                    )
                    _chunk_done(job, parse_errors + errors, unmapped, counts, totals, unmapped_reason_record)
            except _Redo:
                look.accounts = accounts  # accounts made by the undone attempt are gone
                with transaction.atomic():
                    counts, errors, unmapped = _import_chunk(
                        job=job, parsed=parsed, look=look, reasons=reasons, savepoints=True
                    )
                    _chunk_done(job, parse_errors + errors, unmapped, counts, totals, unmapped_reason_record)
            processed += len(chunk)
            ImportJob.objects.filter(pk=job.pk).update(
                processed_rows=processed,
                created_count=totals["created"],
                updated_count=totals["updated"],
                unchanged_count=totals["unchanged"],
                error_count=job.error_count,
            )
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, finished_at=timezone.now(), total_rows=processed
        )
        return "done"
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise


def _chunk_done(job, errors, unmapped, counts, totals, record_unmapped) -> None:
    """Inside the chunk's transaction: errors, the classification queue, and the totals."""
    for text, count in unmapped.items():
        record_unmapped(kind=job.kind, text=text, count=count)
    ImportRowError.objects.bulk_create(sorted(errors, key=lambda e: e.row))
    job.error_count += len(errors)
    for key, value in counts.items():
        totals[key] += value
