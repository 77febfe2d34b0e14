"""What a CRM connection keeps secret, and how a receiver tells one delivery from another."""

import json

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.urls import reverse

from crm.models import CrmConnection, CrmKind, WebhookEvent
from crm.tests.conftest import HUBSPOT_SECRET, SALESFORCE_TOKEN, hubspot_event, sign_hubspot

pytestmark = pytest.mark.django_db

HUBSPOT_URL = "/webhooks/hubspot/"


def _stored(kind: str, column: str) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM crm_crmconnection WHERE kind = %s", [kind])  # noqa: S608
        return cursor.fetchone()[0]


def test_secrets_are_encrypted_at_rest_and_read_back(connections):
    for kind, secret in ((CrmKind.HUBSPOT, HUBSPOT_SECRET), (CrmKind.SALESFORCE, SALESFORCE_TOKEN)):
        raw = _stored(kind, "webhook_secret")
        assert secret not in raw and raw.startswith("gAAAA")  # a Fernet token, not the secret
        assert CrmConnection.objects.get(kind=kind).webhook_secret == secret
    assert "hs-token-1234" not in _stored(CrmKind.HUBSPOT, "api_token")
    assert CrmConnection.objects.get(kind=CrmKind.HUBSPOT).api_token == "hs-token-1234"


