"""The CRM's people (HubSpot owners, Pipedrive and Salesforce users) and the connection's owner
map, which says which of our people each CRM owner id is.

- `crm_owners_read`: the CRM's owners through its adapter (CrmUnavailable / CrmRefused when
  the CRM cannot be read: the page says so, never a 500);
- `owner_map_assign`: the one service that adds entries to the owner map, under the connection's
  row lock, through `connection_update` (with a history row); a person holds one CRM owner id
  per CRM (as on the connection page), so an entry replaces the person's earlier id;
- `owner_crm_id`: the CRM owner id of one of our people (for the owner write-back).
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.adapters import adapter_for
from crm.adapters.base import CrmOwner
from crm.models import CrmConnection
from crm.services import connection_update
from crm.sync.fetch import CrmNotFound, CrmRefused, CrmUnavailable, sync_fetcher
from teams.models import User

__all__ = ["CrmOwner", "CrmRefused", "CrmUnavailable", "crm_owners_read", "owner_map_assign", "owner_crm_id"]


def crm_owners_read(*, connection: CrmConnection, timeout: float = 20.0) -> list[CrmOwner]:
    """The CRM's owners, each id once, in the CRM's order."""
    adapter = adapter_for(connection.kind)
    fetch = sync_fetcher(connection, timeout=timeout, auth=adapter.auth_headers(connection=connection))
    try:
        owners = adapter.list_owners(connection=connection, fetch=fetch)
    except CrmNotFound as exc:
        raise CrmRefused(f"{connection} has no such list: {exc}") from exc
    return list({owner.crm_id: owner for owner in reversed(owners)}.values())[::-1]


@dataclass(frozen=True)
class OwnerMapChange:
    crm_id: str
    username: str
    before_id: str  # the person's earlier CRM owner id, "" if none
    before_user: str  # who the id named before, "" if nobody


def owner_map_assign(
    *, kind: str, assignments: dict[str, str], actor: User | None, note: str = ""
) -> list[OwnerMapChange]:
    """Give each CRM owner id (key) to one of our people (value: their user name), in one
    transaction under the connection's row lock, with a history row (the connection's). The
    person's earlier id is dropped; an id that named someone else names this person now.
    Unchanged entries are left out of the result."""
    for crm_id, username in assignments.items():
        if not str(crm_id).strip() or len(str(crm_id)) > 64 or not username:
            raise ValidationError({"owner_map": f"“{crm_id}” → “{username}” is not an owner map entry."})
    if len(set(assignments.values())) != len(assignments):
        raise ValidationError({"owner_map": "A person can hold one CRM owner id only."})
    with transaction.atomic():
        connection = CrmConnection.objects.select_for_update().get(kind=kind)
        owner_map = dict(connection.owner_map or {})
        changes = []
        for crm_id, username in assignments.items():
            crm_id = str(crm_id).strip()
            if owner_map.get(crm_id) == username:
                continue
            earlier = [i for i, name in owner_map.items() if name == username]
            for old in earlier:
                del owner_map[old]
            before_user = owner_map.get(crm_id, "")
            owner_map[crm_id] = username
            changes.append(OwnerMapChange(crm_id, username, ", ".join(earlier), before_user))
        if changes:
            connection_update(kind=kind, actor=actor, note=note, owner_map=owner_map)
    return changes


def owner_crm_id(*, connection: CrmConnection, user: User) -> str | None:
    """The CRM owner id the connection's owner map gives `user` (by user name, or by an entry
    that names their e-mail address), None if it gives none."""
    keys = {user.get_username().casefold(), (user.email or "").casefold()} - {""}
    return next(
        (
            str(crm_id)
            for crm_id, name in (connection.owner_map or {}).items()
            if str(name).casefold() in keys
        ),
        None,
    )
