"""Deals, companies and buyers fed by a team's own integration (the API), upserted by its
`external_id`: the same id sent again updates what it made instead of making it twice.

Writes go through deals.contacts (companies, buyers, who is on a deal) and deals.details (create,
details, stage, owner), so history rows and follow-ups follow as for any other change. A refusal is
a DealError naming the field. Whether the caller may see an existing record is the API's check
(deals.selectors), made before any of these is called.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from closedlost.errors import Conflict
from deals.contacts import Link, accounts_upsert, contacts_upsert, deal_contact_add, deal_contacts_set
from deals.details import deal_change_owner, deal_change_stage, deal_create, deal_update_details
from deals.errors import DealError
from deals.models import Account, Contact, Deal, DealContact, DealEvent, Stage, StageOutcome
from deals.selectors import managed_team_ids
from teams.models import Membership, Team, User

SOURCE = "external"
_CURRENT = "__current__"  # the key under which a record's present company is passed along


class RecordConflict(DealError, Conflict):
    """Two requests made the same external id at once; the later one is refused whole."""


@dataclass(frozen=True)
class Person:
    """A buyer as an integration sends them; `role` and `is_primary` are about one deal."""

    external_id: str
    name: str = ""
    email: str = ""
    title: str = ""
    role: str = ""
    is_primary: bool = False


def _merged(current, given: dict, names: tuple[str, ...]) -> dict:
    """The values to store: what was given, else what the record has (PATCH leaves the rest)."""
    return {name: given[name] if name in given else getattr(current, name, None) for name in names}


def account_upsert(*, external_id: str, values: dict) -> tuple[Account, bool]:
    """Create or update the company with this external id. `values`: any of name, domain,
    industry, employees (a new company needs a name). Returns (account, created)."""
    current = Account.objects.filter(external_id=external_id).first()
    if current is None and not (values.get("name") or "").strip():
        raise DealError("A new company needs a name.", field="name")
    merged = _merged(current, values, ("name", "domain", "industry", "employees"))
    company = {"id": external_id, **{k: v for k, v in merged.items() if v is not None}}
    try:
        with transaction.atomic():
            account = accounts_upsert(source=SOURCE, companies=[company])[external_id]
    except IntegrityError as exc:
        raise RecordConflict("That company was just created by another request; send it again.") from exc
    return account, current is None


def contact_upsert(*, external_id: str, values: dict, account: Account | None = None) -> tuple[Contact, bool]:
    """Create or update the buyer with this external id (`values`: name, email, title). An erased
    buyer stays erased. `account`: their company (None keeps the present one)."""
    current = Contact.objects.filter(external_id=external_id).select_related("account").first()
    if current is None and not ((values.get("name") or "").strip() or (values.get("email") or "").strip()):
        raise DealError("A new contact needs a name or an e-mail address.", field="name")
    merged = _merged(current, values, ("name", "email", "title"))
    company = account or (current.account if current else None)
    person = {"id": external_id, **{k: v or "" for k, v in merged.items()}, "company": _CURRENT}
    try:
        with transaction.atomic():
            people = contacts_upsert(
                source=SOURCE, people=[person], accounts={_CURRENT: company} if company else {}
            )
    except IntegrityError as exc:
        raise RecordConflict("That contact was just created by another request; send it again.") from exc
    return people[external_id], current is None


def _owner_and_team(*, actor: User, owner: User | None) -> tuple[User, Team]:
    """Reps own what they create; managers may give a deal to someone in a team they manage;
    admins to anyone in a team."""
    owner = owner or actor
    if owner.pk != actor.pk and not actor.is_revops_admin:
        managed = managed_team_ids(actor)
        if not Membership.objects.filter(user=owner, team_id__in=managed).exists():
            raise DealError("You can give a deal only to someone in a team you manage.", field="owner")
    membership = Membership.objects.filter(user=owner).select_related("team").order_by("pk").first()
    if membership is None:
        raise DealError(f"{owner.get_username()} is in no team, so cannot own a deal.", field="owner")
    return owner, membership.team


def _open_stage(stage: Stage) -> Stage:
    if not stage.active:
        raise DealError(f"Stage “{stage.name}” is retired; choose an open stage.", field="stage")
    if stage.outcome != StageOutcome.OPEN:
        raise DealError(
            f"Stage “{stage.name}” closes deals; create the deal in an open stage and mark it lost or won.",
            field="stage",
        )
    return stage


def _set_contacts(*, deal: Deal, people: list[Person], actor: User, account: Account | None) -> None:
    """Make the deal's buyers exactly `people` (upserted by external id); the first marked
    primary is the primary one."""
    links = []
    for person in people:
        values = {"name": person.name, "email": person.email, "title": person.title}
        contact, _ = contact_upsert(external_id=person.external_id, values=values, account=account)
        links.append(Link(contact.pk, person.role, person.is_primary))
    deal_contacts_set(links={deal.pk: links}, actor=actor, actor_kind=DealEvent.ActorKind.USER)


def deal_upsert(
    *,
    actor: User,
    external_id: str,
    existing: Deal | None,
    name: str | None = None,
    account: Account | None = None,
    owner: User | None = None,
    stage: Stage | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    expected_close_date: date | None = None,
    contacts: list[Person] | None = None,
) -> tuple[Deal, bool]:
    """Create the deal with this external id, or update `existing` (the caller found it by the id
    and may see it). Only what is given changes; `contacts` given replaces the deal's buyers.
    Returns (deal, created)."""
    with transaction.atomic():
        if existing is None:
            missing = [f for f, v in (("name", name), ("account", account), ("stage", stage)) if v is None]
            if missing:
                raise DealError(f"A new deal needs a {missing[0]}.", field=missing[0])
            deal_owner, team = _owner_and_team(actor=actor, owner=owner)
            try:
                with transaction.atomic():
                    deal = deal_create(
                        name=name,
                        account=account,
                        owner=deal_owner,
                        team=team,
                        stage=_open_stage(stage),
                        amount=amount if amount is not None else Decimal("0"),
                        currency=currency or "USD",
                        expected_close_date=expected_close_date,
                        external_ids={"external_id": external_id},
                    )
            except IntegrityError as exc:
                raise RecordConflict(
                    "A deal with this external id was just created by another request; send it again "
                    "to update it."
                ) from exc
            created = True
        else:
            deal, created = Deal.objects.select_for_update().get(pk=existing.pk), False
            if name is not None or amount is not None:
                deal_update_details(
                    deal=deal,
                    name=name if name is not None else deal.name,
                    amount=amount if amount is not None else deal.amount,
                    actor=actor,
                )
            if stage is not None and stage.pk != deal.stage_id:
                if stage.pipeline_id != deal.pipeline_id:
                    raise DealError(f"Stage “{stage.name}” is not in this deal's pipeline.", field="stage")
                deal_change_stage(deal=deal, stage=_open_stage(stage), actor=actor)
            if owner is not None and owner.pk != deal.owner_id:
                _owner_and_team(actor=actor, owner=owner)
                deal_change_owner(deal=deal, owner=owner, actor=actor)
            plain = {
                k: v
                for k, v in (
                    ("account", account),
                    ("currency", currency),
                    ("expected_close_date", expected_close_date),
                )
                if v is not None and getattr(deal, k) != v
            }
            if plain:
                Deal.objects.filter(pk=deal.pk).update(**plain)
                deal.refresh_from_db()
        if contacts is not None:
            _set_contacts(deal=deal, people=contacts, actor=actor, account=deal.account)
    return deal, created


def _clean_person(*, name: str, email: str, title: str) -> dict:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    name, email, title = (name or "").strip(), (email or "").strip().lower(), (title or "").strip()
    if not name and not email:
        raise DealError("Give the contact a name or an e-mail address.", field="name")
    if len(name) > 200:
        raise DealError("The name is longer than 200 characters.", field="name")
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise DealError(f"“{email}” is not an e-mail address.", field="email") from exc
    return {"name": name or email, "email": email, "title": title[:120]}


def deal_contact_create(
    *,
    deal: Deal,
    actor: User,
    name: str,
    email: str,
    title: str = "",
    role: str = "",
    is_primary: bool = False,
) -> Contact:
    """A rep adds a buyer on the deal page: a new contact of the deal's company, on the deal.
    If the deal is already closed lost, the close's e-mails still to come are scheduled for them."""
    values = _clean_person(name=name, email=email, title=title)
    if values["email"] and DealContact.objects.filter(deal=deal, contact__email=values["email"]).exists():
        raise DealError(f"{values['email']} is already a contact on this deal.", field="email")
    with transaction.atomic():
        contact = Contact.objects.create(account=deal.account, **values)
        deal_contact_add(
            deal=deal, contact=contact, role=(role or "").strip()[:100], is_primary=is_primary, actor=actor
        )
    return contact


def deal_contact_update(
    *,
    deal: Deal,
    contact: Contact,
    actor: User,
    name: str,
    email: str,
    title: str,
    role: str,
    is_primary: bool,
) -> Contact:
    """Correct a buyer's name, address or title, and their role on the deal. A contact synced from
    a CRM keeps the CRM's name and address (the next sync would undo a change here)."""
    if contact.erased_at is not None:
        raise DealError("This contact was erased; add the person again if they came back.", field="name")
    values = _clean_person(name=name, email=email, title=title)
    from_crm = any(getattr(contact, f) for f in ("hubspot_id", "salesforce_id", "pipedrive_id"))
    with transaction.atomic():
        if not from_crm:
            Contact.objects.filter(pk=contact.pk).update(**values, updated_at=timezone.now())
        elif (values["name"], values["email"]) != (contact.name, contact.email):
            raise DealError(
                "This contact comes from the CRM: change their name and address there.", field="name"
            )
        deal_contact_add(
            deal=deal, contact=contact, role=(role or "").strip()[:100], is_primary=is_primary, actor=actor
        )
    contact.refresh_from_db()
    return contact
