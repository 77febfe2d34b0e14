"""A deal's details: create it, rename it and set its amount, move its stage, change its owner,
link it to CRMs.

Each function is atomic and keyword-only, takes the deal's row lock for a change, records
DealEvent rows, and raises DealError naming the form field when a rule says no.
"""

import re
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from deals.errors import DealError
from deals.models import Closure, Deal, DealEvent, DealStatus, Stage
from deals.signals import deal_owner_changing
from teams.models import User

CRM_ID_FIELDS = {"hubspot_id": "HubSpot", "salesforce_id": "Salesforce", "pipedrive_id": "Pipedrive"}
CRM_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the id ends up in the CRM's API URLs
AMOUNT_LIMIT = Decimal("1e12")  # the column holds 14 digits, 2 of them cents


def _validate_amount(amount: Decimal) -> None:
    """The database refuses a negative amount too (deal_amount_not_negative)."""
    if amount < 0:
        raise DealError("The amount cannot be negative.", field="amount")
    if amount >= AMOUNT_LIMIT:
        raise DealError(f"The amount must be under {AMOUNT_LIMIT:,.0f}.", field="amount")


def actor_kind(actor: User | None, *, via_crm: bool = False) -> str:
    """Who made a change, for its DealEvent: a CRM, a user, or the system."""
    if via_crm:
        return DealEvent.ActorKind.CRM
    return DealEvent.ActorKind.USER if actor is not None else DealEvent.ActorKind.SYSTEM


def deal_change_stage(
    *, deal: Deal, stage: Stage, actor: User | None, changed_at: datetime | None = None
) -> Deal:
    """Move an open deal to another stage of its pipeline."""
    with transaction.atomic():
        locked = Deal.objects.select_for_update().select_related("stage").get(pk=deal.pk)
        if locked.status != DealStatus.OPEN:
            raise DealError("Only an open deal can change stage; reopen it first.", field="stage")
        if stage.pipeline_id != locked.pipeline_id:
            raise DealError(f"Stage “{stage}” is not in this deal's pipeline.", field="stage")
        if stage.pk == locked.stage_id:
            return locked
        if not stage.active or stage.outcome != "open":
            why = "is retired" if not stage.active else "closes the deal (mark it won or lost instead)"
            raise DealError(f"Stage “{stage}” {why}; choose an open stage.", field="stage")
        DealEvent.objects.create(
            deal=locked,
            field=DealEvent.Field.STAGE,
            from_value=locked.stage.name,
            to_value=stage.name,
            actor=actor,
            actor_kind=actor_kind(actor),
            at=changed_at or timezone.now(),
        )
        Deal.objects.filter(pk=locked.pk).update(stage=stage)
    deal.refresh_from_db()
    return deal


def deal_update_details(
    *, deal: Deal, name: str, amount: Decimal, actor: User | None, via_crm: bool = False
) -> Deal:
    """Rename a deal and set its amount (a changed amount is recorded as a DealEvent), under the
    deal's row lock; the caller's instance is refreshed. Unchanged values write nothing."""
    _validate_amount(amount)
    with transaction.atomic():
        locked = Deal.objects.select_for_update().get(pk=deal.pk)
        changed = {}
        if locked.name != name:
            changed["name"] = name
        if locked.amount != amount:
            DealEvent.objects.create(
                deal=locked,
                field=DealEvent.Field.AMOUNT,
                from_value=str(locked.amount),
                to_value=str(amount),
                actor=actor,
                actor_kind=actor_kind(actor, via_crm=via_crm),
            )
            changed["amount"] = amount
        if changed:
            Deal.objects.filter(pk=locked.pk).update(**changed)
    if changed:
        deal.refresh_from_db()
    return deal


def deal_create(
    *,
    name: str,
    account,
    owner: User,
    team,
    stage: Stage,
    amount: Decimal,
    currency: str = "USD",
    created_at: datetime | None = None,
    expected_close_date: date | None = None,
    external_ids: dict[str, str] | None = None,
) -> Deal:
    """Create an open deal in `stage` (and so in its pipeline).

    `external_ids`: the deal's ids in CRMs, e.g. {"hubspot_id": "123"}.
    """
    _validate_amount(amount)
    allowed = {"external_id", "hubspot_id", "salesforce_id", "pipedrive_id"}
    if external_ids and not set(external_ids) <= allowed:
        raise DealError(f"Unknown external id field: {sorted(set(external_ids) - allowed)}.")
    return Deal.objects.create(
        **(external_ids or {}),
        name=name,
        account=account,
        owner=owner,
        team=team,
        pipeline_id=stage.pipeline_id,
        stage=stage,
        amount=amount,
        currency=currency,
        created_at=created_at or timezone.now(),
        expected_close_date=expected_close_date,
    )


