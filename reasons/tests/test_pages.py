"""The admin's taxonomy pages and the reps' reason guide, through the Django test client."""

from django.urls import reverse

from deals import services as deal_services
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange


def test_page_shows_usage_count_and_last_used_per_reason(client, world):
    reason = world.reasons["no-budget"]
    for _ in range(3):
        deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)
    last = reason.closures.order_by("-closed_at").first().closed_at
    client.force_login(world.carol)
    page = client.get(reverse("taxonomy:index")).content.decode()
    row = page.split(f'id="reason-{reason.pk}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="usage-count">3</span>' in row
    assert last.strftime("%Y-%m-%d") in row
    unused = page.split(f'id="reason-{world.reasons["went-dark"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "Never used" in unused


def test_admin_creates_edits_and_reorders_a_reason_through_the_pages(client, world):
    client.force_login(world.carol)
    category = ReasonCategory.objects.get(code="timing")
    response = client.post(
        reverse("taxonomy:reason-create"),
        {
            "kind": "loss",
            "category": category.pk,
            "label": "Fiscal year end",
            "code": "fiscal-year-end",
            "help_text": "Their budget year ended first.",
            "example": "Could not sign before 31 March.",
            "reopen_after_days": "60",
        },
    )
    reason = Reason.objects.get(code="fiscal-year-end")
    assert response.status_code == 302 and response.url.endswith(f"#reason-{reason.pk}")
    assert (reason.kind, reason.category, reason.reopen_after_days, reason.active) == (
        "loss",
        category,
        60,
        True,
    )

    bad = client.post(
        reverse("taxonomy:reason-create"),
        {"kind": "loss", "category": category.pk, "label": "Bad timing / project postponed", "code": "x-1"},
    )
    assert bad.status_code == 400
    assert "already a loss reason labelled" in bad.content.decode()

    siblings = lambda: list(  # noqa: E731
        Reason.objects.filter(category=category, kind="loss").order_by("order").values_list("code", flat=True)
    )
    assert siblings()[-1] == "fiscal-year-end"
    client.post(reverse("taxonomy:reason-move", args=[reason.pk]), {"direction": "up"})
    assert siblings()[-2] == "fiscal-year-end"
    response = client.post(
        reverse("taxonomy:reason-move", args=[Reason.objects.get(code="bad-timing").pk]), {"direction": "up"}
    )
    assert "already first" in client.get(response.url).content.decode()


def test_admin_manages_categories_and_competitors(client, world):
    client.force_login(world.carol)
    client.post(reverse("taxonomy:category-create"), {"code": "legal", "name": "Legal"})
    legal = ReasonCategory.objects.get(code="legal")
    client.post(
        reverse("taxonomy:category-edit", args=[legal.pk]), {"name": "Legal / Compliance", "code": "ignored"}
    )
    legal.refresh_from_db()
    assert (legal.code, legal.name) == ("legal", "Legal / Compliance")
    client.post(reverse("taxonomy:category-move", args=[legal.pk]), {"direction": "up"})
    assert list(ReasonCategory.objects.order_by("order").values_list("code", flat=True))[-2] == "legal"

    client.post(
        reverse("taxonomy:competitor-create"), {"name": "Acme", "aliases": "ACME, Acme Inc, Acme Corp"}
    )
    acme = Competitor.objects.get(name="Acme")
    assert acme.aliases == ["Acme Inc", "Acme Corp"]  # the name itself is not an alias
    northwind = Competitor.objects.get(name="Northwind CRM")
    response = client.post(reverse("taxonomy:competitor-merge", args=[acme.pk]), {"into": northwind.pk})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.merged_into == northwind and not acme.active
    page = client.get(reverse("taxonomy:competitors")).content.decode()
    assert 'Undo merge<span class="visually-hidden"> of Acme' in page


def test_merge_page_refuses_across_kinds_with_a_clear_message(client, world):
    client.force_login(world.carol)
    reason = world.reasons["no-budget"]
    page = client.get(reverse("taxonomy:reason-merge", args=[reason.pk])).content.decode()
    assert "Price too high" in page and "Best product fit" not in page  # only same-kind survivors offered
    response = client.post(
        reverse("taxonomy:reason-merge", args=[reason.pk]), {"into": world.reasons["win-best-fit"].pk}
    )
    assert response.status_code == 400
    assert "merge only reasons of the same kind" in response.content.decode()
    assert not TaxonomyChange.objects.exists()


def test_reason_guide_explains_active_reasons_with_examples(client, world):
    retired = world.reasons["went-dark"]
    retired.active = False
    retired.save()
    client.force_login(world.alice)
    page = client.get(reverse("taxonomy:guide")).content.decode()
    assert "Price too high" in page
    assert world.reasons["price-too-high"].example in page.replace("&#x27;", "'")
    assert "Buyer went dark" not in page
    assert 'id="guide-no_decision"' in page


def test_close_form_links_to_the_reason_guide(client, world):
    client.force_login(world.alice)
    page = client.get(reverse("deals:mark-lost", args=[world.deal().pk])).content.decode()
    assert f'href="{reverse("taxonomy:guide")}#guide-loss"' in page


def test_close_form_help_text_carries_the_example(client, world):
    client.force_login(world.alice)
    page = client.get(reverse("deals:mark-lost", args=[world.deal().pk])).content.decode()
    example = world.reasons["no-budget"].example.replace("'", "&#x27;")
    assert f"Example: {example}" in page