def test_the_form_says_a_secret_is_set_keeps_it_when_blank_and_clears_it_on_request(
    client, world, connections
):
    client.force_login(world.carol)
    url = reverse("crm:connection", args=[CrmKind.HUBSPOT])
    page = client.get(url).content.decode()
    assert HUBSPOT_SECRET not in page and "hs-token-1234" not in page and HUBSPOT_SECRET[-4:] not in page
    assert "A value is set" in page and "Clear the stored" in page
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    form = {
        "active": "on", "base_url": hubspot.base_url, "account_id": hubspot.account_id,
        "webhook_username": "", "webhook_secret": "", "api_token": "", "api_version": hubspot.api_version,
        "lost_stages": hubspot.lost_stages, "won_stages": hubspot.won_stages,
        "stage_out_0": hubspot.stage_out["lost"], "stage_out_1": hubspot.stage_out["won"],
        "reason_field": hubspot.reason_field, "reason_value": hubspot.reason_value, "write_back": "on",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302  # blank keeps both
    hubspot.refresh_from_db()
    assert (hubspot.webhook_secret, hubspot.api_token) == (HUBSPOT_SECRET, "hs-token-1234")

    both = client.post(url, {**form, "api_token": "new-token", "clear_api_token": "on"})
    assert both.status_code == 400 and "Either type a new value or clear" in both.content.decode()

    assert client.post(url, {**form, "clear_api_token": "on"}).status_code == 302
    hubspot.refresh_from_db()
    assert (hubspot.webhook_secret, hubspot.api_token) == (HUBSPOT_SECRET, "")
    assert "Clear the stored api token" not in client.get(url).content.decode()  # nothing left to clear


def test_salesforce_refuses_every_message_when_no_token_is_configured(client, connections, salesforce_body):
    CrmConnection.objects.filter(kind=CrmKind.SALESFORCE).update(webhook_secret="")
    for url in ("/webhooks/salesforce/", "/webhooks/salesforce/?token="):
        response = client.post(url, salesforce_body, content_type="text/xml")
        assert response.status_code == 401
        assert b"<Ack>false</Ack>" in response.content
    assert not WebhookEvent.objects.exists()


def _post_hubspot(client, events: list[dict]):
    body = json.dumps(events).encode()
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver" + HUBSPOT_URL, body=body)
    return client.post(HUBSPOT_URL, body, content_type="application/json", **headers)


def test_hubspot_events_sharing_an_event_id_across_subscriptions_are_both_kept(client, connections):
    stage = hubspot_event()
    reason = hubspot_event(
        subscriptionId=2418818,
        propertyName="closed_lost_reason",
        propertyValue="Price too high",
        occurredAt=stage["occurredAt"] + 60_000,
    )  # fmt: skip  (same eventId, another subscription, a minute later)
    assert reason["eventId"] == stage["eventId"]
    assert _post_hubspot(client, [stage]).json() == {"stored": 1}
    assert _post_hubspot(client, [reason]).json() == {"stored": 1}
    # HubSpot's retry of the same change (only attemptNumber grows) is stored once.
    assert _post_hubspot(client, [{**reason, "attemptNumber": 1}]).json() == {"stored": 0}
    assert WebhookEvent.objects.count() == 2


def test_crm_connect_sets_up_a_connection_from_the_command_line(db, capsys, settings):
    settings.CRM_ALLOWED_HOSTS = ["acme.my.salesforce.com"]  # no DNS here: the host is trusted as given
    call_command(
        "crm_connect", "salesforce", "--base-url", "https://acme.my.salesforce.com", "--account-id",
        "00D5e000000AbCdEAK", "--webhook-secret", "sf-shared-token-123", "--api-token", "sf-api-456",
        "--lost-stage", "Closed Lost", "--lost-stage", "Closed Lost - Budget",
        "--stage-out", "lost=Closed Lost", "--stage-out", "won=Closed Won",
        "--reason-field", "Loss_Reason__c", "--stage-map", "Proposal=Proposal/Price Quote",
        "--owner", "0055e000001ErInAAA=erin",
    )  # fmt: skip
    salesforce = CrmConnection.objects.get(kind=CrmKind.SALESFORCE)
    assert salesforce.stage_map == {"Proposal": "Proposal/Price Quote"}
    assert salesforce.owner_map == {"0055e000001ErInAAA": "erin"}
    assert salesforce.base_url == "https://acme.my.salesforce.com"
    assert salesforce.lost_stages == ["Closed Lost", "Closed Lost - Budget"]
    assert salesforce.stage_out == {"lost": "Closed Lost", "won": "Closed Won"}
    assert (salesforce.webhook_secret, salesforce.api_token) == ("sf-shared-token-123", "sf-api-456")
    out = capsys.readouterr().out
    assert "sf-shared-token-123" not in out and "/webhooks/salesforce/?token=" in out

    # Run again: it updates, keeps what it is not given, and says what changed.
    call_command("crm_connect", "salesforce", "--inactive")
    salesforce.refresh_from_db()
    assert not salesforce.active and salesforce.api_token == "sf-api-456"
    assert CrmConnection.objects.count() == 1


def test_crm_connect_names_the_bad_option(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--stage-out"):
        call_command("crm_connect", "hubspot", "--stage-out", "lost")
    with pytest.raises(CommandError, match="base_url"):
        call_command("crm_connect", "hubspot", "--base-url", "not a url")
    with pytest.raises(CommandError, match="base_url: .*internal address"):
        call_command("crm_connect", "hubspot", "--base-url", "https://10.0.0.5")
    assert not CrmConnection.objects.exists()


def test_the_overview_shows_each_full_webhook_address(client, world, connections, settings):
    settings.CRM_WEBHOOK_BASE_URL = "https://closedlost.example"
    client.force_login(world.carol)
    page = client.get(reverse("crm:integrations")).content.decode()
    assert "https://closedlost.example/webhooks/hubspot/" in page
    assert "https://closedlost.example/webhooks/pipedrive/" in page
    assert f"https://closedlost.example/webhooks/salesforce/?token={SALESFORCE_TOKEN}" in page


def _pipedrive(client, payload: dict):
    from crm.tests.conftest import PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, basic_auth

    return client.post(
        "/webhooks/pipedrive/", json.dumps(payload), content_type="application/json",
        **basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD),
    )  # fmt: skip


def test_a_pipedrive_edit_of_a_lost_deal_does_not_close_a_deal_reopened_here(
    client, world, connections, pipedrive_body
):
    from crm.tests.conftest import process_stored
    from deals import services as deal_services
    from deals.models import Closure, DealStatus

    deal = world.deal(pipedrive_id="4711")
    lost = json.loads(pipedrive_body)
    assert _pipedrive(client, lost).status_code == 200
    process_stored()
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.needs_reason  # unmapped text: a rep gives the reason

    deal_services.deal_reopen(deal=deal, actor=world.alice)
    # Later the title is edited in Pipedrive: status "lost" before and after (v2 sends only what changed).
    title_edit = {
        "data": {**lost["data"], "title": "Birch Health - 300 seats"},
        "previous": {"title": lost["data"]["title"]},
        "meta": {**lost["meta"], "id": "5e0c1b2a-title-edit", "timestamp": "2026-11-25T09:00:00Z"},
    }
    assert _pipedrive(client, title_edit).status_code == 200
    # The same edit in the v1 shape (previous is the whole deal) is no close either.
    v1_edit = {
        **title_edit,
        "previous": {**lost["data"]},
        "meta": {**title_edit["meta"], "id": "v1-title-edit"},
    }
    assert _pipedrive(client, v1_edit).status_code == 200
    process_stored()
    results = list(WebhookEvent.objects.filter(dedupe_key__contains="edit").values_list("status", "result"))
    assert [status for status, _ in results] == ["ignored", "ignored"]
    assert all("not a close" in result for _, result in results), results
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert Closure.objects.filter(deal=deal).count() == 1


def test_a_crm_close_without_a_standard_reason_keeps_the_competitor_it_named(
    client, world, connections, pipedrive_body, competitor
):
    from crm.tests.conftest import process_stored
    from deals import services as deal_services
    from deals.models import Closure, DealStatus

    deal = world.deal(pipedrive_id="4711")  # the text names "Northwind CRM"; no mapping for it
    assert _pipedrive(client, json.loads(pipedrive_body)).status_code == 200
    process_stored()
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.needs_reason
    assert Closure.objects.get(deal=deal).competitor == competitor  # "lost to" counts it already

    # The rep gives a reason that needs the competitor: the CRM's one stands.
    deal_services.deal_give_reason(
        deal=deal, reason=world.reasons["competitor-better-fit"], actor=world.alice
    )
    closure = Closure.objects.get(deal=deal)
    assert (closure.needs_reason, closure.competitor) == (False, competitor)
