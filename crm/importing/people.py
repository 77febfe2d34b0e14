"""The buyers and the company domain an export names beside its deals.

A contacts cell holds one or more people separated by ";" (or new lines), each as HubSpot's
"Associated Contact" writes them — `Name (email)` — or `Name <email>`, a bare address, or a bare
name. They are matched by address (else created for the deal's company) and put on the deal;
people already on it keep their role and primary flag. A malformed address is the row's error,
naming the contacts column. Nothing here changes the deal rows: it runs after them, in the chunk's
transaction, so a chunk undone is undone with its people.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from crm.importing.columns import RowError
from crm.models import EXTERNAL_ID_FIELD, ImportJob
from deals.contacts import Link, deal_contacts_set
from deals.models import Account, Contact, Deal, DealContact, DealEvent

PERSON = re.compile(r"^(?P<name>.*?)\s*[(<]\s*(?P<email>[^()<>\s]+)\s*[)>]\s*$")
PEOPLE_PER_CELL = 50
DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


@dataclass(frozen=True)
class Buyer:
    name: str
    email: str


def _address(raw: str, item: str) -> str:
    email = raw.strip().lower().removeprefix("mailto:")
    try:
        validate_email(email)
    except ValidationError as exc:
        raise RowError("contacts", "holds an address that is not an e-mail address", item) from exc
    return email


def parse_people(cell: str) -> list[Buyer]:
    """The people of one contacts cell, in order, each address once."""
    items = [item.strip() for item in re.split(r"[;\n]", cell or "") if item.strip()]
    if len(items) > PEOPLE_PER_CELL:
        raise RowError("contacts", f"names more than {PEOPLE_PER_CELL} people", cell[:300])
    people, seen = [], set()
    for item in items:
        match = PERSON.match(item)
        if match:
            name, email = match["name"].strip().strip('"'), _address(match["email"], item)
        elif "@" in item:
            name, email = "", _address(item, item)
        else:
            name, email = item.strip('"'), ""
        if len(name) > 200:
            raise RowError("contacts", "holds a name longer than 200 characters", item[:300])
        key = email or name.casefold()
        if key in seen:
            continue
        seen.add(key)
        people.append(Buyer(name=name or email, email=email))
    return people


def parse_domain(cell: str) -> str:
    domain = (
        (cell or "").strip().lower().removeprefix("https://").removeprefix("http://").removeprefix("www.")
    )
    domain = domain.split("/")[0]
    if domain and not DOMAIN.match(domain):
        raise RowError("company_domain", "is not a domain name", cell[:300])
    return domain


def attach_people(row, values: dict) -> None:
    """Read the row's people and company domain (RowError names the column)."""
    row.buyers = parse_people(values.get("contacts", ""))
    row.company_domain = parse_domain(values.get("company_domain", ""))


def people_apply(*, job: ImportJob, parsed: list) -> int:
    """Put each imported row's people on its deal and give its company the domain it lacks.
    Returns how many people were put on deals. A few statements per chunk."""
    wanted = [
        (row.external_id, row)
        for _line, row in parsed
        if getattr(row, "buyers", None) or getattr(row, "company_domain", "")
    ]
    if not wanted:
        return 0
    id_field = EXTERNAL_ID_FIELD[job.kind]
    deals = {
        getattr(d, id_field): d
        for d in Deal.objects.filter(**{f"{id_field}__in": [key for key, _ in wanted]}).select_related(
            "account"
        )
    }
    domains = {}
    for key, row in wanted:
        deal = deals.get(key)
        if deal is not None and row.company_domain and not deal.account.domain:
            domains[deal.account_id] = row.company_domain
    for account_id, domain in domains.items():
        Account.objects.filter(pk=account_id, domain="").update(domain=domain)

    addresses = {b.email for _, row in wanted for b in getattr(row, "buyers", []) if b.email}
    known = {}
    for contact in Contact.objects.filter(email__in=addresses, erased_at__isnull=True).order_by("pk"):
        known.setdefault(contact.email, contact)
    on_deal = {}
    for deal_id, contact_id in DealContact.objects.filter(deal__in=deals.values()).values_list(
        "deal_id", "contact_id"
    ):
        on_deal.setdefault(deal_id, set()).add(contact_id)
    new, plan = [], []
    for key, row in wanted:
        deal = deals.get(key)
        if deal is None:
            continue
        for buyer in getattr(row, "buyers", []):
            contact = known.get(buyer.email) if buyer.email else None
            if contact is None:
                contact = Contact(account_id=deal.account_id, name=buyer.name, email=buyer.email)
                new.append(contact)
                if buyer.email:
                    known[buyer.email] = contact
            plan.append((deal, contact))
    Contact.objects.bulk_create(new)
    links = {}
    for deal, contact in plan:
        if contact.pk in on_deal.get(deal.pk, set()):
            continue  # already on the deal: its role and primary flag stay as they are
        on_deal.setdefault(deal.pk, set()).add(contact.pk)
        links.setdefault(deal.pk, []).append(Link(contact.pk))
    if links:
        deal_contacts_set(links=links, actor=None, actor_kind=DealEvent.ActorKind.CRM, remove_others=False)
    return sum(len(items) for items in links.values())
