"""Retire, never delete: the database refuses to delete a used reason, the page never offers it,
and a retired reason leaves the rep's form at once while old closures keep showing it."""

import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.urls import reverse

from deals import services as deal_services
from reasons import services
from reasons.models import Reason


def offered_reasons(html: str) -> set[str]:
    """The labels of the options in the close form's reason dropdown."""
    select = re.search(r'<select name="reason".*?</select>', html, re.S).group(0)
    return set(re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', select))


def test_deleting_a_used_reason_fails_at_the_database(world):
    reason = world.reasons["no-budget"]
    deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)
    with pytest.raises(ProtectedError):
        reason.delete()
    # Even raw SQL that skips Django: the foreign key refuses it.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("DELETE FROM reasons_reason WHERE id = %s", [reason.pk])
    assert Reason.objects.filter(pk=reason.pk).exists()


def test_the_page_offers_retire_and_never_delete(client, world):
    reason = world.reasons["no-budget"]
    deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)
    client.force_login(world.carol)
    page = client.get(reverse("taxonomy:index")).content.decode()
    assert reverse("taxonomy:reason-retire", args=[reason.pk]) in page
    assert "Retire, never delete" in page
    assert "/delete" not in page and ">Delete" not in page
    # Django admin refuses to delete reasons and competitors too.
    client.force_login(world.carol)
    world.carol.is_staff = True
    world.carol.is_superuser = True
    world.carol.save()
    assert client.get(reverse("admin:reasons_reason_delete", args=[reason.pk])).status_code == 403


def test_retired_reason_leaves_the_form_next_request_and_old_closure_keeps_it(client, world):
    reason = world.reasons["no-budget"]
    old = world.deal(name="Old lost deal")
    deal_services.deal_mark_lost(deal=old, reason=reason, actor=world.alice)
    open_deal = world.deal(name="Open deal")
    client.force_login(world.alice)
    form_url = reverse("deals:mark-lost", args=[open_deal.pk])
    assert "No budget" in offered_reasons(client.get(form_url).content.decode())

    client.force_login(world.carol)
    response = client.post(reverse("taxonomy:reason-retire", args=[reason.pk]))
    assert response.status_code == 302

    client.force_login(world.alice)
    assert "No budget" not in offered_reasons(client.get(form_url).content.decode())
    assert "Price too high" in offered_reasons(client.get(form_url).content.decode())
    assert "No budget" in client.get(reverse("deals:detail", args=[old.pk])).content.decode()
    # A stale form that still posts the retired reason is refused by the close service.
    refused = client.post(form_url, {"reason": reason.pk})
    assert refused.status_code == 400
    assert "has been retired" in refused.content.decode()

    services.reason_restore(actor=world.carol, reason=reason)
    assert "No budget" in offered_reasons(client.get(form_url).content.decode())


def test_retire_and_restore_refuse_what_makes_no_sense(world):
    reason = world.reasons["no-budget"]
    with pytest.raises(services.TaxonomyError, match="already active"):
        services.reason_restore(actor=world.carol, reason=reason)
    services.reason_merge(actor=world.carol, reason=reason, into=world.reasons["price-too-high"])
    with pytest.raises(services.TaxonomyError, match="already retired"):
        services.reason_retire(actor=world.carol, reason=reason)
    with pytest.raises(services.TaxonomyError, match="undo the merge to restore it"):
        services.reason_restore(actor=world.carol, reason=reason)
