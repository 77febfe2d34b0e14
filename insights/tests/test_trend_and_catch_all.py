"""The reason trend carries every reason in the API and the CSV (the chart draws the top few and
"all other reasons"); the "Other" share counts the reasons admins mark as catch-all."""

import csv
import io
import json
import re

from django.urls import reverse
from django.utils import timezone

from deals import services as deal_services
from insights.selectors import TREND_TOP_REASONS
from reasons.models import Reason, ReasonCategory, ReasonKind


def _period():
    today = timezone.localdate()
    return {"period": "custom", "from": today.replace(day=1).isoformat(), "to": today.isoformat()}


def _plain_loss_reasons(world, count: int) -> list[Reason]:
    plain = [
        r for r in world.reasons.values()
        if r.kind == ReasonKind.LOSS and not r.requires_competitor and not r.requires_note
    ]  # fmt: skip
    return sorted(plain, key=lambda r: r.code)[:count]


def test_trend_api_and_csv_carry_every_reason_and_the_chart_the_top_plus_others(client, world):
    reasons = _plain_loss_reasons(world, TREND_TOP_REASONS + 2)
    for position, reason in enumerate(reasons):
        for _ in range(len(reasons) - position):  # distinct totals: a fixed order
            deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)
    client.force_login(world.bob)
    month = timezone.localdate().strftime("%Y-%m")

    api = client.get("/api/figures/reason-trend/", _period()).json()["data"]
    assert [s["reason_id"] for s in api["series"]] == [r.pk for r in reasons]
    assert [s["total"] for s in api["series"]] == list(range(len(reasons), 0, -1))
    assert api["others"]["reasons"] == 2 and api["others"]["total"] == 2 + 1

    response = client.get("/insights/export/reason-trend.csv", _period())
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    lost_this_month = {int(r["reason_id"]): int(r["lost"]) for r in rows if r["month"] == month}
    assert lost_this_month == {r.pk: len(reasons) - i for i, r in enumerate(reasons)}

    page = client.get("/insights/", _period()).content.decode()
    charts = json.loads(re.search(r'id="dashboard-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    labels = [s["label"] for s in charts["trend"]["series"]]
    assert labels == [r.label for r in reasons[:TREND_TOP_REASONS]] + ["All other reasons (2)"]
    assert sum(charts["trend"]["series"][-1]["data"]) == 3
    assert "All other reasons (2; each in the CSV)" in page


def test_other_share_counts_reasons_marked_catch_all_whatever_their_category(client, world):
    assert Reason.objects.get(code="other-loss").is_catch_all  # the starter's "Other" is marked
    client.force_login(world.carol)
    fit = ReasonCategory.objects.create(name="Fit & other", code="fit-other", order=50)
    response = client.post(
        reverse("taxonomy:reason-create"),
        {"kind": "loss", "category": fit.pk, "label": "Something else", "code": "something-else",
         "is_catch_all": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    catch_all = Reason.objects.get(code="something-else")
    assert catch_all.is_catch_all
    assert "Catch-all" in client.get(reverse("taxonomy:index")).content.decode()
    plain = _plain_loss_reasons(world, 1)[0]
    for reason in (catch_all, catch_all, plain, plain):
        deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)

    client.force_login(world.bob)
    health = client.get("/api/figures/taxonomy-health/", _period()).json()["data"]
    assert (health["other"], health["lost_with_reason"], health["other_share"]) == (2, 4, 0.5)
    assert f"reason={catch_all.pk}" in health["links"]["other"]

    # Unmarked through the edit page: the share drops to nothing.
    client.force_login(world.carol)
    edit = {
        "category": fit.pk,
        "label": "Something else",
        "code": "something-else",
        "help_text": "",
        "example": "",
    }
    assert client.post(reverse("taxonomy:reason-edit", args=[catch_all.pk]), edit).status_code == 302
    assert not Reason.objects.get(pk=catch_all.pk).is_catch_all
    client.force_login(world.bob)
    health = client.get("/api/figures/taxonomy-health/", _period()).json()["data"]
    assert (health["other"], health["other_share"]) == (0, 0.0)
