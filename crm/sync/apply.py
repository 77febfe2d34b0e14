"""Writing what a sync read: deals (through the import's rows: the set-based route for new plain
deals, the deal services for the rest), their companies, their contacts with role and primary
flag, and the CRM's e-mail opt-outs (ours at once, never undone).

A first sync's closed deals are history: their closes schedule no nurture e-mails. A deal the
CRM creates later arrives through crm.sync.continuous instead, which closes it through the same
rules as a webhook (so its buyers get their e-mails)."""

from dataclasses import dataclass, field

from django.db import transaction

from crm.changes import unmapped_reason_record
from crm.importing.chunk import ChunkRedo, rows_upsert  # shared with the CSV import
from crm.importing.columns import RowError
from crm.importing.rows import Lookups, Reasons, Row, lookups
from crm.models import CrmConnection, ImportJob
from crm.sync.shapes import OPEN, CrmDeal
from deals.contacts import Link, accounts_upsert, contacts_upsert, deal_contacts_set
from deals.models import Deal, Stage
from followups.services import contacts_opt_out


@dataclass
class Mirror:
    """What one run knows of our side: users, teams, pipelines and stages by the CRM's ids."""

    look: Lookups
    pipelines: dict  # CRM pipeline id -> Pipeline
    stages: dict  # (pipeline pk, CRM stage id) -> Stage
    reasons: Reasons

    @classmethod
    def load(cls, connection: CrmConnection) -> "Mirror":
        field = connection.external_id_field
        look = lookups()
        pipelines = {getattr(p, field): p for p in look.pipelines.values() if getattr(p, field)}
        stages = {
            (s.pipeline_id, getattr(s, field)): s
            for s in Stage.objects.filter(
                **{f"{field}__isnull": False}, pipeline__in=list(pipelines.values())
            )
        }
        return cls(look, pipelines, stages, Reasons(connection.kind))


@dataclass
class Applied:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    contacts: int = 0
    skipped: list = field(default_factory=list)  # (id, name, why)


def owner_of(connection: CrmConnection, look: Lookups, value: str):
    """Our user for the CRM's owner: the owner map (id → user name or e-mail), else an e-mail."""
    mapped = (connection.owner_map or {}).get(str(value), "")
    key = (mapped or value or "").strip()
    if not key or (not mapped and "@" not in key):
        return None
    return look.users.get(key.casefold())


def _stage_and_outcome(mirror: Mirror, pipeline, deal: CrmDeal) -> tuple[Stage | None, Stage | None, str]:
    """(stage now or at close, the CRM's closed stage, outcome): a mirrored closed stage decides
    the outcome; a closed deal sits at the stage it closed at when the CRM says which."""
    now = mirror.stages.get((pipeline.pk, deal.stage_value)) if deal.stage_value else None
    outcome = now.outcome if now is not None and now.outcome != OPEN else deal.outcome
    if outcome == OPEN:
        return now or mirror.stages.get((pipeline.pk, deal.stage_id)), None, OPEN
    before = mirror.stages.get((pipeline.pk, deal.stage_id)) if deal.stage_id else None
    at_close = before if before is not None and before.outcome == OPEN else now
    return at_close or mirror.look.first_stage.get(pipeline.pk), now, outcome


def deal_row(connection: CrmConnection, mirror: Mirror, deal: CrmDeal) -> Row | str:
    """The import row for a CRM deal, or why it cannot come in."""
    owner = owner_of(connection, mirror.look, deal.owner)
    if owner is None:
        return f"owner {deal.owner or '(none)'} matches no user: add it to the owner map"
    team = mirror.look.teams.get(owner.pk)
    if team is None:
        return f"owner {owner.username} is in no team"
    pipeline = mirror.pipelines.get(deal.pipeline_id)
    if pipeline is None:
        return f"pipeline {deal.pipeline_id} is not mirrored"
    stage, _closed_stage, outcome = _stage_and_outcome(mirror, pipeline, deal)
    if stage is None:
        return f"stage {deal.stage_id or deal.stage_value} is not in pipeline “{pipeline.name}”"
    if outcome != OPEN and deal.closed is None:
        return "closed without a close date"
    competitor = (
        mirror.look.competitors.get(deal.competitor_text.casefold()) if deal.competitor_text else None
    )
    company = deal.company
    closed = outcome != OPEN
    return Row(
        external_id=deal.external_id,
        name=deal.name[:200],
        owner=owner,
        team=team,
        pipeline=pipeline,
        stage=stage,
        closed_stage=stage if closed else None,
        outcome=outcome,
        amount=deal.amount,
        currency=deal.currency[:3] or "USD",
        created=deal.created,
        closed=deal.closed if closed else None,
        reopened=None,
        account_name=_account_key(connection, company.external_id if company else ""),
        industry=company.industry[:100] if company else "",
        employees=company.employees if company else None,
        expected_close=deal.expected_close.date() if deal.expected_close else None,
        reason_text=deal.reason_text[:300],
        won_reason_text=deal.won_reason_text[:300],
        competitor=competitor,
    )