def deal_link_crm(*, deal: Deal, actor: User | None, links: dict[str, str | None]) -> Deal:
    """Link the deal to its record in one or more CRMs (an empty value unlinks it).

    An id can belong to one deal only; each change is recorded in the deal's history.
    """
    wanted = {}
    for field, value in links.items():
        if field not in CRM_ID_FIELDS:
            raise DealError(f"“{field}” is not a CRM link; use {', '.join(CRM_ID_FIELDS)}.", field=field)
        value = (value or "").strip() or None
        if value is not None and not CRM_ID_PATTERN.match(value):
            raise DealError(
                f"A {CRM_ID_FIELDS[field]} id holds only letters, digits, - and _ (at most 64).", field=field
            )
        wanted[field] = value
    now = timezone.now()
    with transaction.atomic():
        locked = Deal.objects.select_for_update(of=("self",)).get(pk=deal.pk)
        changed = {field: value for field, value in wanted.items() if getattr(locked, field) != value}
        for field, value in changed.items():
            holder = Deal.objects.filter(**{field: value}).exclude(pk=locked.pk).first() if value else None
            if holder is not None:
                raise DealError(
                    f"{CRM_ID_FIELDS[field]} id “{value}” is already linked to “{holder}”.", field=field
                )
        if not changed:
            return deal
        try:
            with transaction.atomic():  # another link may take the id between the check and here
                Deal.objects.filter(pk=locked.pk).update(**changed)
        except IntegrityError as exc:
            field = next(iter(changed))
            raise DealError(
                "That id was just linked to another deal; reload and try again.", field=field
            ) from exc
        DealEvent.objects.bulk_create(
            DealEvent(
                deal=locked,
                field=DealEvent.Field.CRM_LINK,
                from_value=f"{CRM_ID_FIELDS[field]} {getattr(locked, field) or '(none)'}",
                to_value=f"{CRM_ID_FIELDS[field]} {value or '(none)'}",
                actor=actor,
                actor_kind=actor_kind(actor),
                at=now,
            )
            for field, value in changed.items()
        )
    for field, value in changed.items():
        setattr(deal, field, value)
    return deal


def deal_change_owner(
    *, deal: Deal, owner: User, actor: User | None, changed_at: datetime | None = None, via_crm: bool = False
) -> Deal:
    """Give the deal to `owner` (a CRM reassigned it, or an admin did), recording a DealEvent.
    Receivers of deal_owner_changing move what was the previous owner's on this deal (the open
    follow-ups) in the same transaction. Unchanged owner: nothing is written."""
    with transaction.atomic():
        locked = Deal.objects.select_for_update(of=("self",)).select_related("owner").get(pk=deal.pk)
        if locked.owner_id == owner.pk:
            return deal
        DealEvent.objects.create(
            deal=locked, field=DealEvent.Field.OWNER, from_value=locked.owner.get_username(),
            to_value=owner.get_username(), actor=actor, actor_kind=actor_kind(actor, via_crm=via_crm),
            at=changed_at or timezone.now(),
        )  # fmt: skip
        Deal.objects.filter(pk=locked.pk).update(owner=owner)
        deal_owner_changing.send(
            sender=Deal, deal_id=locked.pk, previous_owner_id=locked.owner_id, owner=owner, via_crm=via_crm
        )
    deal.owner = owner
    return deal


def deal_set_competitor(*, deal: Deal, competitor) -> bool:
    """The standing close of a closed deal names `competitor` (a CRM's competitor field named it
    after the close); False when the deal is open or its close already names it."""
    with transaction.atomic():
        Deal.objects.select_for_update().filter(pk=deal.pk).first()  # as every change of the deal
        updated = (
            Closure.objects.filter(deal_id=deal.pk, reopened_at__isnull=True)
            .exclude(competitor=competitor)
            .update(competitor=competitor)
        )
    return bool(updated)
