"""Two admins at once, each on their own database connection: one change happens."""

import pytest

from deals.models import DealEvent
from people import offboarding, services
from people.errors import PeopleConflict, PeopleError
from people.models import PersonEvent
from teams.models import User
from tests.concurrency import race


@pytest.mark.django_db(transaction=True)
def test_two_admins_deactivating_the_same_rep_hand_over_once(world):
    deal = world.deal(owner="alice")
    results = race(
        [
            lambda: offboarding.user_deactivate(user=world.alice, successor=world.erin, actor=world.carol),
            lambda: offboarding.user_deactivate(user=world.alice, successor=world.bob, actor=world.carol),
        ]
    )
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"]
    assert isinstance(next(value for kind, value in results if kind == "error"), PeopleConflict)
    assert DealEvent.objects.filter(deal=deal, field="owner").count() == 1
    assert PersonEvent.objects.filter(person=world.alice, action="deactivated").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_invites_of_one_address_make_one_account(world):
    results = race(
        [
            lambda: services.user_invite(email="noor@example.com", name="Noor", role="rep", team=world.east,
                                         actor=world.carol),
            lambda: services.user_invite(email="NOOR@example.com", name="Noor B", role="rep", team=world.west,
                                         actor=world.carol),
        ]
    )  # fmt: skip
    assert sorted(kind for kind, _ in results) == ["error", "ok"]
    assert isinstance(next(value for kind, value in results if kind == "error"), PeopleError)
    assert User.objects.filter(email__iexact="noor@example.com").count() == 1
