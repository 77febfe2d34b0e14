"""Every change to people: invites, roles, teams and passwords. Deactivation and reactivation
live in people/offboarding.py.

Each function is atomic and keyword-only, locks the person's row, writes a PersonEvent, and
raises PeopleError naming the form field when a rule says no. Rules:
- a person's e-mail is theirs alone (case-insensitive); their username is that e-mail;
- a rep sells in one team (also a partial unique index); a manager manages any number; an
  admin sees everything, teams or not; membership roles follow the person's role;
- nobody changes their own role, and the last active admin stays an admin.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from people.errors import PeopleConflict, PeopleError
from people.history import person_event
from people.mail import people_mail_enqueue
from people.models import Invitation, PeopleMail, PersonEvent
from teams.models import Membership, Team, User

Action = PersonEvent.Action


def _lock(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise PeopleError(f"“{email}” is not an e-mail address.", field="email") from None
    return email


def _clean_role(role: str) -> str:
    if role not in User.Role.values:
        raise PeopleError(f"The role must be one of: {', '.join(User.Role.values)}.", field="role")
    return role


def _membership_role(user_role: str) -> str:
    return Membership.Role.REP if user_role == User.Role.REP else Membership.Role.MANAGER


def active_admins_other_than(user: User) -> bool:
    others = User.objects.filter(is_active=True).exclude(pk=user.pk)
    return others.filter(role=User.Role.ADMIN).exists() or others.filter(is_superuser=True).exists()


# --- invites ---------------------------------------------------------------------------------


def _new_invitation(*, user: User, actor: User | None) -> Invitation:
    expires_at = timezone.now() + timedelta(days=settings.PEOPLE_INVITE_MAX_AGE_DAYS)
    invitation = Invitation.objects.create(
        user=user, email=user.email, key=secrets.token_hex(16), invited_by=actor, expires_at=expires_at
    )
    people_mail_enqueue(kind=PeopleMail.Kind.INVITE, user=user, invitation=invitation)
    return invitation


@transaction.atomic
def user_invite(*, email: str, name: str, role: str, team: Team | None, actor: User | None) -> Invitation:
    """Invite a person by e-mail: their account (username = e-mail, no password yet) in `team`
    with `role`, and an e-mail with a signed link that lets them set a password once, within
    PEOPLE_INVITE_MAX_AGE_DAYS. A rep needs a team."""
    email = _clean_email(email)
    role = _clean_role(role)
    name = " ".join((name or "").split())
    if not name:
        raise PeopleError("Give the person's name.", field="name")
    if len(name) > 150:
        raise PeopleError("The name is too long (at most 150 characters).", field="name")
    if role == User.Role.REP and team is None:
        raise PeopleError("A rep sells in a team: choose one.", field="team")
    existing = User.objects.filter(email__iexact=email).first() or User.objects.filter(username=email).first()
    if existing is not None:
        if not existing.is_active:
            raise PeopleError(f"{email} has a deactivated account: reactivate it instead.", field="email")
        if existing.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True).exists():
            raise PeopleError(f"{email} is already invited: send the invite again instead.", field="email")
        raise PeopleError(f"{email} already has an account.", field="email")
    first, _, last = name.partition(" ")
    try:
        with transaction.atomic():
            user = User(username=email, email=email, first_name=first[:150], last_name=last[:150], role=role)
            user.set_unusable_password()
            user.save()
    except IntegrityError:  # another admin invited the same address a moment ago
        raise PeopleError(f"{email} already has an account.", field="email") from None
    if team is not None:
        Membership.objects.create(user=user, team=team, role=_membership_role(role))
    person_event(
        person=user, actor=actor, action=Action.INVITED, team=team, after=role, note=f"invited {email}"
    )
    return _new_invitation(user=user, actor=actor)


def _pending(invitation: Invitation) -> Invitation:
    locked = Invitation.objects.select_for_update().select_related("user").get(pk=invitation.pk)
    if locked.accepted_at is not None:
        raise PeopleConflict("This invite was already accepted.")
    if locked.revoked_at is not None:
        raise PeopleConflict("This invite was revoked.")
    return locked


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User | None) -> Invitation:
    """Send a pending invite again with a new link (valid from now; earlier links stop working)."""
    locked = _pending(invitation)
    locked.key = secrets.token_hex(16)
    locked.expires_at = timezone.now() + timedelta(days=settings.PEOPLE_INVITE_MAX_AGE_DAYS)
    locked.invited_by = actor or locked.invited_by
    locked.save(update_fields=["key", "expires_at", "invited_by"])
    people_mail_enqueue(kind=PeopleMail.Kind.INVITE, user=locked.user, invitation=locked)
    person_event(person=locked.user, actor=actor, action=Action.INVITE_RESENT, note=locked.email)
    return locked


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User | None) -> Invitation:
    """Revoke a pending invite: its links stop working and the account that never joined is
    deactivated (its history stays)."""
    locked = _pending(invitation)
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    user = _lock(locked.user)
    if user.is_active and not user.has_usable_password():
        user.is_active = False
        user.save(update_fields=["is_active"])
    person_event(person=user, actor=actor, action=Action.INVITE_REVOKED, note=locked.email)
    return locked


def _validated_password(user: User, password: str, field: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise PeopleError(" ".join(exc.messages), field=field) from None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, password: str) -> User:
    """The invited person sets their password: the invite is used up (a second try is refused)."""
    locked = _pending(invitation)
    if locked.expired:
        raise PeopleConflict("This invite link has expired; ask your admin to send it again.")
    user = _lock(locked.user)
    if not user.is_active:
        raise PeopleConflict("This invite no longer works; ask your admin.")
    _validated_password(user, password, "new_password1")
    user.set_password(password)
    user.save(update_fields=["password"])
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    person_event(person=user, actor=user, action=Action.JOINED)
    return user


# --- passwords -------------------------------------------------------------------------------


@transaction.atomic
def user_set_password(*, user: User, password: str, actor: User | None, action: str) -> User:
    """Set a person's password (a reset by link, or a change by themselves), checked against
    AUTH_PASSWORD_VALIDATORS; their other sessions end (Django's session hash changes)."""
    if action not in (Action.PASSWORD_RESET, Action.PASSWORD_CHANGED):
        raise ValueError(action)
    locked = _lock(user)
    if not locked.is_active:
        raise PeopleConflict("This account is deactivated.")
    _validated_password(locked, password, "new_password1")
    locked.set_password(password)
    locked.save(update_fields=["password"])
    person_event(person=locked, actor=actor, action=action)
    user.password = locked.password
    return locked


@transaction.atomic
def password_reset_request(*, users: list[User]) -> int:
    """Queue a password-reset e-mail to each (active, with a password) person; how many."""
    sent = 0
    for user in users:
        if user.is_active and user.has_usable_password() and user.email:
            people_mail_enqueue(kind=PeopleMail.Kind.PASSWORD_RESET, user=user)
            sent += 1
    return sent


# --- roles and teams -------------------------------------------------------------------------


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None) -> User:
    """Make the person a rep, manager or admin. Their memberships follow (a rep's is a rep's, a
    manager's a manager's); a rep is in at most one team, so a manager of several becomes a rep
    only once in one."""
    role = _clean_role(role)
    locked = _lock(user)
    if actor is not None and actor.pk == locked.pk:
        raise PeopleError("You cannot change your own role; ask another admin.", field="role")
    if locked.role == role:
        return locked
    if locked.role == User.Role.ADMIN and not active_admins_other_than(locked):
        raise PeopleError("They are the last active admin: make someone else an admin first.", field="role")
    teams = list(Team.objects.filter(memberships__user=locked).order_by("name"))
    if role == User.Role.REP and len(teams) > 1:
        names = ", ".join(t.name for t in teams)
        raise PeopleError(
            f"A rep sells in one team; they are in {names}. Remove all but one first.", field="role"
        )
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    if role != User.Role.ADMIN:
        Membership.objects.filter(user=locked).update(role=_membership_role(role))
    person_event(person=locked, actor=actor, action=Action.ROLE, before=before, after=role)
    user.role = role
    return locked


