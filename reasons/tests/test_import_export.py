"""Import and export of the taxonomy: a round trip changes nothing, and a file with one bad row
writes nothing and says which row and field is wrong."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reasons import services
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange
from reasons.transfer import (
    TaxonomyImportError,
    parse_taxonomy_file,
    taxonomy_export,
    taxonomy_export_csv,
    taxonomy_export_json,
)


def _state():
    return (
        list(Reason.objects.order_by("code").values()),
        list(ReasonCategory.objects.order_by("code").values()),
        list(Competitor.objects.order_by("name").values()),
        TaxonomyChange.objects.count(),
    )


def _import(name: str, content: str, actor):
    parsed = parse_taxonomy_file(filename=name, content=content.encode())
    return services.taxonomy_import(actor=actor, parsed=parsed)


@pytest.mark.parametrize(
    ("name", "export"), [("t.json", taxonomy_export_json), ("t.csv", taxonomy_export_csv)]
)
def test_round_trip_changes_nothing(world, name, export):
    services.reason_merge(
        actor=world.carol, reason=world.reasons["no-budget"], into=world.reasons["price-too-high"]
    )
    services.reason_retire(actor=world.carol, reason=world.reasons["went-dark"])
    before = _state()
    counts = _import(name, export(), world.carol)
    assert counts["created"] == counts["updated"] == 0
    assert _state() == before


def test_import_creates_updates_retires_and_merges(world):
    data = taxonomy_export()
    data["categories"].append({"code": "legal", "name": "Legal", "order": 0})  # first
    data["reasons"].append(
        {
            "code": "legal-terms",
            "kind": "loss",
            "category": "legal",
            "label": "Legal terms",
            "example": "Liability cap.",
        }
    )
    for row in data["reasons"]:
        if row["code"] == "no-budget":
            row["label"] = "No budget this year"
        if row["code"] == "went-dark":
            row["active"] = False
        if row["code"] == "value-not-proven":
            row.update(active=False, merged_into="price-too-high")
    data["competitors"].append({"name": "Acme", "aliases": ["ACME Inc"]})
    counts = _import("t.json", json.dumps(data), world.carol)
    assert counts["created"] == 3  # category, reason, competitor
    assert counts["updated"] >= 3
    assert Reason.objects.get(code="legal-terms").category.code == "legal"
    assert ReasonCategory.objects.order_by("order").first().code == "legal"
    assert Reason.objects.get(code="no-budget").label == "No budget this year"
    assert not Reason.objects.get(code="went-dark").active
    assert Reason.objects.get(code="value-not-proven").merged_into.code == "price-too-high"
    assert Competitor.objects.get(name="Acme").aliases == ["ACME Inc"]
    assert TaxonomyChange.objects.filter(actor=world.carol).exists()


@pytest.mark.parametrize(
    ("mutate", "where", "field"),
    [
        (lambda rows: rows[2].update(kind="lossy"), "reasons row 3", "kind"),
        (lambda rows: rows[4].update(category="nope"), "reasons row 5", "category"),
        (lambda rows: rows[1].update(code="Price Too High"), "reasons row 2", "code"),
        (lambda rows: rows[3].update(label=""), "reasons row 4", "name"),
        (lambda rows: rows[0].update(reopen_after_days="soon"), "reasons row 1", "reopen_after_days"),
        (lambda rows: rows[6].update(requires_note="maybe"), "reasons row 7", "requires_note"),
        (lambda rows: rows[5].update(code=rows[0]["code"]), "reasons row 6", "code"),
        (lambda rows: rows[0].update(kind="win"), "reasons row 1", "kind"),
        (
            lambda rows: rows[2].update(merged_into=rows[2]["code"], active=False),
            "reasons row 3",
            "merged_into",
        ),
    ],
)
def test_one_bad_json_row_writes_nothing_and_names_row_and_field(world, mutate, where, field):
    data = taxonomy_export()
    data["reasons"].append({"code": "new-one", "kind": "loss", "category": "other", "label": "New one"})
    for row in data["reasons"]:
        row["help_text"] = row.get("help_text", "") + " (edited)"
    mutate(data["reasons"])
    before = _state()
    with pytest.raises(TaxonomyImportError) as refused:
        _import("t.json", json.dumps(data), world.carol)
    assert any(p.where == where and p.field == field for p in refused.value.problems), refused.value.problems
    assert _state() == before


def test_one_bad_csv_row_writes_nothing_and_names_the_line(world):
    rows = list(csv.DictReader(io.StringIO(taxonomy_export_csv())))
    rows.append({"type": "reason", "code": "new-one", "name": "New one", "kind": "loss", "category": "other"})
    rows[10]["reopen_after_days"] = "-3"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
    before = _state()
    with pytest.raises(TaxonomyImportError) as refused:
        _import("t.csv", out.getvalue(), world.carol)
    assert (
        str(refused.value)
        == "line 12, field “reopen_after_days”: “-3” must be a whole number from 0 to 3650."
    )
    assert _state() == before


def test_a_refusal_while_writing_rolls_everything_back(world):
    """Rows that each look fine but clash once written (a label swap) are refused as a whole."""
    data = taxonomy_export()
    data["reasons"].append({"code": "new-one", "kind": "loss", "category": "other", "label": "New one"})
    data["reasons"].append({"code": "new-two", "kind": "loss", "category": "other", "label": "New two"})
    first = next(r for r in data["reasons"] if r["code"] == "no-budget")
    second = next(r for r in data["reasons"] if r["code"] == "price-too-high")
    first["label"], second["label"] = second["label"], first["label"]
    before = _state()
    with pytest.raises(TaxonomyImportError) as refused:
        _import("t.json", json.dumps(data), world.carol)
    assert refused.value.problems[0].field == "label"
    assert refused.value.problems[0].where.startswith("reasons row")
    assert _state() == before


def test_import_page_shows_the_problems_and_export_downloads(client, world):
    client.force_login(world.carol)
    data = taxonomy_export()
    data["reasons"][1]["kind"] = "maybe"
    upload = SimpleUploadedFile("taxonomy.json", json.dumps(data).encode(), content_type="application/json")
    before = _state()
    response = client.post(reverse("taxonomy:import"), {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported" in page
    assert "reasons row 2, field “kind”: “maybe” must be one of loss, win, no_decision." in page
    assert _state() == before

    bad = SimpleUploadedFile("taxonomy.txt", b"hello")
    assert (
        "must be a .json or .csv" in client.post(reverse("taxonomy:import"), {"file": bad}).content.decode()
    )
    broken = SimpleUploadedFile("taxonomy.json", b"{not json")
    assert "is not valid JSON" in client.post(reverse("taxonomy:import"), {"file": broken}).content.decode()

    exported = client.get(reverse("taxonomy:export"), {"format": "json"})
    assert exported["Content-Disposition"].startswith("attachment;")
    assert {r["code"] for r in json.loads(exported.content)["reasons"]} == set(world.reasons)
    exported_csv = client.get(reverse("taxonomy:export"), {"format": "csv"}).content.decode()
    assert exported_csv.splitlines()[0].startswith("type,code,name,kind,category")

    good = SimpleUploadedFile("taxonomy.csv", exported_csv.encode())
    response = client.post(reverse("taxonomy:import"), {"file": good})
    assert response.status_code == 302