def _account_key(connection: CrmConnection, company_id: str) -> str:
    # A deal without a company shares one account per CRM, named so a person sees why.
    return f"{connection.kind}:{company_id}" if company_id else f"No company in {connection}"


def companies_and_people(connection: CrmConnection, mirror: Mirror, deals: list[CrmDeal]) -> dict:
    """Upsert the deals' companies (into the lookups the rows use) and contacts; the CRM's
    opt-outs become ours. Returns {person id: Contact}."""
    companies = {d.company.external_id: d.company for d in deals if d.company}
    accounts = accounts_upsert(
        source=connection.kind,
        companies=[
            {
                "id": c.external_id,
                "name": c.name,
                "domain": c.domain,
                "industry": c.industry,
                "employees": c.employees,
            }
            for c in companies.values()
        ],
    )
    for key, account in accounts.items():
        mirror.look.accounts[_account_key(connection, key)] = account
    people = {c.person.external_id: c.person for d in deals for c in d.contacts}
    contacts = contacts_upsert(
        source=connection.kind,
        people=[
            {"id": p.external_id, "name": p.name, "email": p.email, "title": p.title, "company": p.company_id}
            for p in people.values()
        ],
        accounts=accounts,
    )
    contacts_opt_out(emails=[p.email for p in people.values() if p.opted_out])
    return contacts


def links_set(connection: CrmConnection, deals: list[CrmDeal], contacts: dict) -> int:
    """Each deal's contacts as the CRM has them (those gone from the deal in the CRM leave it)."""
    field = connection.external_id_field
    ids = dict(
        Deal.objects.filter(**{f"{field}__in": [d.external_id for d in deals]}).values_list(field, "pk")
    )
    links = {}
    for deal in deals:
        if deal.external_id in ids:
            links[ids[deal.external_id]] = [
                Link(contacts[c.person.external_id].pk, c.role, c.is_primary)
                for c in deal.contacts
                if c.person.external_id in contacts and contacts[c.person.external_id].erased_at is None
            ]
    return deal_contacts_set(links=links)["added"] if links else 0


def deals_apply(*, connection: CrmConnection, mirror: Mirror, deals: list[CrmDeal]) -> Applied:
    """One page of a first sync (call inside a transaction): companies, contacts, deals, links."""
    applied = Applied()
    contacts = companies_and_people(connection, mirror, deals)
    rows, kept = [], []
    for number, deal in enumerate(deals):
        row = deal_row(connection, mirror, deal)
        if isinstance(row, str):
            applied.skipped.append((deal.external_id, deal.name, row))
        else:
            rows.append((number, row))
            kept.append(deal)
    job = ImportJob(kind=connection.kind, links={})  # not saved: the import's rules need its kind only
    try:
        with transaction.atomic():
            counts, errors, unmapped = rows_upsert(
                job=job, parsed=rows, look=mirror.look, reasons=mirror.reasons, careful=False
            )
    except ChunkRedo:
        counts, errors, unmapped = rows_upsert(
            job=job, parsed=rows, look=mirror.look, reasons=mirror.reasons, careful=True
        )
    failed = {error.row for error in errors}
    for error in errors:
        deal = deals[error.row]
        applied.skipped.append((deal.external_id, deal.name, f"{error.field} {error.problem}"))
    for (outcome, text), count in unmapped.items():
        unmapped_reason_record(kind=connection.kind, text=text, count=count, outcome=outcome)
    applied.created, applied.updated, applied.unchanged = (
        counts["created"],
        counts["updated"],
        counts["unchanged"],
    )
    applied.contacts = links_set(
        connection, [d for n, d in zip([n for n, _ in rows], kept, strict=True) if n not in failed], contacts
    )
    return applied


__all__ = ["Applied", "Mirror", "RowError", "deals_apply", "deal_row", "companies_and_people", "links_set"]
