"""Who is on a deal: upserts by a CRM's id, one primary, removal kept in history and honoured by
the follow-ups."""

import pytest
from django.db import IntegrityError

from deals.contacts import Link, accounts_upsert, contacts_upsert, deal_contacts_set
from deals.models import Contact, DealContact, DealEvent

pytestmark = pytest.mark.django_db


def test_upserts_by_crm_id_and_an_erased_contact_stays_erased(world):
    accounts = accounts_upsert(
        source="hubspot", companies=[{"id": "9", "name": "Birch", "domain": "birch.example"}]
    )
    people = [{"id": "1", "name": "Noor", "email": "Noor@Birch.example", "company": "9"}]
    first = contacts_upsert(source="hubspot", people=people, accounts=accounts)["1"]
    assert (first.email, first.account.domain) == ("noor@birch.example", "birch.example")
    Contact.objects.filter(pk=first.pk).update(name="", email="", erased_at=first.updated_at)
    again = contacts_upsert(source="hubspot", people=people, accounts=accounts)["1"]
    assert again.pk == first.pk and Contact.objects.get(pk=first.pk).email == ""
    assert Contact.objects.count() == 1


def test_one_primary_removal_recorded_by_id_and_add_still_works(world):
    deal = world.deal()
    people = contacts_upsert(
        source="pipedrive",
        people=[{"id": str(n), "name": f"P{n}", "email": f"p{n}@x.example"} for n in (1, 2, 3)],
    )
    a, b, c = people["1"], people["2"], people["3"]
    deal_contacts_set(links={deal.pk: [Link(a.pk, "Buyer", True), Link(b.pk, "", True)]})
    assert list(DealContact.objects.filter(deal=deal).values_list("contact_id", "is_primary")) == [
        (a.pk, True), (b.pk, False)
    ]  # fmt: skip
    deal_contacts_set(links={deal.pk: [Link(b.pk, "Champion", True)]})
    assert list(deal.contact_links.values_list("contact_id", "role", "is_primary")) == [
        (b.pk, "Champion", True)
    ]
    removed = DealEvent.objects.get(deal=deal, field=DealEvent.Field.CONTACT, from_value=str(a.pk))
    assert removed.to_value == "" and "P1" not in f"{removed.from_value}{removed.to_value}"
    deal.contacts.add(c)
    assert set(deal.contacts.values_list("pk", flat=True)) == {b.pk, c.pk}
    with pytest.raises(IntegrityError):
        DealContact.objects.filter(deal=deal, contact=c).update(is_primary=True)
