"""The reason taxonomy in the JSON API: everyone signed in reads it, only admins change it.

Changes go through reasons.services, so each one leaves a TaxonomyChange row naming who made it.
"""

import pytest

from deals import services as deal_services
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange


def _write_routes(reason: Reason, competitor: Competitor, other: Reason, rival: Competitor):
    """(method, url, body) of every write the API offers on the taxonomy."""
    return [
        (
            "post",
            "/api/reasons/",
            {"kind": "loss", "category": "price-value", "code": "too-slow", "label": "Slow"},
        ),
        ("patch", f"/api/reasons/{reason.pk}/", {"label": "Renamed"}),
        ("post", f"/api/reasons/{reason.pk}/retire/", None),
        ("post", f"/api/reasons/{reason.pk}/restore/", None),
        ("post", f"/api/reasons/{reason.pk}/merge/", {"into": other.code}),
        ("post", f"/api/reasons/{reason.pk}/unmerge/", None),
        ("post", "/api/competitors/", {"name": "Umbrella CRM"}),
        ("patch", f"/api/competitors/{competitor.pk}/", {"aliases": ["NW"]}),
        ("post", f"/api/competitors/{competitor.pk}/retire/", None),
        ("post", f"/api/competitors/{competitor.pk}/restore/", None),
        ("post", f"/api/competitors/{competitor.pk}/merge/", {"into": rival.pk}),
        ("post", f"/api/competitors/{competitor.pk}/unmerge/", None),
    ]


def test_every_signed_in_user_reads_the_taxonomy_with_codes_and_rules(world, api_as):
    for user in (world.alice, world.bob, world.grace, world.carol):
        response = api_as(user).get("/api/reasons/")
        assert response.status_code == 200
        rows = {row["code"]: row for row in response.json()}
        assert set(rows) == set(Reason.objects.values_list("code", flat=True))
    cheaper = rows["competitor-cheaper"]
    assert cheaper["kind"] == "loss"
    assert cheaper["category"]["code"] == "competition"
    assert (cheaper["active"], cheaper["requires_competitor"], cheaper["requires_note"]) == (
        True,
        True,
        False,
    )
    assert rows["other-loss"]["requires_note"] is True
    assert rows["price-too-high"]["reopen_after_days"] == 180
    detail = api_as(world.alice).get(f"/api/reasons/{cheaper['id']}/").json()
    assert detail == cheaper
    categories = api_as(world.alice).get("/api/reason-categories/").json()
    assert [c["code"] for c in categories] == list(ReasonCategory.objects.values_list("code", flat=True))
    competitors = api_as(world.alice).get("/api/competitors/").json()
    assert "Northwind CRM" in [c["name"] for c in competitors]


def test_reason_filters(world, api_as):
    retired = world.reasons["price-too-high"]
    retired.active = False
    retired.save(update_fields=["active"])
    client = api_as(world.alice)
    assert {r["kind"] for r in client.get("/api/reasons/?kind=win").json()} == {"win"}
    inactive = client.get("/api/reasons/?active=false").json()
    assert [r["code"] for r in inactive] == ["price-too-high"]
    assert "price-too-high" not in [r["code"] for r in client.get("/api/reasons/?active=true").json()]
    assert {r["category"]["code"] for r in client.get("/api/reasons/?category=timing").json()} == {"timing"}
    bad = client.get("/api/reasons/?kind=maybe")
    assert bad.status_code == 400 and list(bad.json()) == ["kind"]
    assert client.get("/api/competitors/?active=perhaps").status_code == 400


def test_taxonomy_lists_query_counts_do_not_grow(world, api_as, django_assert_num_queries):
    category = ReasonCategory.objects.get(code="other")
    client = api_as(world.alice)
    client.get("/api/reasons/")  # the token's first use is recorded once a minute: not what is counted
    for total in (5, 50):
        for i in range(total - Competitor.objects.filter(name__startswith="Rival").count()):
            Competitor.objects.create(name=f"Rival {total}-{i}")
            Reason.objects.create(
                category=category, kind="loss", code=f"extra-{total}-{i}", label=f"Extra {total} {i}"
            )
        for url in ("/api/reasons/", "/api/competitors/", "/api/reason-categories/"):
            with django_assert_num_queries(2):  # token, rows (with their category)
                assert client.get(url).status_code == 200


def test_only_admins_change_the_taxonomy(world, api_as, competitor):
    reason, other = world.reasons["price-too-high"], world.reasons["no-budget"]
    rival = Competitor.objects.exclude(pk=competitor.pk).first()
    before = {r.pk: (r.label, r.active, r.merged_into_id) for r in Reason.objects.all()}
    for user in (world.alice, world.bob, world.grace):
        client = api_as(user)
        for method, url, body in _write_routes(reason, competitor, other, rival):
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 403, (user, method, url)
            assert response.json() == {"detail": "Only admins (RevOps) may change the reason taxonomy."}
    assert not TaxonomyChange.objects.exists()
    assert {r.pk: (r.label, r.active, r.merged_into_id) for r in Reason.objects.all()} == before
    assert not Competitor.objects.filter(name="Umbrella CRM").exists()
    for url in (f"/api/reasons/{reason.pk}/", f"/api/competitors/{competitor.pk}/"):
        assert api_as(world.carol).delete(url).status_code == 405  # never deleted: retire or merge


