"""Companies and buyers: upserts by a CRM's (or an integration's) id, and who is on a deal.

Every write of accounts, contacts and deal contacts goes through here (the CRM sync, the API,
imports, pages). Removing a contact from a deal deletes its link and records a DealEvent with the
contact's id (never its name); deals.signals.deal_contacts_changed tells follow-ups.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from closedlost.bulk import insert_rows, update_rows
from deals.errors import DealError
from deals.models import Account, Contact, DealContact, DealEvent
from deals.signals import deal_contacts_changed

ID_FIELDS = ("external_id", "hubspot_id", "salesforce_id", "pipedrive_id")


@dataclass(frozen=True)
class Link:
    """One contact on one deal, as its source has it."""

    contact_id: int
    role: str = ""
    is_primary: bool = False


def _id_field(source: str) -> str:
    field = source if source.endswith("_id") else f"{source}_id"
    if field not in ID_FIELDS:
        raise DealError(f"Unknown id field “{source}”.", field="source")
    return field


def _saved(instance):
    """A model instance for a row just written by COPY: as if read from the database."""
    instance._state.adding, instance._state.db = False, "default"
    return instance


def accounts_upsert(*, source: str, companies: list[dict], now: datetime | None = None) -> dict[str, Account]:
    """Create or update accounts by `source`'s id (hubspot, salesforce, pipedrive or external).

    `companies`: dicts with `id`, `name` and optionally `domain`, `industry`, `employees`.
    Returns {id: Account}. One read and at most one insert and one update for the lot."""
    field, now = _id_field(source), now or timezone.now()
    wanted = {str(c["id"]): c for c in companies if c.get("id")}
    existing = {getattr(a, field): a for a in Account.objects.filter(**{f"{field}__in": list(wanted)})}
    new, changed = [], []
    for key, company in wanted.items():
        values = {
            "name": (company.get("name") or "").strip()[:200] or f"Company {key}",
            "domain": (company.get("domain") or "")[:253],
            "industry": (company.get("industry") or "")[:100],
            "employees": company.get("employees"),
            "updated_at": now,
        }
        account = existing.get(key)
        if account is None:
            new.append({field: key, **values})
        elif any(getattr(account, k) != v for k, v in values.items() if k != "updated_at"):
            for name, value in values.items():
                setattr(account, name, value)
            changed.append({"id": account.pk, **values})
    for pk, values in zip(insert_rows(Account, new), new, strict=True):
        existing[values[field]] = _saved(Account(id=pk, **values))
    update_rows(Account, changed, ["name", "domain", "industry", "employees", "updated_at"])
    return existing


def contacts_upsert(
    *,
    source: str,
    people: list[dict],
    accounts: dict[str, Account] | None = None,
    now: datetime | None = None,
) -> dict[str, Contact]:
    """Create or update contacts by `source`'s id. `people`: dicts with `id`, `name`, `email`,
    optionally `title` and `company` (a key of `accounts`). An erased contact stays erased: its
    row is returned unchanged. Returns {id: Contact}."""
    field, now, accounts = _id_field(source), now or timezone.now(), accounts or {}
    wanted = {str(p["id"]): p for p in people if p.get("id")}
    existing = {getattr(c, field): c for c in Contact.objects.filter(**{f"{field}__in": list(wanted)})}
    new, changed = [], []
    for key, person in wanted.items():
        account = accounts.get(str(person.get("company") or ""))
        values = {
            "name": (person.get("name") or "").strip()[:200] or (person.get("email") or f"Contact {key}"),
            "email": (person.get("email") or "").strip().lower()[:254],
            "title": (person.get("title") or "")[:120],
        }
        contact = existing.get(key)
        if account is not None:  # a company not among `accounts` leaves the contact's as it is
            values["account_id"] = account.pk
        elif contact is not None:
            values["account_id"] = contact.account_id
        if contact is None:
            new.append({field: key, **values, "updated_at": now})
        elif contact.erased_at is None and any(getattr(contact, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(contact, name, value)
            contact.updated_at = now
            changed.append({"id": contact.pk, **values, "updated_at": now})
    for pk, values in zip(insert_rows(Contact, new), new, strict=True):
        existing[values[field]] = _saved(Contact(id=pk, **values))
    update_rows(Contact, changed, ["name", "email", "title", "account", "updated_at"])
    return existing


def _primary_one(links: Iterable[Link]) -> list[Link]:
    """At most one primary (the first named), each contact once."""
    seen, out, primary = set(), [], False
    for link in links:
        if link.contact_id in seen:
            continue
        seen.add(link.contact_id)
        is_primary = link.is_primary and not primary
        primary = primary or is_primary
        out.append(Link(link.contact_id, link.role[:100], is_primary))
    return out


def deal_contacts_set(
    *,
    links: dict[int, list[Link]],
    actor=None,
    actor_kind: str = DealEvent.ActorKind.CRM,
    remove_others: bool = True,
    now: datetime | None = None,
) -> dict:
    """Make each deal's contacts these (`links`: deal id → its contacts, role and primary flag).

    `remove_others`: contacts on a deal but not in its list leave it (a DealEvent records it).
    Returns {"added": n, "removed": n, "changed": n}. A few statements for any number of deals."""
    now = now or timezone.now()
    wanted = {
        deal_id: {link.contact_id: link for link in _primary_one(items)} for deal_id, items in links.items()
    }
    with transaction.atomic():
        current = {}
        for row in DealContact.objects.select_for_update().filter(deal_id__in=list(wanted)):
            current.setdefault(row.deal_id, {})[row.contact_id] = row
        added, removed, changed, demoted = [], [], [], []
        for deal_id, items in wanted.items():
            have = current.get(deal_id, {})
            for contact_id, link in items.items():
                row = have.get(contact_id)
                if row is None:
                    added.append({"deal_id": deal_id, "contact_id": contact_id, "role": link.role,
                                  "is_primary": link.is_primary, "added_at": now})  # fmt: skip
                elif (row.role, row.is_primary) != (link.role, link.is_primary):
                    if row.is_primary and not link.is_primary:
                        demoted.append(row.pk)
                    row.role, row.is_primary = link.role, link.is_primary
                    changed.append(row)
            if remove_others:
                removed += [row for contact_id, row in have.items() if contact_id not in items]
        # A new primary may replace an old one: the old one gives it up first (one primary per deal).
        gone_primary = [row.pk for row in removed if row.is_primary]
        if demoted or gone_primary:
            DealContact.objects.filter(pk__in=demoted + gone_primary).update(is_primary=False)
        DealContact.objects.filter(pk__in=[row.pk for row in removed]).delete()
        update_rows(DealContact, [{"id": r.pk, "role": r.role, "is_primary": r.is_primary} for r in changed],
                    ["role", "is_primary"])  # fmt: skip
        insert_rows(DealContact, added, returning=False)
        common = {"field": DealEvent.Field.CONTACT, "actor_id": getattr(actor, "pk", None),
                  "actor_kind": actor_kind, "at": now, "closure_id": None}  # fmt: skip
        events = [
            {**common, "deal_id": row.deal_id, "from_value": str(row.contact_id), "to_value": ""}
            for row in removed
        ] + [{**common, "deal_id": row["deal_id"], "from_value": "", "to_value": str(row["contact_id"])}
             for row in added]  # fmt: skip
        insert_rows(DealEvent, events, returning=False)
        if added or removed:
            deal_contacts_changed.send(
                sender=DealContact,
                added=[(row["deal_id"], row["contact_id"]) for row in added],
                removed=[(row.deal_id, row.contact_id) for row in removed],
            )
    return {"added": len(added), "removed": len(removed), "changed": len(changed)}


def deal_contact_add(*, deal, contact: Contact, role: str = "", is_primary: bool = False, actor=None) -> None:
    """Put one contact on a deal (or change its role / primary flag); the others stay."""
    kind = DealEvent.ActorKind.USER if actor is not None else DealEvent.ActorKind.SYSTEM
    others = DealContact.objects.filter(deal=deal).exclude(contact=contact)
    keep = [Link(c.contact_id, c.role, False) for c in others] if is_primary else []
    deal_contacts_set(
        links={deal.pk: [Link(contact.pk, role, is_primary), *keep]}, actor=actor, actor_kind=kind,
        remove_others=False,
    )  # fmt: skip


def deal_contact_remove(*, deal, contact: Contact, actor=None) -> None:
    """Take one contact off a deal: its pending e-mails for the deal are cancelled, history kept."""
    kind = DealEvent.ActorKind.USER if actor is not None else DealEvent.ActorKind.SYSTEM
    others = [
        Link(c.contact_id, c.role, c.is_primary)
        for c in DealContact.objects.filter(deal=deal).exclude(contact=contact)
    ]
    deal_contacts_set(links={deal.pk: others}, actor=actor, actor_kind=kind)
