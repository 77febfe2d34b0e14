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
