"""The admins' people pages through the test client: access, invite, roles, teams, upload,
deactivation; each change lands in the database and the person's history."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals.factories import UserFactory
from people.models import Invitation, PersonEvent
from teams.models import Membership, User

pytestmark = pytest.mark.django_db


def _people_urls(world) -> list[tuple[str, str]]:
    pk = world.alice.pk
    return [
        ("get", reverse("people:list")),
        ("get", reverse("people:invite")),
        ("get", reverse("people:upload")),
        ("get", reverse("people:history")),
        ("get", reverse("people:teams")),
        ("get", reverse("people:detail", args=[pk])),
        ("get", reverse("people:deactivate", args=[pk])),
        ("post", reverse("people:role", args=[pk])),
        ("post", reverse("people:set-teams", args=[pk])),
        ("post", reverse("people:name", args=[pk])),
        ("post", reverse("people:invite-resend", args=[pk])),
        ("post", reverse("people:invite-revoke", args=[pk])),
        ("post", reverse("people:deactivate", args=[pk])),
        ("post", reverse("people:reactivate", args=[pk])),
        ("post", reverse("people:team-create")),
        ("get", reverse("people:team", args=[world.east.pk])),
        ("post", reverse("people:team", args=[world.east.pk])),
        ("get", reverse("people:crm")),
        ("get", reverse("people:crm-import", args=["hubspot"])),
        ("post", reverse("people:crm-import", args=["hubspot"])),
    ]


@pytest.mark.parametrize("username", ["alice", "bob", "grace"])
def test_reps_and_managers_reach_no_people_page(client, world, username):
    client.force_login(getattr(world, username))
    for method, url in _people_urls(world):
        response = getattr(client, method)(url, {"role": "admin", "successor": world.bob.pk, "name": "X"})
        assert response.status_code == 403, (method, url)
        page = response.content.decode()
        assert "alice@closedlost.invalid" not in page and "Deactivate" not in page
    world.alice.refresh_from_db()
    assert world.alice.is_active and world.alice.role == "rep"
    assert not PersonEvent.objects.exists()
    assert "People</a>" not in client.get(reverse("deals:list")).content.decode()


def test_anonymous_people_pages_redirect_to_sign_in(client, world):
    for method, url in _people_urls(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url


def test_admin_lists_people_with_teams_in_a_fixed_number_of_queries(client, world):
    client.force_login(world.carol)
    with CaptureQueriesContext(connection) as few:
        page = client.get(reverse("people:list")).content.decode()
    for n in range(8):
        user = UserFactory(username=f"rep{n}")
        Membership.objects.create(user=user, team=world.west, role="rep")
    with CaptureQueriesContext(connection) as many:
        more = client.get(reverse("people:list")).content.decode()
    assert len(many) == len(few) == 5  # session, user, people, their memberships, the counts
    assert "Alice" in page and "rep7@closedlost.invalid" in more
    row = page.split(f'id="person-{world.bob.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "East" in row and "(manages)" in row


def test_admin_invites_through_the_page_and_errors_name_the_field(client, world):
    client.force_login(world.carol)
    form = {"name": "Dup", "email": "alice@closedlost.invalid", "role": "rep", "team": world.east.pk}
    bad = client.post(reverse("people:invite"), form)
    assert bad.status_code == 400 and "already has an account" in bad.content.decode()
    no_team = client.post(
        reverse("people:invite"), {"name": "Noor Birch", "email": "noor@example.com", "role": "rep"}
    )
    assert no_team.status_code == 400 and "A rep sells in a team" in no_team.content.decode()
    assert 'value="noor@example.com"' in no_team.content.decode()  # what was typed stays
    response = client.post(
        reverse("people:invite"),
        {"name": "Noor Birch", "email": "noor@example.com", "role": "rep", "team": world.east.pk},
    )
    noor = User.objects.get(email="noor@example.com")
    assert response.status_code == 302 and response.url == reverse("people:detail", args=[noor.pk])
    page = client.get(response.url).content.decode()
    assert "Invite sent to noor@example.com" in page and "Send the invite again" in page
    client.post(reverse("people:invite-resend", args=[noor.pk]))
    client.post(reverse("people:invite-revoke", args=[noor.pk]))
    assert Invitation.objects.get(user=noor).revoked_at is not None
    actions = list(PersonEvent.objects.filter(person=noor).order_by("id").values_list("action", flat=True))
    assert actions == ["invited", "invite_resent", "invite_revoked"]


def test_admin_changes_role_and_teams_refusals_shown(client, world):
    client.force_login(world.carol)
    refused = client.post(
        reverse("people:set-teams", args=[world.alice.pk]), {"teams": [world.east.pk, world.west.pk]}
    )
    assert refused.status_code == 400 and "A rep sells in one team" in refused.content.decode()
    client.post(reverse("people:role", args=[world.alice.pk]), {"role": "manager"})
    client.post(reverse("people:set-teams", args=[world.alice.pk]), {"teams": [world.east.pk, world.west.pk]})
    assert set(Membership.objects.filter(user=world.alice).values_list("team__name", "role")) == {
        ("East", "manager"), ("West", "manager"),
    }  # fmt: skip
    own = client.post(reverse("people:role", args=[world.carol.pk]), {"role": "rep"})
    assert own.status_code == 400 and "your own role" in own.content.decode()


def test_csv_upload_invites_good_rows_and_reports_each_bad_one(client, world):
    client.force_login(world.carol)
    content = (
        b"Name,Email,Role,Team\n"
        b"Noor Birch,noor@example.com,rep,East\n"
        b"Bad Mail,not-an-address,rep,East\n"
        b"Ola Oak,ola@example.com,boss,East\n"
        b"Pim Pine,pim@example.com,rep,North\n"
        b"Dup Alice,alice@closedlost.invalid,rep,East\n"
        b"Quinn Ash,quinn@example.com,Sales manager,West\n"
    )
    response = client.post(reverse("people:upload"), {"file": SimpleUploadedFile("people.csv", content)})
    page = response.content.decode()
    assert response.status_code == 200 and "2 invited, 6 row(s) read" in page
    invited = User.objects.filter(email__in=["noor@example.com", "quinn@example.com"])
    assert set(invited.values_list("role", flat=True)) == {"rep", "manager"}
    for line, text in [
        (3, "is not an e-mail address"),
        (4, "unknown role"),
        (5, "no team named"),
        (6, "already"),
    ]:
        assert re.search(rf"<td>{line}</td>.*?{text}", page, re.S), line
    missing = client.post(
        reverse("people:upload"), {"file": SimpleUploadedFile("p.csv", b"name,email\nA,a@x.com\n")}
    )
    assert missing.status_code == 400 and "lacks the column(s): role, team" in missing.content.decode()


def test_deactivate_page_asks_for_a_successor(client, world):
    world.deal(owner="alice")
    client.force_login(world.carol)
    page = client.get(reverse("people:deactivate", args=[world.alice.pk])).content.decode()
    assert "<strong>1</strong> open deal(s)" in page
    refused = client.post(reverse("people:deactivate", args=[world.alice.pk]), {"successor": ""})
    assert refused.status_code == 400 and "Choose who takes over" in refused.content.decode()
    done = client.post(reverse("people:deactivate", args=[world.alice.pk]), {"successor": world.erin.pk})
    assert done.status_code == 302
    assert "is deactivated: 1 deal(s)" in client.get(done.url).content.decode()
    world.alice.refresh_from_db()
    assert not world.alice.is_active
    client.post(reverse("people:reactivate", args=[world.alice.pk]))
    world.alice.refresh_from_db()
    assert world.alice.is_active


def test_django_admin_cannot_deactivate_around_the_offboarding(client, world):
    world.carol.is_superuser = world.carol.is_staff = True
    world.carol.save()
    client.force_login(world.carol)
    page = client.get(reverse("admin:teams_user_change", args=[world.alice.pk])).content.decode()
    assert 'name="is_active"' not in page
