"""Every save of a connection leaves append-only history rows saying who changed what: the owner
map entry by entry, the other settings field by field, secrets only as set or cleared. The
connection page shows them."""

import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from crm.connection_history import ConnectionChange
from crm.models import CrmConnection, CrmKind

pytestmark = pytest.mark.django_db


def _page_form(client, url, hubspot, **values):
    html = client.get(url).content.decode()
    names = re.findall(
        r'<label class="form-label small mb-0" for="id_owner_map_(\d+)">[^<]*\((\w+)\)</label>', html
    )
    index = {username: int(i) for i, username in names}
    form = {
        "active": "on", "base_url": hubspot.base_url, "account_id": hubspot.account_id,
        "api_version": "v60.0", "reason_field": hubspot.reason_field, "reason_value": "label",
        "lost_stages": ["closedlost"],
    }  # fmt: skip
    for username, crm_id in values.items():
        form[f"owner_map_{index[username]}"] = crm_id
    return form


def test_the_owner_map_saved_on_the_connection_page_leaves_a_history_row(client, world, connections):
    client.force_login(world.carol)
    url = reverse("crm:connection", args=["hubspot"])
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    # An entry for someone the page does not list (no team yet) is kept by a save of the page.
    CrmConnection.objects.filter(pk=hubspot.pk).update(owner_map={"900": "nobody-listed"})
    first = client.post(url, _page_form(client, url, hubspot, erin="311"))
    assert first.status_code == 302, first.context["form"].errors
    assert client.post(url, _page_form(client, url, hubspot, erin="312", alice="313")).status_code == 302
    hubspot.refresh_from_db()
    assert hubspot.owner_map == {"900": "nobody-listed", "312": "erin", "313": "alice"}

    rows = list(ConnectionChange.objects.filter(kind="hubspot", what="owner_map").order_by("pk"))
    assert [(r.actor, r.before, r.after) for r in rows] == [
        (world.carol, {"311": ""}, {"311": "erin"}),
        (world.carol, {"311": "erin", "312": "", "313": ""}, {"311": "", "312": "erin", "313": "alice"}),
    ]
    # The other settings the first save changed have their own row; the secrets are not in it.
    settings_rows = ConnectionChange.objects.filter(kind="hubspot", what="settings")
    assert settings_rows.get().after["write_back"] is False  # the form left it unticked
    assert "hs-token-1234" not in str(list(ConnectionChange.objects.values_list("before", "after")))

    page = client.get(url).content.decode()
    assert "History" in page and "owner id 313" in page and "alice" in page

    # A save that changes nothing writes nothing.
    assert client.post(url, _page_form(client, url, hubspot, erin="312", alice="313")).status_code == 302
    assert ConnectionChange.objects.filter(kind="hubspot").count() == 3


def test_the_connection_history_is_append_only(client, world, connections):
    client.force_login(world.carol)
    url = reverse("crm:connection", args=["hubspot"])
    hubspot = CrmConnection.objects.get(kind=CrmKind.HUBSPOT)
    client.post(url, _page_form(client, url, hubspot, erin="311"))
    change = ConnectionChange.objects.filter(what="owner_map").get()
    for statement in ("UPDATE crm_connectionchange SET note = 'x'", "DELETE FROM crm_connectionchange"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"{statement} WHERE id = %s", [change.pk])
    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()
