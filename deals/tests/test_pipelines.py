"""The admins' pipeline and stage pages and their services (deals.pipelines)."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from deals import pipelines
from deals.models import DealEvent, Pipeline, PipelineChange, Stage
from deals.pipelines import PipelineError, StageData
from deals.services import deal_mark_lost
from tests.concurrency import race

pytestmark = pytest.mark.django_db


def _stages(pipeline) -> list[tuple[int, str]]:
    return list(Stage.objects.filter(pipeline=pipeline).order_by("order").values_list("order", "name"))


def test_admin_makes_a_pipeline_with_stages_through_the_pages(client, world):
    client.force_login(world.carol)
    response = client.post(reverse("pipelines:create"), {"name": "Renewals", "win_reason_required": "on"})
    pipeline = Pipeline.objects.get(name="Renewals")
    assert response.status_code == 302
    assert response["Location"] == reverse("pipelines:stage-create", kwargs={"pk": pipeline.pk})
    for name, probability in [("Outreach", "10"), ("Negotiation", "60")]:
        response = client.post(
            reverse("pipelines:stage-create", kwargs={"pk": pipeline.pk}),
            {"name": name, "win_probability": probability, "add_another": "1"},
        )
        assert response.status_code == 302
    client.post(
        reverse("pipelines:stage-create", kwargs={"pk": pipeline.pk}),
        {"name": "Churned", "win_probability": "0", "outcome": "lost"},
    )
    assert _stages(pipeline) == [(1, "Outreach"), (2, "Negotiation"), (3, "Churned")]
    assert Stage.objects.get(pipeline=pipeline, name="Churned").outcome == "lost"
    page = client.get(reverse("pipelines:index")).content.decode()
    assert "Renewals" in page and "Negotiation" in page and "60 %" in page
    history = client.get(reverse("pipelines:history")).content.decode()
    assert "Carol" in history and "Churned" in history
    assert PipelineChange.objects.filter(pipeline=pipeline, actor=world.carol).count() == 4


def test_bad_input_keeps_what_was_typed_and_names_the_field(client, world):
    client.force_login(world.carol)
    url = reverse("pipelines:stage-create", kwargs={"pk": world.pipeline.pk})
    response = client.post(url, {"name": "Closed lost", "win_probability": "30", "outcome": "lost"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "win probability of 0" in page and 'value="Closed lost"' in page
    response = client.post(url, {"name": "demo", "win_probability": "30"})  # "Demo" exists
    assert response.status_code == 400
    assert "already has a stage named" in response.content.decode()
    response = client.post(url, {"name": "Pilot", "win_probability": "130"})
    assert response.status_code == 400
    assert not Stage.objects.filter(name__in=["Closed lost", "Pilot"]).exists()


def test_reorder_swaps_neighbours_and_keeps_orders_unique(world):
    demo = world.stages[2]
    pipelines.stage_move(actor=world.carol, stage=demo, direction="up")
    assert _stages(world.pipeline) == [
        (1, "Qualification"), (2, "Demo"), (3, "Discovery"), (4, "Proposal"), (5, "Negotiation"),
    ]  # fmt: skip
    with pytest.raises(PipelineError, match="already first"):
        pipelines.stage_move(actor=world.carol, stage=world.stages[0], direction="up")
    change = PipelineChange.objects.get(action="reorder")
    assert change.before["order"][1:3] == ["Discovery", "Demo"]
    assert change.after["order"][1:3] == ["Demo", "Discovery"]


def test_a_stage_with_deals_cannot_be_deleted_only_retired(client, world):
    demo = world.stages[2]
    deal = world.deal(stage=2)
    deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    client.force_login(world.carol)
    response = client.post(reverse("pipelines:stage-delete", kwargs={"pk": demo.pk}), follow=True)
    assert "cannot be deleted; retire it" in response.content.decode()
    assert Stage.objects.filter(pk=demo.pk).exists()
    with pytest.raises(IntegrityError), transaction.atomic():  # the database holds the rule too
        Stage.objects.filter(pk=demo.pk).delete()

    client.post(reverse("pipelines:stage-retire", kwargs={"pk": demo.pk}))
    demo.refresh_from_db()
    assert not demo.active
    deal.refresh_from_db()
    assert deal.stage_id == demo.pk  # the closed deal keeps the stage it was lost at
    # No deal moves into a retired stage.
    other = world.deal(stage=1)
    from deals.details import deal_change_stage
    from deals.errors import DealError

    with pytest.raises(DealError, match="retired") as refused:
        deal_change_stage(deal=other, stage=demo, actor=world.alice)
    assert refused.value.field == "stage"
    assert not DealEvent.objects.filter(deal=other, field="stage").exists()

    client.post(reverse("pipelines:stage-restore", kwargs={"pk": demo.pk}))
    demo.refresh_from_db()
    assert demo.active


def test_an_unused_stage_is_deleted_and_its_history_stays(client, world):
    stage = pipelines.stage_create(
        actor=world.carol, pipeline=world.pipeline, data=StageData(name="Pilot", win_probability=50)
    )
    client.force_login(world.carol)
    response = client.post(reverse("pipelines:stage-delete", kwargs={"pk": stage.pk}))
    assert response.status_code == 302
    assert not Stage.objects.filter(pk=stage.pk).exists()
    assert [row[0] for row in _stages(world.pipeline)] == [1, 2, 3, 4, 5]
    assert list(
        PipelineChange.objects.filter(subject_label="Pilot")
        .order_by("at", "id")
        .values_list("action", flat=True)
    ) == ["create", "delete"]
    assert "Pilot" in client.get(reverse("pipelines:history")).content.decode()


def test_a_stage_holding_open_deals_cannot_become_a_lost_stage(world):
    world.deal(stage=1)
    with pytest.raises(PipelineError) as refused:
        pipelines.stage_update(
            actor=world.carol,
            stage=world.stages[1],
            data=StageData(name="Discovery", win_probability=0, outcome="lost"),
        )
    assert refused.value.field == "outcome"
    assert Stage.objects.get(pk=world.stages[1].pk).outcome == "open"


def test_edit_renames_and_history_has_before_and_after(client, world):
    client.force_login(world.carol)
    stage = world.stages[3]
    response = client.post(
        reverse("pipelines:stage-edit", kwargs={"pk": stage.pk}),
        {"name": "Proposal sent", "win_probability": "65"},
    )
    assert response.status_code == 302
    change = PipelineChange.objects.get(action="update", stage=stage)
    assert change.before["name"] == "Proposal" and change.after["name"] == "Proposal sent"
    assert ("win probability", "60", "65") in change.differences
    client.post(reverse("pipelines:edit", kwargs={"pk": world.pipeline.pk}), {"name": "New logos"})
    world.pipeline.refresh_from_db()
    assert world.pipeline.name == "New logos" and not world.pipeline.win_reason_required
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE deals_pipelinechange SET subject_label = 'x'")


@pytest.mark.parametrize("username", ["alice", "bob", "grace"])
def test_reps_and_managers_get_403_on_every_pipeline_page(client, world, username):
    client.force_login(getattr(world, username))
    stage, pipeline = world.stages[0], world.pipeline
    gets = [
        reverse("pipelines:index"),
        reverse("pipelines:create"),
        reverse("pipelines:history"),
        reverse("pipelines:edit", kwargs={"pk": pipeline.pk}),
        reverse("pipelines:stage-create", kwargs={"pk": pipeline.pk}),
        reverse("pipelines:stage-edit", kwargs={"pk": stage.pk}),
    ]
    for url in gets:
        assert client.get(url).status_code == 403, url
    for action in ["stage-move", "stage-retire", "stage-restore", "stage-delete"]:
        url = reverse(f"pipelines:{action}", kwargs={"pk": stage.pk})
        assert client.post(url, {"direction": "up"}).status_code == 403, url
    assert client.post(reverse("pipelines:create"), {"name": "Sneaky"}).status_code == 403
    assert not Pipeline.objects.filter(name="Sneaky").exists()
    assert Stage.objects.filter(pk=stage.pk, removed_at__isnull=True).exists()
    assert PipelineChange.objects.count() == 0


def test_the_pipelines_page_query_count_does_not_grow_with_pipelines(
    client, world, django_assert_num_queries
):
    client.force_login(world.carol)
    for n in range(4):
        pipeline = pipelines.pipeline_create(actor=world.carol, name=f"Extra {n}")
        for s in range(3):
            pipelines.stage_create(
                actor=world.carol, pipeline=pipeline, data=StageData(name=f"S{s}", win_probability=10 * s)
            )
    world.deal(stage=1)
    # session, user, pipelines, stages (with counts), recent changes
    with django_assert_num_queries(5):
        response = client.get(reverse("pipelines:index"))
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_admins_adding_stages_at_once_both_land_in_order(world):
    results = race(
        [
            lambda: pipelines.stage_create(
                actor=world.carol, pipeline=world.pipeline, data=StageData(name="Pilot", win_probability=70)
            ),
            lambda: pipelines.stage_create(
                actor=world.carol, pipeline=world.pipeline, data=StageData(name="Legal", win_probability=85)
            ),
        ]
    )
    assert [kind for kind, _ in results] == ["ok", "ok"]
    orders = [order for order, _ in _stages(world.pipeline)]
    assert orders == [1, 2, 3, 4, 5, 6, 7]
