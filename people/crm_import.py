"""Import people from the CRM: its owners (HubSpot) or users (Pipedrive, Salesforce), read through
the connection's adapter, matched to our people by e-mail (case-insensitive).

The import fills the connection's owner map for every match (crm.owners.owner_map_assign, with a
PersonEvent per person whose CRM owner id changed) and invites the chosen unmatched owners
(people.services.user_invite: their account exists at once, so their CRM id is mapped too and
their deals come in with them). An inactive CRM user is shown but not offered by default; a
deactivated person here is never invited again (reactivate them instead)."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models.functions import Lower

from crm.models import CrmConnection
from crm.owners import CrmOwner, crm_owners_read, owner_map_assign
from people.errors import PeopleError
from people.history import person_event
from people.models import PersonEvent
from people.services import user_invite
from teams.models import Team, User


@dataclass
class OwnerRow:
    owner: CrmOwner
    person: User | None  # an active person here with the owner's e-mail
    deactivated: User | None  # a deactivated person here with it (not invited, not mapped)
    mapped_to: str  # the user name the owner map gives this id now, "" if none

    @property
    def invitable(self) -> bool:
        return self.person is None and self.deactivated is None and "@" in self.owner.email

    @property
    def suggested(self) -> bool:
        """Ticked on the page: an active CRM user nobody here has."""
        return self.invitable and self.owner.active

    @property
    def matched(self) -> bool:
        return self.person is not None


def owner_rows(*, connection: CrmConnection, owners: list[CrmOwner]) -> list[OwnerRow]:
    """Each CRM owner with its match here (one query for the people)."""
    emails = {o.email.lower() for o in owners if o.email}
    people: dict[str, User] = {}
    gone: dict[str, User] = {}
    if emails:
        candidates = User.objects.annotate(email_key=Lower("email")).filter(email_key__in=emails)
        for user in candidates.order_by("pk"):
            key = user.email.lower()
            (people if user.is_active else gone).setdefault(key, user)
    owner_map = connection.owner_map or {}
    return [
        OwnerRow(
            owner=o,
            person=people.get(o.email.lower()) if o.email else None,
            deactivated=None if not o.email or o.email.lower() in people else gone.get(o.email.lower()),
            mapped_to=str(owner_map.get(o.crm_id, "")),
        )  # fmt: skip
        for o in owners
    ]


@dataclass
class Imported:
    mapped: list  # (CRM owner, our person) whose entry was added or changed
    kept: int  # matches already in the owner map
    invited: list  # CRM owners invited
    refused: list  # (CRM owner, why)


def crm_people_import(
    *,
    connection: CrmConnection,
    invite_ids: list[str],
    role: str,
    team: Team | None,
    actor: User | None,
    owners: list[CrmOwner] | None = None,
) -> Imported:
    """Map every CRM owner matched here and invite the owners named by `invite_ids` (each with
    `role` in `team`), all in one transaction; an invite a rule refuses is reported, the rest go on.
    `owners`: what the CRM said (read now when not given)."""
    if owners is None:
        owners = crm_owners_read(connection=connection)
    rows = owner_rows(connection=connection, owners=owners)
    wanted = set(invite_ids)
    result = Imported(mapped=[], kept=0, invited=[], refused=[])
    with transaction.atomic():
        people: dict[str, User] = {}
        for row in rows:
            if row.person is not None:
                people[row.owner.crm_id] = row.person
            elif row.owner.crm_id in wanted:
                if not row.invitable:
                    why = "deactivated here: reactivate them" if row.deactivated else "no e-mail in the CRM"
                    result.refused.append((row.owner, why))
                    continue
                try:
                    with transaction.atomic():
                        invitation = user_invite(
                            email=row.owner.email, name=row.owner.name, role=role, team=team, actor=actor
                        )
                except PeopleError as exc:
                    result.refused.append((row.owner, exc.message))
                    continue
                people[row.owner.crm_id] = invitation.user
                result.invited.append(row.owner)
        if not people:
            return result
        label = connection.get_kind_display()
        changes = owner_map_assign(
            kind=connection.kind,
            assignments={crm_id: user.username for crm_id, user in people.items()},
            actor=actor,
            note="matched by e-mail with the CRM's user list",
        )
        by_name = {user.username: (crm_id, user) for crm_id, user in people.items()}
        for change in changes:
            crm_id, user = by_name[change.username]
            note = f"{label} owner id from the CRM's user list (e-mail {user.email})"
            if change.before_user and change.before_user != user.username:
                note += f"; the id named {change.before_user} before"
            person_event(
                person=user, actor=actor, action=PersonEvent.Action.CRM_OWNER,
                before=f"{label} {change.before_id}" if change.before_id else "", after=f"{label} {crm_id}",
                note=note,
            )  # fmt: skip
            result.mapped.append((next(r.owner for r in rows if r.owner.crm_id == crm_id), user))
        result.kept = len(people) - len(changes)
    return result
