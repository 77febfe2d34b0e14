"""Admins make and rename teams on the people pages: through people.team_services, each change a
TeamChange row; a name taken (whatever its case) is refused naming the field."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from people.models import TeamChange
from teams.models import Team

pytestmark = pytest.mark.django_db


def test_admin_makes_a_team_on_the_page_and_it_is_offered_for_invites(client, world):
    client.force_login(world.carol)
    response = client.post(reverse("people:team-create"), {"name": "  North   Enterprise "})
    assert response.status_code == 302 and response.url == reverse("people:teams")
    team = Team.objects.get(name="North Enterprise")
    change = TeamChange.objects.get(team=team)
    assert (change.action, change.actor, change.before, change.after) == (
        "created",
        world.carol,
        "",
        "North Enterprise",
    )
    page = client.get(reverse("people:teams")).content.decode()
    assert "North Enterprise" in page and "The team North Enterprise is made" in page
    assert (
        f'<option value="{team.pk}">North Enterprise</option>'
        in client.get(reverse("people:invite")).content.decode()
    )


@pytest.mark.parametrize("name", ["East", "east", " EAST "])
def test_a_taken_name_is_refused_naming_the_field(client, world, name):
    client.force_login(world.carol)
    response = client.post(reverse("people:team-create"), {"name": name})
    assert response.status_code == 400
    page = response.content.decode()
    assert "There is already a team named East." in page and 'aria-invalid="true"' in page
    assert Team.objects.filter(name__iexact="east").count() == 1
    assert not TeamChange.objects.exists()


def test_an_empty_name_is_refused(client, world):
    client.force_login(world.carol)
    response = client.post(reverse("people:team-create"), {"name": "   "})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert Team.objects.count() == 2


def test_admin_renames_a_team_and_its_people_and_deals_stay(client, world):
    deal = world.deal(owner="alice")
    client.force_login(world.carol)
    url = reverse("people:team", args=[world.east.pk])
    assert 'value="East"' in client.get(url).content.decode()
    response = client.post(url, {"name": "East & Central"})
    assert response.status_code == 302
    world.east.refresh_from_db()
    assert world.east.name == "East & Central"
    assert world.alice.teams.get() == world.east
    deal.refresh_from_db()
    assert deal.team_id == world.east.pk
    change = TeamChange.objects.get()
    assert (change.action, change.before, change.after, change.actor) == (
        "renamed",
        "East",
        "East & Central",
        world.carol,
    )
    page = client.get(url).content.decode()
    assert "Team renamed" in page and "East → East &amp; Central" in page
    # Renaming to another team's name (any case) is refused; to its own name changes nothing.
    clash = client.post(url, {"name": "west"})
    assert clash.status_code == 400 and "There is already a team named West." in clash.content.decode()
    assert client.post(url, {"name": "East & Central"}).status_code == 302
    assert TeamChange.objects.count() == 1


def test_the_database_holds_one_team_per_name_whatever_the_case(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(name="WEST")


def test_team_history_is_append_only(client, world):
    from people.team_services import team_create

    team = team_create(name="South", actor=world.carol)
    change = TeamChange.objects.get(team=team)
    with pytest.raises(IntegrityError), transaction.atomic():
        TeamChange.objects.filter(pk=change.pk).update(after="Other")
