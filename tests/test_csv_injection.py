"""Every CSV the project writes opens safely in a spreadsheet: names that look like formulas come
out as text (a leading apostrophe), numbers stay numbers. Checked on every CSV endpoint."""

import csv
import io

import pytest
from django.utils import timezone

from closedlost.csvsafe import FORMULA_START, PLAIN_NUMBER, safe_cell
from deals import services as deal_services
from deals.factories import AccountFactory
from insights.selectors import FIGURES
from reasons.models import Competitor

pytestmark = pytest.mark.django_db

DANGEROUS = [
    '=HYPERLINK("http://x","y")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\tTabbed",
    "\rReturned",
]


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(), newline="")))


def _assert_safe(rows: list[list[str]], where: str) -> None:
    for row in rows:
        for value in row:
            if value.startswith(FORMULA_START):
                assert PLAIN_NUMBER.match(value), (where, value)  # only a number may start so


def test_the_rule_keeps_numbers_and_neutralises_formulas():
    assert [safe_cell(v) for v in DANGEROUS] == ["'" + v for v in DANGEROUS]
    assert [safe_cell(v) for v in (-3, 2.5, "-12.50", "+4", "1e5", None, "Birch")] == [
        -3, 2.5, "-12.50", "+4", "1e5", "", "Birch",
    ]  # fmt: skip


def test_every_csv_endpoint_neutralises_dangerous_names(client, world):
    today = timezone.now()
    for number, name in enumerate(DANGEROUS):
        competitor = Competitor.objects.create(name=name if name.strip() else f"x{number}")
        deal = world.deal(name=name)
        deal.account = AccountFactory(name=name)
        deal.save(update_fields=["account"])
        deal_services.deal_mark_lost(
            deal=deal, reason=world.reasons["competitor-cheaper"], actor=world.alice, competitor=competitor,
            closed_at=today,
        )  # fmt: skip
    client.force_login(world.carol)
    query = {"period": "custom", "from": f"{today:%Y-%m-01}", "to": f"{today:%Y-%m-%d}"}
    seen = set()
    for name in [*FIGURES, "deals"]:
        response = client.get(f"/insights/export/{name}.csv", query)
        assert response.status_code == 200, name
        rows = _rows(b"".join(response.streaming_content))
        _assert_safe(rows, name)
        seen.update(value for row in rows for value in row)
    taxonomy = client.get("/taxonomy/export/", {"format": "csv"})
    rows = _rows(taxonomy.content)
    _assert_safe(rows, "taxonomy")
    seen.update(value for row in rows for value in row)
    # The names are all there, as text a spreadsheet shows verbatim.
    for name in DANGEROUS:
        assert "'" + name in seen, name
