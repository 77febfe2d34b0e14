"""The integration pages: admins only, secrets never shown back, lists with pinned queries."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import CrmConnection, CrmKind, WebhookEvent
from deals import services as deal_services


@pytest.mark.parametrize(
    "name,args",
    [
        ("crm:integrations", []),
        ("crm:connection", ["hubspot"]),
        ("crm:events", []),
        ("crm:mappings", []),
        ("crm:unmapped", []),
        ("crm:imports", []),
    ],
)
def test_admin_pages_refuse_reps_and_managers(client, world, connections, name, args):
    for user in (world.alice, world.bob):
        client.force_login(user)
        assert client.get(reverse(name, args=args)).status_code == 403
    client.force_login(world.carol)
    assert client.get(reverse(name, args=args)).status_code == 200
    client.logout()
    assert client.get(reverse(name, args=args)).status_code == 302  # to the sign-in page


def test_nav_link_only_for_admins(client, world):
    client.force_login(world.alice)
    assert "Integrations" not in client.get(reverse("deals:list")).content.decode()
    client.force_login(world.carol)
    assert reverse("crm:integrations") in client.get(reverse("deals:list")).content.decode()


def test_secrets_are_never_shown_back_and_blank_keeps_them(client, world, connections):
    client.force_login(world.carol)
    html = client.get(reverse("crm:connection", args=["hubspot"])).content.decode()
    secret = connections[CrmKind.HUBSPOT].webhook_secret
    assert secret not in html
    assert "hs-token-1234" not in html
    assert "A value is set" in html and secret[-4:] not in html  # that it is set, nothing of it
    response = client.post(
        reverse("crm:connection", args=["hubspot"]),
        {
            "active": "on",
            "base_url": "https://api.hubapi.com",
            "account_id": "62515",
            "webhook_username": "",
            "webhook_secret": "",
            "api_token": "a-brand-new-token-0000",
            "api_version": "v60.0",
            # Stages are chosen from lists; a stage of this CRM's own is typed under "other".
            "other_stages": "appointmentscheduled-lost",
            "lost_stages": ["closedlost", "appointmentscheduled-lost"],
            "stage_out_0": "closedlost",
            "stage_out_1": "closedwon",
            "reason_field": "closed_lost_reason",
            "reason_value": "label",
            "write_back": "on",
        },
    )
    assert response.status_code == 302
    connection = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    assert connection.webhook_secret == secret  # blank kept it
    assert connection.api_token == "a-brand-new-token-0000"
    assert connection.lost_stages == ["closedlost", "appointmentscheduled-lost"]


def test_connection_form_names_the_bad_field(client, world, connections):
    client.force_login(world.carol)
    response = client.post(
        reverse("crm:connection", args=["pipedrive"]),
        {
            "base_url": "not a url",
            "lost_stages": ["a stage the list does not offer"],
            "stage_out_0": "another stage the list does not offer",
            "reason_field": "",
            "api_version": "v1",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"base_url", "lost_stages", "stage_out", "reason_field"}


def test_needs_reason_queue_pins_its_queries(client, world, django_assert_num_queries):
    for _ in range(5):
        deal = world.deal(owner="alice")
        deal_services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="meh", closed_at=timezone.now())
    client.force_login(world.alice)
    client.get(reverse("crm:needs-reason"))
    with django_assert_num_queries(4):  # session, user, managed teams, the deals with the CRM text
        response = client.get(reverse("crm:needs-reason"))
    assert response.content.decode().count("Give reason") == 5


def test_event_list_pins_its_queries(client, world, django_assert_num_queries):
    for n in range(6):
        WebhookEvent.objects.create(kind="hubspot", dedupe_key=f"k{n}", body="[]", status="dead", attempts=5)
    client.force_login(world.carol)
    with django_assert_num_queries(3):
        response = client.get(reverse("crm:events"))
    assert response.content.decode().count("Replay<") == 6


def test_object_pages_refuse_non_admins(client, world, connections):
    from crm import imports
    from crm.models import UnmappedReason

    event = WebhookEvent.objects.create(kind="hubspot", dedupe_key="k", body="[]", status="dead")
    unmapped = UnmappedReason.objects.create(kind="hubspot", crm_value="meh", example="Meh")
    job = imports.import_job_create(kind="hubspot", filename="a.csv", content="A,B\n1,2\n", actor=world.carol)
    gets = [
        reverse("crm:event", args=[event.pk]),
        reverse("crm:classify", args=[unmapped.pk]),
        reverse("crm:import-map", args=[job.pk]),
        reverse("crm:import-detail", args=[job.pk]),
    ]
    posts = [reverse("crm:event-replay", args=[event.pk]), reverse("crm:classify", args=[unmapped.pk])]
    for user in (world.alice, world.bob, world.dave, world.grace):
        client.force_login(user)
        assert {client.get(url).status_code for url in gets} == {403}
        assert {client.post(url).status_code for url in posts} == {403}
    event.refresh_from_db()
    assert event.status == "dead"
    client.force_login(world.carol)
    assert {client.get(url).status_code for url in gets} == {200}


def test_integrations_overview_pins_its_queries(client, world, django_assert_num_queries):
    from outbox.models import Message

    for n in range(6):
        Message.objects.create(kind="crm.webhook", items=[n, n + 100], due_at=timezone.now())
    client.force_login(world.carol)
    # session, user, connections, event counts, unclassified, failed syncs, the outbox per kind,
    # and one count of failures for each kind that keeps them (first syncs, owner write-backs,
    # alert e-mails and webhooks added): a query per kind, never per item
    with django_assert_num_queries(15):
        response = client.get(reverse("crm:integrations"))
    page = response.content.decode()
    assert 'data-kind="crm.webhook"' in page and '<td class="text-end" data-field="waiting">12' in page


def test_stages_are_chosen_from_lists_not_typed_as_json(client, world, connections):
    client.force_login(world.carol)
    url = reverse("crm:connection", args=["hubspot"])
    html = client.get(url).content.decode()
    # The lost stages are checkboxes of the CRM's stages (the configured one ticked)...
    assert re.search(r'type="checkbox"[^>]*name="lost_stages" value="closedlost"[^>]*checked', html)
    assert re.search(r'type="checkbox"[^>]*name="lost_stages" value="contractsent" ', html)
    # ...and each of our stages has a labelled select of the CRM's stages.
    assert '<label class="form-label small mb-0" for="id_stage_map_2">Demo</label>' in html
    assert '<select name="stage_map_2"' in html and '<option value="presentationscheduled">' in html
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    form = {
        "active": "on", "base_url": hubspot.base_url, "account_id": hubspot.account_id,
        "api_version": "v60.0", "reason_field": hubspot.reason_field, "reason_value": "label",
        "write_back": "on",
        "other_stages": "closedlost_nodecision",
        "lost_stages": ["closedlost", "closedlost_nodecision"], "won_stages": ["closedwon"],
        "stage_out_0": "closedlost", "stage_out_1": "closedwon", "stage_out_2": "closedlost_nodecision",
        "stage_map_2": "presentationscheduled", "stage_map_3": "contractsent",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    hubspot.refresh_from_db()
    assert hubspot.lost_stages == ["closedlost", "closedlost_nodecision"]
    assert hubspot.stage_out == {
        "lost": "closedlost",
        "won": "closedwon",
        "no_decision": "closedlost_nodecision",
    }
    assert hubspot.stage_map == {"Demo": "presentationscheduled", "Proposal": "contractsent"}
    html = client.get(url).content.decode()  # the value typed once is now in the lists
    assert re.search(r'name="lost_stages" value="closedlost_nodecision"[^>]*checked', html)
    assert '<option value="contractsent" selected>' in html

    clash = client.post(url, {**form, "won_stages": ["closedlost"]})
    assert clash.status_code == 400
    assert "cannot mean both lost and won" in clash.context["form"].errors["won_stages"][0]


def test_the_crm_owner_ids_are_typed_per_person_on_the_connection_page(client, world, connections):
    client.force_login(world.carol)
    url = reverse("crm:connection", args=["hubspot"])
    html = client.get(url).content.decode()
    names = re.findall(r'<label class="form-label small mb-0" for="id_owner_map_\d+">([^<]+)</label>', html)
    assert len(names) == 5 and any("(erin)" in name for name in names)  # everyone in a team, by name
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    erin = next(i for i, name in enumerate(names) if "(erin)" in name)
    alice = next(i for i, name in enumerate(names) if "(alice)" in name)
    form = {
        "active": "on", "base_url": hubspot.base_url, "account_id": hubspot.account_id,
        "api_version": "v60.0", "reason_field": hubspot.reason_field, "reason_value": "label",
        "lost_stages": ["closedlost"], f"owner_map_{erin}": " 311 ",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    hubspot.refresh_from_db()
    assert hubspot.owner_map == {"311": "erin"}
    assert f'name="owner_map_{erin}" value="311"' in client.get(url).content.decode()

    clash = client.post(url, {**form, f"owner_map_{alice}": "311"})
    assert clash.status_code == 400
    assert "one person only: 311" in clash.context["form"].errors["owner_map"][0]
    hubspot.refresh_from_db()
    assert hubspot.owner_map == {"311": "erin"}


@pytest.mark.parametrize("kind", [CrmKind.HUBSPOT, CrmKind.PIPEDRIVE, CrmKind.SALESFORCE])
def test_every_connection_page_has_a_win_reason_field_and_pipedrive_its_token_kind(
    client, world, connections, kind
):
    client.force_login(world.carol)
    url = reverse("crm:connection", args=[kind])
    html = client.get(url).content.decode()
    assert "Win-reason field" in html
    assert ("x-api-token" in html) == (kind == CrmKind.PIPEDRIVE)  # only Pipedrive has two kinds
    connection = CrmConnection.objects.get(kind=kind)
    data = {
        "active": "on", "base_url": connection.base_url, "account_id": connection.account_id,
        "webhook_username": connection.webhook_username, "api_version": "v60.0",
        "lost_stages": connection.lost_stages, "won_stages": connection.won_stages,
        "stage_out_0": connection.stage_out["lost"], "stage_out_1": connection.stage_out["won"],
        "reason_field": connection.reason_field, "win_reason_field": "Why_We_Won__c",
        "reason_value": "label", "write_back": "on", "token_kind": "oauth",
    }  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.win_reason_field == "Why_We_Won__c"
    if kind == CrmKind.PIPEDRIVE:  # a new Pipedrive connection starts with a personal API token
        assert connection.token_kind == CrmConnection.TokenKind.OAUTH
