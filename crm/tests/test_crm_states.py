"""Every state a CRM can express arrives here: won and lost (mapped, unmapped, without a reason),
no decision, reopen, a stage move and a reason sent before (or after) its close, each in the CRM's
own payloads (crm.tests.crm_play), in order and shuffled; late and repeated deliveries change
nothing, and reconciliation against the CRM's own records afterwards finds no drift.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import EXTERNAL_ID_FIELD, CrmConnection, CrmKind, ReasonMapping, UnmappedReason, WebhookEvent
from crm.reconcile import crm_reconcile
from crm.tests.conftest import process_stored
from crm.tests.crm_play import PLAYS, HubSpotPlay
from deals.models import Closure, DealStatus

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LOST, WON = DealStatus.LOST, DealStatus.WON


# Each scenario: the CRM's steps in order, (step, minutes after T0), and what the deal must end
# as: (status, stage name, reason code, needs a reason). The pipeline asks for a win reason.
SCENARIOS = {
    "won mapped": ([(("close", "won", "Best product fit"), 1)], (WON, "Proposal", "win-best-fit", False)),
    "won unmapped": ([(("close", "won", "the champion liked us"), 1)], (WON, "Proposal", None, True)),
    "won no reason": ([(("close", "won", None), 1)], (WON, "Proposal", None, True)),
    "lost mapped": ([(("close", "lost", "Price too high"), 1)], (LOST, "Proposal", "price-too-high", False)),
    "lost unmapped": ([(("close", "lost", "they vanished"), 1)], (LOST, "Proposal", None, True)),
    "lost empty": ([(("close", "lost", ""), 1)], (LOST, "Proposal", None, True)),
    "no decision": (
        [(("close", "lost", "No decision - status quo"), 1)],
        (DealStatus.NO_DECISION, "Proposal", "status-quo", False),
    ),
    "reopen": (
        [(("close", "lost", "Price too high"), 1), (("stage", "Discovery"), 5)],
        (DealStatus.OPEN, "Discovery", None, False),
    ),
    "stage move": ([(("stage", "Negotiation"), 1)], (DealStatus.OPEN, "Negotiation", None, False)),
    "lost reason first": (
        [(("reason", "lost", "Price too high"), 1), (("close", "lost", None), 2)],
        (LOST, "Proposal", "price-too-high", False),
    ),
    "won reason first": (
        [(("reason", "won", "Best product fit"), 1), (("close", "won", None), 2)],
        (WON, "Proposal", "win-best-fit", False),
    ),
    "lost reason after": (
        [(("close", "lost", None), 1), (("reason", "lost", "Price too high"), 2)],
        (LOST, "Proposal", "price-too-high", False),
    ),
    "won reason after": (
        [(("close", "won", None), 1), (("reason", "won", "Best product fit"), 2)],
        (WON, "Proposal", "win-best-fit", False),
    ),
}


def _setup(world, play_class):
    play = play_class()
    CrmConnection.objects.filter(kind=play.kind).update(**play.connection_settings())
    ReasonMapping.objects.create(
        kind="", crm_value="no decision - status quo", reason=world.reasons["status-quo"]
    )
    deals, deliveries = {}, []
    for number, (name, (steps, _)) in enumerate(SCENARIOS.items(), start=1):
        external_id = f"0065e0000{number:06d}" if play.kind == CrmKind.SALESFORCE else str(900 + number)
        deals[name] = world.deal(**{EXTERNAL_ID_FIELD[play.kind]: external_id})
        for step, minutes in steps:
            deliveries += play.step(external_id, step, T0 + timedelta(minutes=minutes))
    return play, deals, deliveries


def _state(deal):
    deal.refresh_from_db()
    return (
        deal.status,
        deal.stage.name,
        deal.close_reason.code if deal.close_reason else None,
        deal.needs_reason,
    )


def _assert_in_the_crms_state(play, deals, fake_crm):
    for name, (_, expected) in SCENARIOS.items():
        assert _state(deals[name]) == expected, name
    problems = WebhookEvent.objects.filter(status__in=["failed", "dead"]).values_list("result", "last_error")
    assert not problems.exists(), list(problems)
    # Reconciliation reads the CRM's own records afterwards: nothing drifts, nothing moves.
    play.serve(fake_crm)
    report = crm_reconcile(connection=CrmConnection.objects.get(kind=play.kind), now=T0 + timedelta(days=1))
    assert report["read"] == len(SCENARIOS)
    assert report["drift"] == []
    for name, (_, expected) in SCENARIOS.items():
        assert _state(deals[name]) == expected, f"{name} after reconciliation"


@pytest.mark.parametrize("play_class", PLAYS, ids=lambda c: c.kind)
def test_each_crm_state_arrives_through_the_services(client, world, fake_crm, play_class):
    play, deals, deliveries = _setup(world, play_class)
    for delivery in deliveries:
        assert play.post(client, delivery).status_code == 200
        process_stored()
    _assert_in_the_crms_state(play, deals, fake_crm)
    # One closure per close (the reopened one kept), one status event per change.
    reopened = deals["reopen"]
    assert list(Closure.objects.filter(deal=reopened).values_list("outcome", flat=True)) == ["lost"]
    assert Closure.objects.get(deal=reopened).reopened_at is not None
    assert reopened.events.filter(field="status").count() == 2
    assert Closure.objects.filter(deal=deals["won mapped"]).count() == 1
    # A won deal waiting for its reason is in the rep's queue, with what the CRM said.
    alice = Client()
    alice.force_login(world.alice)
    queue = alice.get(reverse("crm:needs-reason")).content.decode()
    assert "the champion liked us" in queue
    # ... and in the deal list's "needs a reason" filter, beside the lost ones waiting.
    listed = alice.get(reverse("deals:list"), {"reason": "none"}).content.decode()
    assert deals["won unmapped"].name in listed
    unmapped = UnmappedReason.objects.filter(kind=play.kind, outcome="won", example="the champion liked us")
    assert unmapped.exists()


@pytest.mark.parametrize("play_class", PLAYS, ids=lambda c: c.kind)
def test_shuffled_and_repeated_deliveries_end_in_the_same_state(client, world, fake_crm, play_class):
    play, deals, deliveries = _setup(world, play_class)
    shuffled = deliveries + random.Random(7).sample(deliveries, max(1, len(deliveries) // 10))
    random.Random(11).shuffle(shuffled)
    for delivery in shuffled:
        assert play.post(client, delivery).status_code == 200
    for _ in range(2):  # as the worker's retries would
        process_stored()
    _assert_in_the_crms_state(play, deals, fake_crm)


@pytest.mark.parametrize("play_class", PLAYS, ids=lambda c: c.kind)
def test_every_order_of_a_reason_and_its_close(client, world, fake_crm, play_class):
    """The reason and its close delivered one by one in both orders, processed after each."""
    play = play_class()  # one CRM: each delivery its own id
    CrmConnection.objects.filter(kind=play.kind).update(**play.connection_settings())
    for number, order in enumerate([(0, 1), (1, 0)]):
        deals, deliveries = _setup_reason_first(world, play, number)
        for index in order:
            for delivery in deliveries[index]:
                assert play.post(client, delivery).status_code == 200
            process_stored()
        for name, deal in deals.items():
            assert _state(deal) == SCENARIOS[name][1], (name, order)


def _setup_reason_first(world, play, number):
    deals, steps = {}, ([], [])
    for offset, name in enumerate(["lost reason first", "won reason first"]):
        external_id = str(7000 + 10 * number + offset)
        if play.kind == CrmKind.SALESFORCE:
            external_id = f"0065e0000{external_id:0>6}"
        deals[name] = world.deal(**{EXTERNAL_ID_FIELD[play.kind]: external_id})
        for position, (step, minutes) in enumerate(SCENARIOS[name][0]):
            steps[position].extend(play.step(external_id, step, T0 + timedelta(minutes=minutes)))
    return deals, steps


def test_a_won_deal_whose_win_reason_maps_to_nothing_is_won_and_waits_for_its_reason(
    client, world, connections
):
    """The CRM decides the outcome: won here at once (never failed, never left open); classifying
    the CRM's win-reason text gives the waiting deal its reason, and the rep can give one too."""
    first, second = world.deal(hubspot_id="4242"), world.deal(hubspot_id="4243")
    play = HubSpotPlay()
    for external_id in ("4242", "4243"):
        for delivery in play.step(external_id, ("close", "won", "the champion liked us"), T0):
            assert play.post(client, delivery).status_code == 200
    process_stored()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) <= {"done", "ignored"}
    assert _state(first) == (WON, "Proposal", None, True)
    unmapped = UnmappedReason.objects.get(kind="hubspot", outcome="won")
    admin = Client()
    admin.force_login(world.carol)
    page = admin.get(reverse("crm:classify", args=[unmapped.pk])).content.decode()
    assert "Best product fit" in page and "Price too high" not in page  # win reasons only
    response = admin.post(
        reverse("crm:classify", args=[unmapped.pk]), {"reason": world.reasons["win-relationship"].pk}
    )
    assert response.status_code == 302
    assert _state(first) == (WON, "Proposal", "win-relationship", False)
    assert _state(second) == (WON, "Proposal", "win-relationship", False)
    # Another one, closed won without any reason, gets its reason from the rep's queue.
    third = world.deal(hubspot_id="4244")
    for delivery in play.step("4244", ("close", "won", None), T0):
        play.post(client, delivery)
    process_stored()
    rep = Client()
    rep.force_login(world.alice)
    form = rep.get(reverse("crm:give-reason", args=[third.pk])).content.decode()
    assert "Closed won in the CRM" in form
    reason = world.reasons["win-best-fit"]
    response = rep.post(reverse("crm:give-reason", args=[third.pk]), {"reason": reason.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _state(third) == (WON, "Proposal", "win-best-fit", False)
    assert list(Closure.objects.filter(deal=third).values_list("outcome", "reason__code")) == [
        (WON, "win-best-fit")
    ]


def test_a_reason_the_crm_gives_later_can_make_a_waiting_deal_no_decision(world, connections):
    """A CRM lost the deal without a reason, then set one that maps to a no-decision reason: the
    same close becomes No Decision (no reopen in its history)."""
    from crm.changes import CrmChange, crm_change_apply
    from crm.models import CrmConnection

    ReasonMapping.objects.create(kind="", crm_value="went quiet", reason=world.reasons["status-quo"])
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    deal = world.deal(hubspot_id="4242")
    lost = CrmChange("4242", "lost", "", T0)
    assert (
        crm_change_apply(connection=hubspot, change=lost, deal=deal, received_at=T0)
        == "closed lost: needs a reason"
    )
    deal.refresh_from_db()
    later = CrmChange("4242", None, "Went quiet", T0 + timedelta(minutes=5))
    assert (
        crm_change_apply(connection=hubspot, change=later, deal=deal, received_at=T0)
        == "reason given: status-quo"
    )
    deal.refresh_from_db()
    assert (deal.status, deal.needs_reason) == (DealStatus.NO_DECISION, False)
    assert list(Closure.objects.filter(deal=deal).values_list("outcome", "reopened_at")) == [
        (DealStatus.NO_DECISION, None)
    ]
