"""The people services: invites, roles, teams, deactivation with a successor, reactivation."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone
from knox.models import AuthToken

from deals.models import Closure, DealEvent, DealStatus
from deals.services import deal_mark_lost
from followups.models import FollowUp
from outbox.models import Message
from people import offboarding, services
from people.errors import InviteLinkError, PeopleConflict, PeopleError
from people.models import Invitation, PeopleMail, PersonEvent
from people.tokens import invitation_from_token, invite_token
from teams.models import Membership, User

pytestmark = pytest.mark.django_db


def test_invite_makes_the_account_the_membership_the_mail_and_its_handoff(world):
    invitation = services.user_invite(
        email=" Noor.Birch@Example.com ", name="Noor  Birch", role="rep", team=world.east, actor=world.carol
    )
    user = invitation.user
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "noor.birch@example.com", "noor.birch@example.com", "Noor", "Birch",
    )  # fmt: skip
    assert user.is_active and not user.has_usable_password()
    assert list(Membership.objects.filter(user=user).values_list("team__name", "role")) == [("East", "rep")]
    mail = PeopleMail.objects.get(user=user)
    assert mail.kind == "invite" and mail.invitation == invitation
    assert Message.objects.filter(kind="people.mail", items=[mail.pk]).exists()
    event = PersonEvent.objects.get(person=user)
    assert (event.action, event.actor, event.team, event.after) == ("invited", world.carol, world.east, "rep")


@pytest.mark.parametrize(
    ("email", "name", "role", "team", "field"),
    [
        ("not-an-address", "X", "rep", "east", "email"),
        ("alice@closedlost.invalid", "Alice", "rep", "east", "email"),
        ("new@example.com", "", "rep", "east", "name"),
        ("new@example.com", "New", "boss", "east", "role"),
        ("new@example.com", "New", "rep", None, "team"),
    ],
)
def test_invite_refusals_name_the_field(world, email, name, role, team, field):
    with pytest.raises(PeopleError) as refused:
        services.user_invite(
            email=email, name=name, role=role, team=getattr(world, team) if team else None, actor=world.carol
        )
    assert refused.value.field == field
    assert not User.objects.filter(email="new@example.com").exists()


def test_invite_link_is_single_use_resend_replaces_it_and_revoke_ends_it(world):
    invitation = services.user_invite(
        email="n@example.com", name="N B", role="rep", team=world.east, actor=world.carol
    )
    first = invite_token(invitation)
    assert invitation_from_token(first) == invitation
    resent = services.invitation_resend(invitation=invitation, actor=world.carol)
    with pytest.raises(InviteLinkError) as old:
        invitation_from_token(first)
    assert old.value.reason == "invalid"
    second = invite_token(resent)
    with pytest.raises(PeopleError) as weak:
        services.invitation_accept(invitation=resent, password="12345678")
    assert weak.value.field == "new_password1" and "too common" in weak.value.message
    user = services.invitation_accept(invitation=invitation_from_token(second), password="lantern-orchid-42")
    assert user.check_password("lantern-orchid-42")
    with pytest.raises(InviteLinkError) as used:
        invitation_from_token(second)
    assert used.value.reason == "used"
    with pytest.raises(PeopleConflict):
        services.invitation_accept(invitation=resent, password="another-orchid-43")

    other = services.user_invite(
        email="o@example.com", name="O P", role="rep", team=world.west, actor=world.carol
    )
    services.invitation_revoke(invitation=other, actor=world.carol)
    with pytest.raises(InviteLinkError):
        invitation_from_token(invite_token(other))
    assert not User.objects.get(email="o@example.com").is_active


def test_an_expired_invite_link_says_so(world):
    invitation = services.user_invite(
        email="n@example.com", name="N B", role="rep", team=world.east, actor=world.carol
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InviteLinkError) as expired:
        invitation_from_token(invite_token(invitation))
    assert expired.value.reason == "expired"


def test_roles_and_teams_follow_the_rules(world):
    with pytest.raises(PeopleError) as rep_twice:
        services.membership_add(user=world.alice, team=world.west, actor=world.carol)
    assert rep_twice.value.field == "team" and "one team" in rep_twice.value.message
    services.user_set_role(user=world.bob, role="manager", actor=world.carol)  # unchanged: nothing written
    services.membership_add(user=world.bob, team=world.west, actor=world.carol)
    assert set(Membership.objects.filter(user=world.bob).values_list("role", flat=True)) == {"manager"}
    with pytest.raises(PeopleError) as demote:
        services.user_set_role(user=world.bob, role="rep", actor=world.carol)
    assert "East, West" in demote.value.message
    services.user_set_teams(user=world.bob, teams=[world.west], actor=world.carol)
    services.user_set_role(user=world.bob, role="rep", actor=world.carol)
    assert list(Membership.objects.filter(user=world.bob).values_list("team__name", "role")) == [
        ("West", "rep")
    ]
    with pytest.raises(PeopleError):
        services.user_set_role(user=world.carol, role="rep", actor=world.carol)  # not oneself
    with pytest.raises(PeopleError) as last_admin:
        services.user_set_role(user=world.carol, role="rep", actor=world.bob)
    assert "last active admin" in last_admin.value.message
    actions = list(
        PersonEvent.objects.filter(person=world.bob).order_by("at", "id").values_list("action", flat=True)
    )
    assert actions == ["team_added", "team_removed", "role"]


def test_the_database_keeps_a_rep_in_one_team(world):
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=world.alice, team=world.west, role="rep")


def test_deactivation_hands_over_and_ends_access_keeping_history(world, api_as, client):
    open_deal = world.deal(owner="alice", name="Open one")
    lost = world.deal(owner="alice", name="Lost one")
    from followups.models import NurtureSequence, NurtureStep, StepAction

    sequence = NurtureSequence.objects.create(name="Seq")
    NurtureStep.objects.create(
        sequence=sequence,
        position=1,
        days_after_close=3,
        action=StepAction.OWNER_TASK,
        subject="Call",
        body="C",
    )
    deal_mark_lost(deal=lost, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence,
                   revisit_on=(timezone.now() + timedelta(days=60)).date())  # fmt: skip
    assert FollowUp.objects.filter(assignee=world.alice, state="pending").count() == 2
    api = api_as(world.alice)
    assert api.get("/api/deals/").status_code == 200
    client.force_login(world.alice)
    with pytest.raises(PeopleError) as no_successor:
        offboarding.user_deactivate(user=world.alice, successor=None, actor=world.carol)
    assert no_successor.value.field == "successor"
    with pytest.raises(PeopleError) as blind:
        offboarding.user_deactivate(user=world.alice, successor=world.dave, actor=world.carol)
    assert "not in team East" in blind.value.message

    handover = offboarding.user_deactivate(user=world.alice, successor=world.erin, actor=world.carol)

    assert (handover.deals, handover.open_deals, handover.followups, handover.sessions, handover.tokens) == (
        2, 1, 2, 1, 1,
    )  # fmt: skip
    world.alice.refresh_from_db()
    assert not world.alice.is_active
    assert api.get("/api/deals/").status_code == 401
    assert client.get("/deals/").status_code == 302
    assert not AuthToken.objects.filter(user=world.alice).exists()
    open_deal.refresh_from_db()
    lost.refresh_from_db()
    assert open_deal.owner == world.erin and lost.owner == world.erin and lost.status == DealStatus.LOST
    assert not FollowUp.objects.filter(assignee=world.alice, state="pending").exists()
    assert Closure.objects.get(deal=lost).actor == world.alice
    owner_events = DealEvent.objects.filter(field="owner", actor=world.carol)
    assert set(owner_events.values_list("from_value", "to_value")) == {("alice", "erin")}
    event = PersonEvent.objects.get(person=world.alice, action="deactivated")
    assert event.actor == world.carol and "to Erin" in event.note
    with pytest.raises(PeopleConflict):
        offboarding.user_deactivate(user=world.alice, successor=world.erin, actor=world.carol)

    offboarding.user_reactivate(user=world.alice, actor=world.carol)
    world.alice.refresh_from_db()
    assert world.alice.is_active
    open_deal.refresh_from_db()
    assert open_deal.owner == world.erin  # deals stay with the successor


def test_the_database_keeps_person_history_append_only(world):
    from django.db import connection, transaction

    services.user_set_role(user=world.alice, role="manager", actor=world.carol)
    event = PersonEvent.objects.get(person=world.alice)
    for statement in ("UPDATE people_personevent SET note = 'x'", "DELETE FROM people_personevent"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"{statement} WHERE id = %s", [event.pk])
    assert PersonEvent.objects.get(pk=event.pk).action == "role"
