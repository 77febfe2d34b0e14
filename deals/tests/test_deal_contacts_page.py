"""On the deal page a rep adds, edits and removes the deal's buyers and sees who will be written to."""

import pytest
from django.urls import reverse

from deals.models import Contact, DealContact, DealEvent
from followups.models import ContactOptOut

pytestmark = pytest.mark.django_db
PAGE_QUERIES = 11  # the CRM box reads the deal's write-backs and its owner write-backs


def _add(client, deal, **data):
    return client.post(reverse("deals:contact-add", kwargs={"pk": deal.pk}), data)


def test_a_rep_adds_edits_and_removes_a_buyer(client, world):
    deal = world.deal(owner="alice")
    client.force_login(world.alice)
    response = _add(
        client, deal, name="Noor Haddad", email="Noor@Juniper.example", role="Champion", is_primary="on"
    )
    assert response.status_code == 302
    link = DealContact.objects.select_related("contact").get(deal=deal)
    assert (link.contact.name, link.contact.email, link.role, link.is_primary) == (
        "Noor Haddad", "noor@juniper.example", "Champion", True,
    )  # fmt: skip
    assert link.contact.account == deal.account
    page = client.get(reverse("deals:detail", kwargs={"pk": deal.pk})).content.decode()
    assert "Noor Haddad" in page and "Receives nurture e-mails" in page and "Primary" in page

    edit = reverse("deals:contact-edit", kwargs={"pk": deal.pk, "contact_id": link.contact_id})
    assert client.get(edit).status_code == 200
    response = client.post(
        edit, {"name": "Noor Haddad-Lee", "email": "noor@juniper.example", "role": "Sponsor"}
    )
    assert response.status_code == 302
    link.refresh_from_db()
    link.contact.refresh_from_db()
    assert (link.contact.name, link.role, link.is_primary) == ("Noor Haddad-Lee", "Sponsor", False)

    remove = reverse("deals:contact-remove", kwargs={"pk": deal.pk, "contact_id": link.contact_id})
    assert client.post(remove).status_code == 302
    assert not DealContact.objects.filter(deal=deal).exists()
    assert Contact.objects.filter(pk=link.contact_id).exists()  # the person stays; only the link goes
    events = DealEvent.objects.filter(deal=deal, field="contact").values_list("from_value", "to_value")
    assert list(events) == [(str(link.contact_id), ""), ("", str(link.contact_id))]


def test_a_bad_address_is_refused_naming_the_field_and_keeping_what_was_typed(client, world):
    deal = world.deal(owner="alice")
    client.force_login(world.alice)
    response = _add(client, deal, name="Ines Varga", email="ines(at)juniper", role="CFO")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page
    assert 'value="Ines Varga"' in page and 'value="CFO"' in page and " open>" in page
    assert not Contact.objects.exists()
    response = _add(client, deal, name="", email="")
    assert response.status_code == 400 and "name or an e-mail address" in response.content.decode()


def test_who_will_not_be_written_to_is_shown(client, world):
    deal = world.deal(owner="alice")
    client.force_login(world.alice)
    _add(client, deal, name="Ines Varga", email="ines@juniper.example")
    _add(client, deal, name="Raj Patel")
    ContactOptOut.objects.create(email="ines@juniper.example")
    page = client.get(reverse("deals:detail", kwargs={"pk": deal.pk})).content.decode()
    assert "Opted out: not written to" in page and "No e-mail address" in page
    assert "Receives nurture e-mails" not in page


def test_another_team_gets_404_on_every_contact_action(client, world):
    deal = world.deal(owner="alice")
    client.force_login(world.alice)
    _add(client, deal, name="Noor Haddad", email="noor@juniper.example")
    contact = Contact.objects.get()
    for username in ["dave", "grace"]:
        client.force_login(getattr(world, username))
        kwargs = {"pk": deal.pk, "contact_id": contact.pk}
        assert _add(client, deal, name="Spy", email="spy@x.example").status_code == 404
        assert client.get(reverse("deals:contact-edit", kwargs=kwargs)).status_code == 404
        assert client.post(reverse("deals:contact-edit", kwargs=kwargs), {"name": "Spy"}).status_code == 404
        assert client.post(reverse("deals:contact-remove", kwargs=kwargs)).status_code == 404
    assert list(Contact.objects.values_list("name", flat=True)) == ["Noor Haddad"]
    assert DealContact.objects.count() == 1
    # A contact of another deal cannot be edited through this one.
    client.force_login(world.alice)
    other = world.deal(owner="alice")
    url = reverse("deals:contact-edit", kwargs={"pk": other.pk, "contact_id": contact.pk})
    assert client.get(url).status_code == 404


def test_the_deal_page_query_count_does_not_grow_with_buyers(client, world, django_assert_max_num_queries):
    deal = world.deal(owner="alice")
    client.force_login(world.alice)
    for n in range(2):
        _add(client, deal, name=f"Buyer {n}", email=f"b{n}@x.example")
    url = reverse("deals:detail", kwargs={"pk": deal.pk})
    # session, user, deal (with its relations), closures, events, buyers, opt-outs, follow-ups, ...
    with django_assert_max_num_queries(PAGE_QUERIES):
        client.get(url)
    for n in range(2, 8):
        _add(client, deal, name=f"Buyer {n}", email=f"b{n}@x.example")
    with django_assert_max_num_queries(PAGE_QUERIES):
        page = client.get(url).content.decode()
    assert page.count("Receives nurture e-mails") == 8
