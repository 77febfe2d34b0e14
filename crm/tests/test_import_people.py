"""The CSV import's contact and company columns: several people in one cell separated by ";",
HubSpot's "Associated Contact" form `Name (email)`, the company's domain; a bad address is the row's
error naming the column; importing the file again adds nobody twice."""

import csv
import io

import pytest

from crm import imports
from crm.importing.columns import PRESETS, RowError
from crm.importing.people import Buyer, parse_people
from crm.models import ImportJob, ImportRowError
from deals.models import Contact, Deal, DealContact

pytestmark = pytest.mark.django_db

COLUMNS = ["Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Create Date", "Deal owner",
           "Associated Company", "Company Domain Name", "Associated Contact"]  # fmt: skip
MAP = {field: names[0] for field, names in PRESETS["hubspot"].items() if names[0] in COLUMNS} | {
    "account": "Associated Company",
    "contacts": "Associated Contact",
}


def _export(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def _import(world, content: str) -> ImportJob:
    job = imports.import_job_create(kind="hubspot", filename="deals.csv", content=content, actor=world.carol)
    imports.import_job_start(job=job, column_map=MAP)
    assert imports.import_job_run(job_id=job.pk) == "done"
    return ImportJob.objects.get(pk=job.pk)


def test_a_cell_of_people_in_hubspots_form_and_others():
    cell = (
        "Noor Haddad (noor@juniper.example); Ines Varga <INES@juniper.example>;\n"
        'raj@juniper.example; "Li Wei"'
    )
    assert parse_people(cell) == [
        Buyer("Noor Haddad", "noor@juniper.example"),
        Buyer("Ines Varga", "ines@juniper.example"),
        Buyer("raj@juniper.example", "raj@juniper.example"),
        Buyer("Li Wei", ""),
    ]
    assert parse_people("Noor (noor@juniper.example); Noor again (NOOR@juniper.example)") == [
        Buyer("Noor", "noor@juniper.example")
    ]
    with pytest.raises(RowError) as bad:
        parse_people("Noor Haddad (noor@juniper); Ines Varga (ines@juniper.example)")
    assert bad.value.field == "contacts" and bad.value.value == "Noor Haddad (noor@juniper)"


def test_imported_deals_bring_their_people_and_company_domain(world):
    rows = [
        ["501", "Juniper: Rollout", "Demo", "New business", "30000", "2026-03-02", "alice", "Juniper Labs",
         "juniper.example", "Noor Haddad (noor@juniper.example); Ines Varga (ines@juniper.example)"],
        ["502", "Juniper: Expansion", "Proposal", "New business", "12000", "2026-03-04", "alice",
         "Juniper Labs", "", "Noor Haddad (noor@juniper.example)"],
        ["503", "Oak: Pilot", "Demo", "New business", "9000", "2026-03-05", "erin", "Oak", "",
         "Sam Oak (sam@oak)"],
        ["504", "Birch: Renewal", "Demo", "New business", "8000", "2026-03-06", "erin", "Birch", "", ""],
    ]  # fmt: skip
    job = _import(world, _export(rows))
    assert job.created_count == 3
    [error] = ImportRowError.objects.filter(job=job)
    assert (error.row, error.field, error.value) == (4, "contacts", "Sam Oak (sam@oak)")
    rollout = Deal.objects.get(hubspot_id="501")
    people = DealContact.objects.filter(deal=rollout).select_related("contact").order_by("contact__name")
    assert [(p.contact.name, p.contact.email) for p in people] == [
        ("Ines Varga", "ines@juniper.example"),
        ("Noor Haddad", "noor@juniper.example"),
    ]
    assert rollout.account.domain == "juniper.example"
    expansion = Deal.objects.get(hubspot_id="502")
    assert list(expansion.contacts.values_list("email", flat=True)) == ["noor@juniper.example"]
    assert Contact.objects.filter(email="noor@juniper.example").count() == 1  # one person, two deals
    assert not Deal.objects.filter(hubspot_id="503").exists()
    assert not DealContact.objects.filter(deal__hubspot_id="504").exists()

    # The same file again: nobody twice; a contact the rep made primary stays primary.
    DealContact.objects.filter(deal=rollout, contact__email="ines@juniper.example").update(is_primary=True)
    before = list(DealContact.objects.order_by("pk").values_list("deal_id", "contact_id", "is_primary"))
    _import(world, _export(rows))
    assert (
        list(DealContact.objects.order_by("pk").values_list("deal_id", "contact_id", "is_primary")) == before
    )
    assert Contact.objects.count() == 2
