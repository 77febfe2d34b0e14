"""Deactivating a person (offboarding) and bringing them back.

Deactivation, in one transaction under the person's row lock: their open deals, and their lost or
no-decision deals with follow-ups still to do, go to the successor through
deals.details.deal_change_owner (a DealEvent each; follow-ups move with the deal); every session
and API token ends; a pending invite is revoked; the person can no longer sign in. Closures,
events and figures keep naming them: nothing of their history is rewritten.
"""

from dataclasses import dataclass, field

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken

from crm.owner_sync import owner_syncs_skipped
from deals.details import deal_change_owner
from deals.models import Deal, DealStatus
from followups.models import OPEN_Q, FollowUp
from people.errors import PeopleConflict, PeopleError
from people.history import person_event
from people.models import Invitation, PersonEvent
from people.services import _new_invitation, active_admins_other_than
from teams.models import Membership, User


@dataclass(frozen=True)
class Handover:
    deals: int  # deals that changed owner
    open_deals: int
    followups: int  # follow-ups still to do that went to the successor
    sessions: int
    tokens: int
    # CRMs the moved deals' new owner could not be written back to (no CRM owner id): name -> deals.
    not_written_back: dict = field(default_factory=dict)

    @property
    def crm_note(self) -> str:
        return "; ".join(
            f"{count} deal(s) keep their previous owner in {name}: the successor has no {name} owner id"
            for name, count in self.not_written_back.items()
        )


def deals_to_hand_over(user: User) -> QuerySet[Deal]:
    """The person's deals a successor takes: open ones, and closed ones with follow-ups to do."""
    open_work = FollowUp.objects.filter(OPEN_Q, deal=OuterRef("pk"), assignee_id=user.pk)
    return Deal.objects.filter(owner=user).filter(Q(status=DealStatus.OPEN) | Q(Exists(open_work)))


def followups_to_hand_over(user: User) -> QuerySet[FollowUp]:
    return FollowUp.objects.filter(OPEN_Q, assignee_id=user.pk)


def _can_take(successor: User, team_ids: set[int]) -> set[int]:
    """The teams among `team_ids` whose deals the successor could not see."""
    if successor.is_revops_admin:
        return set()
    theirs = set(Membership.objects.filter(user=successor).values_list("team_id", flat=True))
    return team_ids - theirs


def _end_sessions(user: User) -> int:
    """Delete every live session signed in as `user` (the inactive flag alone already refuses
    them on their next request; this also frees the rows)."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


@transaction.atomic
def user_deactivate(*, user: User, successor: User | None, actor: User | None) -> Handover:
    """Deactivate the person: their open deals and pending follow-ups go to `successor` (needed
    when they hold any), their sessions and API tokens end at once, a pending invite is revoked."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.is_active:
        raise PeopleConflict(f"{locked.display_name} is already deactivated.")
    if actor is not None and actor.pk == locked.pk:
        raise PeopleError("You cannot deactivate yourself; ask another admin.", field="successor")
    if locked.is_revops_admin and not active_admins_other_than(locked):
        raise PeopleError(
            "They are the last active admin: make someone else an admin first.", field="successor"
        )
    deals = list(deals_to_hand_over(locked).select_related("team").order_by("pk"))
    followups = followups_to_hand_over(locked)
    count = followups.count()
    if (deals or count) and successor is None:
        raise PeopleError(
            f"Choose who takes over their {len(deals)} deal(s) and {count} follow-up(s).", field="successor"
        )
    if successor is not None:
        successor = User.objects.select_for_update().get(pk=successor.pk)
        if successor.pk == locked.pk or not successor.is_active:
            raise PeopleError("The successor must be another active person.", field="successor")
        blind = _can_take(successor, {deal.team_id for deal in deals})
        if blind:
            names = ", ".join(sorted({deal.team.name for deal in deals if deal.team_id in blind}))
            raise PeopleError(
                f"{successor.display_name} is not in team {names}, where some of these deals are: "
                "choose someone of that team, or a manager or admin who sees it.",
                field="successor",
            )
    open_deals = sum(1 for deal in deals if deal.status == DealStatus.OPEN)
    for deal in deals:  # each through the deal service: its event, its follow-ups, its signals
        deal_change_owner(deal=deal, owner=successor, actor=actor)
    if successor is not None:  # work on others' deals still assigned to them (rare)
        followups_to_hand_over(locked).update(assignee=successor)
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    _, deleted = AuthToken.objects.filter(user=locked).delete()  # with their use records
    tokens = deleted.get(AuthToken._meta.label, 0)
    Invitation.objects.filter(user=locked, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    sessions = _end_sessions(locked)
    handover = Handover(
        deals=len(deals), open_deals=open_deals, followups=count, sessions=sessions, tokens=tokens,
        not_written_back=owner_syncs_skipped(deal_ids=[deal.pk for deal in deals]),
    )  # fmt: skip
    note = f"{len(deals)} deal(s) ({open_deals} open) and {count} follow-up(s)"
    note += f" to {successor.display_name}" if successor else ""
    note += f"; {sessions} session(s) ended, {tokens} API token(s) revoked"
    note += f"; {handover.crm_note}" if handover.not_written_back else ""
    person_event(
        person=locked, actor=actor, action=PersonEvent.Action.DEACTIVATED, note=note,
    )  # fmt: skip
    return handover


@transaction.atomic
def user_reactivate(*, user: User, actor: User | None) -> User:
    """Let a deactivated person sign in again (their deals stay with the successor). One who
    never set a password gets a new invite."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.is_active:
        raise PeopleConflict(f"{locked.display_name} is already active.")
    locked.is_active = True
    locked.save(update_fields=["is_active"])
    note = ""
    if not locked.has_usable_password() and locked.email:
        _new_invitation(user=locked, actor=actor)
        note = "invited again (no password yet)"
    person_event(person=locked, actor=actor, action=PersonEvent.Action.REACTIVATED, note=note)
    return locked
