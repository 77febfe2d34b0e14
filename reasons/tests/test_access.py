"""Only admins reach the taxonomy pages: reps and managers get 403 on every one (walked from the
URLconf, so a new page cannot slip through). The reason guide is for everyone signed in."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse

from deals import services as deal_services
from reasons import services
from reasons import urls as taxonomy_urls
from reasons.models import Competitor, Reason, ReasonCategory, TaxonomyChange

PUBLIC = {"guide"}


def _taxonomy_urls() -> list[str]:
    reason = Reason.objects.get(code="no-budget")
    objects = {
        "reason": reason.pk,
        "category": ReasonCategory.objects.get(code="price-value").pk,
        "competitor": Competitor.objects.get(name="Northwind CRM").pk,
    }
    found = []
    for pattern in taxonomy_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {}
        if "<int:pk>" in str(pattern.pattern):
            kwargs["pk"] = objects[pattern.name.split("-")[0]]
        found.append((pattern.name, reverse(f"taxonomy:{pattern.name}", kwargs=kwargs)))
    return found


def test_every_taxonomy_url_is_walked(world):
    names = {name for name, _url in _taxonomy_urls()}
    assert len(names) == len(taxonomy_urls.urlpatterns) >= 20


@pytest.mark.parametrize("username", ["alice", "bob"])
def test_reps_and_managers_get_403_on_every_admin_url(client, world, username):
    client.force_login(getattr(world, username))
    before = (list(Reason.objects.values_list("code", "active", "order")), TaxonomyChange.objects.count())
    for name, url in _taxonomy_urls():
        expected = 200 if name in PUBLIC else 403
        assert client.get(url).status_code == expected, (name, url)
        if name not in PUBLIC:
            response = client.post(
                url, {"direction": "up", "into": 1, "name": "x", "code": "x", "label": "x"}
            )
            assert response.status_code == 403, (name, url)
    assert (
        list(Reason.objects.values_list("code", "active", "order")),
        TaxonomyChange.objects.count(),
    ) == before


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    for _name, url in _taxonomy_urls():
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_admin_reaches_every_page(client, world):
    client.force_login(world.carol)
    for name, url in _taxonomy_urls():
        if name.endswith(("move", "retire", "restore", "unmerge")):
            continue  # POST-only actions
        assert client.get(url).status_code == 200, (name, url)


def test_nav_links_admins_to_the_taxonomy_and_reps_to_the_guide(client, world):
    client.force_login(world.alice)
    page = client.get(reverse("deals:list")).content.decode()
    assert reverse("taxonomy:guide") in page and f'href="{reverse("taxonomy:index")}"' not in page
    client.force_login(world.carol)
    assert f'href="{reverse("taxonomy:index")}"' in client.get(reverse("deals:list")).content.decode()


def _add_reasons(world, n: int, start: int) -> None:
    category = ReasonCategory.objects.get(code="other")
    for i in range(start, start + n):
        reason = Reason.objects.create(
            category=category, kind="loss", code=f"extra-{i}", label=f"Extra reason {i}", order=100 + i
        )
        deal_services.deal_mark_lost(deal=world.deal(), reason=reason, actor=world.alice)


@pytest.mark.parametrize(
    ("url_name", "query"),
    [("taxonomy:index", {"kind": "loss"}), ("taxonomy:competitors", {}), ("taxonomy:history", {})],
)
def test_pages_run_a_fixed_number_of_queries(client, world, django_assert_num_queries, url_name, query):
    client.force_login(world.carol)
    url = reverse(url_name)
    _add_reasons(world, 2, 0)
    services.reason_merge(
        actor=world.carol, reason=Reason.objects.get(code="extra-0"), into=world.reasons["no-budget"]
    )
    client.get(url, query)  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, query).status_code == 200
    assert len(few.captured_queries) <= 8

    _add_reasons(world, 12, 10)
    for i in range(10, 16):
        services.reason_retire(actor=world.carol, reason=Reason.objects.get(code=f"extra-{i}"))
    services.competitor_create(actor=world.carol, data=services.CompetitorData(name="Acme"))
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url, query).status_code == 200