def test_admin_creates_and_edits_a_reason_with_history(world, api_as):
    client = api_as(world.carol)
    response = client.post(
        "/api/reasons/",
        {
            "kind": "loss",
            "category": "product-fit",
            "code": "no-sso",
            "label": "No single sign-on",
            "requires_note": True,
            "reopen_after_days": 120,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["code"], body["kind"], body["category"]["code"], body["active"]) == (
        "no-sso",
        "loss",
        "product-fit",
        True,
    )
    reason = Reason.objects.get(code="no-sso")
    change = TaxonomyChange.objects.get(reason=reason)
    assert (change.action, change.actor) == ("create", world.carol)

    response = client.patch(f"/api/reasons/{reason.pk}/", {"label": "No SSO (SAML)"}, format="json")
    assert response.status_code == 200
    assert response.json()["label"] == "No SSO (SAML)"
    assert response.json()["requires_note"] is True  # untouched fields stay
    update = TaxonomyChange.objects.filter(reason=reason, action="update").get()
    assert (update.before["label"], update.after["label"]) == ("No single sign-on", "No SSO (SAML)")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"category": "timing", "code": "x-y", "label": "New"}, "kind", "required"),
        ({"kind": "loss", "category": "nowhere", "code": "x-y", "label": "New"}, "category", "No category"),
        (
            {"kind": "loss", "category": "timing", "code": "Not A Code", "label": "New"},
            "code",
            "not a valid code",
        ),
        ({"kind": "loss", "category": "timing", "code": "no-budget", "label": "New"}, "code", "already used"),
        (
            {"kind": "loss", "category": "timing", "code": "x-y", "label": "No budget"},
            "label",
            "already a loss",
        ),
        ({"kind": "loss", "category": "timing", "code": "x-y", "label": "  "}, "label", "may not be blank"),
        (
            {"kind": "loss", "category": "timing", "code": "x-y", "label": "New", "reopen_after_days": 9000},
            "reopen_after_days",
            "between 0 and",
        ),
    ],
)
def test_a_refused_reason_is_a_400_naming_the_field(world, api_as, body, field, words):
    response = api_as(world.carol).post("/api/reasons/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert words in response.json()[field][0]
    assert not TaxonomyChange.objects.exists()


def test_a_used_reasons_code_is_frozen(world, api_as):
    deal = world.deal()
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    reason = world.reasons["no-budget"]
    response = api_as(world.carol).patch(f"/api/reasons/{reason.pk}/", {"code": "budget-gone"}, format="json")
    assert response.status_code == 400
    assert "is frozen" in response.json()["code"][0]
    assert Reason.objects.get(pk=reason.pk).code == "no-budget"


def test_admin_retires_restores_merges_and_unmerges_a_reason(world, api_as):
    client = api_as(world.carol)
    reason, survivor = world.reasons["value-not-proven"], world.reasons["price-too-high"]
    assert client.post(f"/api/reasons/{reason.pk}/retire/").json()["active"] is False
    again = client.post(f"/api/reasons/{reason.pk}/retire/")
    assert again.status_code == 409 and "already retired" in again.json()["detail"]
    assert client.post(f"/api/reasons/{reason.pk}/restore/").json()["active"] is True

    wrong_kind = client.post(f"/api/reasons/{reason.pk}/merge/", {"into": "win-best-fit"}, format="json")
    assert wrong_kind.status_code == 400 and "same kind" in wrong_kind.json()["into"][0]
    itself = client.post(f"/api/reasons/{reason.pk}/merge/", {"into": reason.pk}, format="json")
    assert itself.status_code == 400 and "into itself" in itself.json()["into"][0]
    merged = client.post(f"/api/reasons/{reason.pk}/merge/", {"into": survivor.code}, format="json")
    assert merged.status_code == 200
    assert (merged.json()["merged_into"], merged.json()["active"]) == (survivor.pk, False)
    unmerged = client.post(f"/api/reasons/{reason.pk}/unmerge/")
    assert (unmerged.json()["merged_into"], unmerged.json()["active"]) == (None, True)
    actions = list(
        TaxonomyChange.objects.filter(reason=reason).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["retire", "restore", "merge", "unmerge"]
    assert set(TaxonomyChange.objects.values_list("actor", flat=True)) == {world.carol.pk}


def test_admin_manages_competitors(world, api_as, competitor):
    client = api_as(world.carol)
    created = client.post(
        "/api/competitors/", {"name": "Umbrella CRM", "aliases": ["Umbrella"]}, format="json"
    )
    assert created.status_code == 201
    umbrella = Competitor.objects.get(name="Umbrella CRM")
    duplicate = client.post("/api/competitors/", {"name": "umbrella crm"}, format="json")
    assert duplicate.status_code == 400 and "already a competitor" in duplicate.json()["name"][0]
    patched = client.patch(f"/api/competitors/{umbrella.pk}/", {"aliases": ["Umb", "UCRM"]}, format="json")
    assert patched.json()["aliases"] == ["Umb", "UCRM"] and patched.json()["name"] == "Umbrella CRM"
    merged = client.post(f"/api/competitors/{umbrella.pk}/merge/", {"into": competitor.name}, format="json")
    assert merged.status_code == 200 and merged.json()["merged_into"] == competitor.pk
    restore = client.post(f"/api/competitors/{umbrella.pk}/restore/")
    assert restore.status_code == 409 and "undo the merge" in restore.json()["detail"]
    assert client.post(f"/api/competitors/{umbrella.pk}/unmerge/").json()["merged_into"] is None
    assert client.post(f"/api/competitors/{umbrella.pk}/retire/").json()["active"] is False
    assert TaxonomyChange.objects.filter(competitor=umbrella).count() == 5