@transaction.atomic
def membership_add(*, user: User, team: Team, actor: User | None) -> Membership:
    """Put the person in `team` (as a rep or as its manager, by their role)."""
    locked = _lock(user)
    existing = Membership.objects.filter(user=locked, team=team).first()
    if existing is not None:
        return existing
    if locked.role == User.Role.REP:
        current = Membership.objects.filter(user=locked).select_related("team").first()
        if current is not None:
            raise PeopleError(
                f"A rep sells in one team; they are in {current.team}. Move them instead.", field="team"
            )
    membership = Membership.objects.create(user=locked, team=team, role=_membership_role(locked.role))
    person_event(person=locked, actor=actor, action=Action.TEAM_ADDED, team=team, after=team.name)
    return membership


@transaction.atomic
def membership_remove(*, user: User, team: Team, actor: User | None) -> None:
    """Take the person out of `team` (their deals keep their team; nothing else moves)."""
    locked = _lock(user)
    deleted, _ = Membership.objects.filter(user=locked, team=team).delete()
    if deleted:
        person_event(person=locked, actor=actor, action=Action.TEAM_REMOVED, team=team, before=team.name)


@transaction.atomic
def user_set_teams(*, user: User, teams: list[Team], actor: User | None) -> User:
    """Make `teams` the person's teams exactly (a rep: at most one), each change recorded."""
    locked = _lock(user)
    if locked.role == User.Role.REP and len(teams) > 1:
        raise PeopleError("A rep sells in one team: choose one.", field="teams")
    wanted = {team.pk: team for team in teams}
    current = {m.team_id: m.team for m in Membership.objects.filter(user=locked).select_related("team")}
    for team_id, team in current.items():
        if team_id not in wanted:
            membership_remove(user=locked, team=team, actor=actor)
    for team_id, team in wanted.items():
        if team_id not in current:
            membership_add(user=locked, team=team, actor=actor)
    return locked


@transaction.atomic
def user_update_details(*, user: User, name: str, actor: User | None) -> User:
    """Rename a person (their e-mail is their sign-in and stays)."""
    name = " ".join((name or "").split())
    if not name:
        raise PeopleError("Give the person's name.", field="name")
    locked = _lock(user)
    before = locked.get_full_name()
    first, _, last = name.partition(" ")
    if (locked.first_name, locked.last_name) == (first, last):
        return locked
    locked.first_name, locked.last_name = first[:150], last[:150]
    locked.save(update_fields=["first_name", "last_name"])
    person_event(person=locked, actor=actor, action=Action.DETAILS, before=before, after=name)
    return locked
