"""A CRM's API address must be https on public addresses, unless an operator allows the host."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.addresses import validate_crm_address
from crm.models import CrmConnection, CrmKind


@pytest.mark.parametrize(
    "url, code",
    [
        ("http://203.0.113.9/", "not_https"),
        ("https://127.0.0.1:9", "not_public"),
        ("https://10.1.2.3", "not_public"),
        ("https://169.254.169.254/latest", "not_public"),
        ("https://[::1]/", "not_public"),
        ("https://localhost/", "not_public"),
        ("https://no-such-host.invalid/", "unresolved"),
    ],
)
def test_internal_or_plain_http_addresses_are_refused(url, code, settings):
    settings.CRM_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError) as refused:
        validate_crm_address(url)
    assert refused.value.code == code


def test_public_https_address_and_allowed_on_premise_host_pass(settings):
    settings.CRM_ALLOWED_HOSTS = ["crm.internal.example"]
    validate_crm_address("https://8.8.8.8/")
    validate_crm_address("http://crm.internal.example:8080/")


def test_connection_page_names_the_field(client, world, connections, settings):
    settings.CRM_ALLOWED_HOSTS = []
    client.force_login(world.carol)
    response = client.post(
        reverse("crm:connection", args=["hubspot"]),
        {"active": "on", "base_url": "http://127.0.0.1:9", "reason_value": "label"},
    )
    assert response.status_code == 400
    assert "must start with https://" in response.context["form"].errors["base_url"][0]
    assert CrmConnection.objects.get(kind=CrmKind.HUBSPOT).base_url.startswith("https://")


def _close_linked(world):
    from deals import services as deal_services

    deal = world.deal(hubspot_id="4242")
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["price-too-high"], actor=world.alice)
    return deal


def test_the_address_is_checked_again_at_each_request(world, fake_crm, settings):
    """A host that was public when the connection was saved may resolve inside later: the
    write-back and the reconciliation check it again before connecting, and refuse."""
    from crm import services
    from crm.models import DealSync
    from crm.reconcile import ReconcileFailed, crm_reconcile

    port = fake_crm.server.server_address[1]
    # Saved earlier (when "localhost" was, say, a public name); now it resolves to 127.0.0.1.
    CrmConnection.objects.update(base_url=f"https://localhost:{port}")
    deal = _close_linked(world)
    settings.CRM_ALLOWED_HOSTS = ["127.0.0.1"]  # the address is allowed, but not this host name
    outcome = services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT, timeout=2)
    assert outcome.status == "failed" and outcome.retry_in is None
    sync = DealSync.objects.get(deal=deal)
    assert sync.last_error.startswith("Address refused") and "internal address (127.0.0.1" in sync.last_error
    connection = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    with pytest.raises(ReconcileFailed, match="internal address"):
        crm_reconcile(connection=connection)
    assert fake_crm.requests == []  # nothing left this machine for the internal address

    # The operator allows the on-premise host by name: the same connection reaches it.
    settings.CRM_ALLOWED_HOSTS = ["localhost"]
    CrmConnection.objects.update(base_url=f"http://localhost:{port}")
    services.deal_sync_retry(sync=sync)
    assert services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT).status == "synced"
    [request] = fake_crm.requests
    assert request.path == "/crm/v3/objects/deals/4242" and request.headers["Host"] == f"localhost:{port}"
