"""Follow-ups in the JSON API: scoped like the pages, acting through the same services."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals import services as deal_services
from followups.models import FollowUp, FollowUpKind, FollowUpState


@pytest.fixture
def alice_closure(world, sequence, lost_deal):
    return deal_services.deal_mark_lost(
        deal=lost_deal(),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
        revisit_on=date.today() + timedelta(days=30),
    )


def test_list_is_scoped_and_filtered(world, api_as, alice_closure):
    ids = set(FollowUp.objects.filter(closure=alice_closure).values_list("pk", flat=True))
    for user, expected in [(world.alice, ids), (world.bob, ids), (world.carol, ids), (world.dave, set()),
                           (world.grace, set()), (world.erin, set())]:  # fmt: skip
        response = api_as(user).get("/api/follow-ups/")
        assert response.status_code == 200
        assert {row["id"] for row in response.json()["results"]} == expected, user.username
    response = api_as(world.alice).get("/api/follow-ups/?kind=contact_email&mine=true")
    rows = response.json()["results"]
    assert [row["contact_email"] for row in rows] == ["noor@birch.example", "noor@birch.example"]
    assert rows[0]["title"] == "What changed at Birch Health?" and rows[0]["sequence"] == "Test nurture"
    assert api_as(world.alice).get("/api/follow-ups/?state=nonsense").status_code == 400


def test_list_query_count_does_not_grow(world, api_as, sequence, lost_deal, alice_closure):
    client = api_as(world.bob)
    client.get("/api/follow-ups/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/follow-ups/")
    for n in range(4):
        deal_services.deal_mark_lost(
            deal=lost_deal(owner="erin", contacts=[(f"B{n}", f"b{n}@x.example")]),
            reason=world.reasons["no-budget"],
            actor=world.erin,
            nurture_sequence=sequence,
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/follow-ups/")
    assert len(response.json()["results"]) == 4 + 4 * 3
    assert len(many) == len(few) == 3  # token, managed teams (scope), the page of rows


def test_actions_go_through_the_services(world, api_as, alice_closure):
    client = api_as(world.alice)
    task = FollowUp.objects.get(closure=alice_closure, kind=FollowUpKind.OWNER_TASK)
    email = FollowUp.objects.filter(closure=alice_closure, kind=FollowUpKind.CONTACT_EMAIL).first()

    response = client.post(f"/api/follow-ups/{task.pk}/snooze/", {"days": 7}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "snoozed"
    assert client.post(f"/api/follow-ups/{task.pk}/snooze/", {"days": 3}, format="json").status_code == 400
    response = client.post(f"/api/follow-ups/{email.pk}/reschedule/", {"due_on": "2000-01-01"}, format="json")
    assert response.status_code == 400 and response.json() == {"due_on": ["Choose today or a later day."]}
    new_day = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = client.post(f"/api/follow-ups/{email.pk}/reschedule/", {"due_on": new_day}, format="json")
    assert response.status_code == 200 and response.json()["due_at"].startswith(new_day)
    assert client.post(f"/api/follow-ups/{email.pk}/done/").status_code == 409
    assert client.post(f"/api/follow-ups/{email.pk}/skip/").json()["state"] == "cancelled"
    assert client.post(f"/api/follow-ups/{task.pk}/done/").json()["state"] == "done"
    response = client.post(f"/api/follow-ups/{task.pk}/done/")
    assert response.status_code == 409 and "cannot be completed" in response.json()["detail"]


def test_another_teams_follow_ups_are_404_everywhere(world, api_as, alice_closure):
    task = FollowUp.objects.get(closure=alice_closure, kind=FollowUpKind.OWNER_TASK)
    before = FollowUp.objects.filter(pk=task.pk).values().get()
    for user in (world.dave, world.grace, world.erin):
        client = api_as(user)
        assert client.get(f"/api/follow-ups/{task.pk}/").status_code == 404
        for name, body in [
            ("done", {}),
            ("skip", {}),
            ("snooze", {"days": 1}),
            ("reschedule", {"due_on": "2030-01-01"}),
        ]:
            assert client.post(f"/api/follow-ups/{task.pk}/{name}/", body, format="json").status_code == 404
    assert api_as(None).get("/api/follow-ups/").status_code == 401
    assert FollowUp.objects.filter(pk=task.pk).values().get() == before
    assert FollowUp.objects.get(pk=task.pk).state == FollowUpState.PENDING
