"""Who may see what: reps their own deals, managers their teams', admins all.

Walks every URL of the deals app with a deal of another team: always 404, never data.
"""

import pytest
from django.urls import get_resolver, reverse

from deals import services
from deals.models import Closure, DealStatus


def _deal_urls(pk: int) -> list[str]:
    """Every named URL of the deals app that takes a deal id."""
    resolver = get_resolver()
    urls = []
    deals_resolver = next(p for p in resolver.url_patterns if getattr(p, "namespace", None) == "deals")
    for pattern in deals_resolver.url_patterns:
        converters = pattern.pattern.converters
        if "pk" in converters:
            args = [pk, 1] if "contact_id" in converters else [pk]  # a deal's buyer: the deal decides
            urls.append(reverse(f"deals:{pattern.name}", args=args))
    return urls


def test_url_walk_covers_every_deal_url(world):
    assert len(_deal_urls(1)) == 9


@pytest.mark.parametrize("stranger", ["dave", "grace", "erin"])
def test_another_users_deal_is_404_on_every_url_and_method(client, world, stranger):
    deal = world.deal(owner="alice")
    closed = world.deal(owner="alice")
    services.deal_mark_lost(deal=closed, reason=world.reasons["no-budget"], actor=world.alice)
    client.force_login(getattr(world, stranger))
    for target in (deal, closed):
        for url in _deal_urls(target.pk):
            for method in (client.get, client.post):
                response = method(url, {"reason": world.reasons["no-budget"].pk, "stage": world.stages[0].pk})
                assert response.status_code == 404, (stranger, url)
                assert target.name not in response.content.decode()
    deal.refresh_from_db()
    closed.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert closed.status == DealStatus.LOST
    assert Closure.objects.filter(deal=closed, reopened_at__isnull=True).count() == 1


def test_deal_list_shows_only_what_the_user_may_see(client, world):
    mine = world.deal(owner="alice", name="Alice's deal")
    erins = world.deal(owner="erin", name="Erin's deal")
    daves = world.deal(owner="dave", name="Dave's deal")
    expectations = {
        "alice": {mine},
        "erin": {erins},
        "bob": {mine, erins},  # manager of East
        "grace": {daves},  # manager of West
        "dave": {daves},
        "carol": {mine, erins, daves},  # admin
    }
    for username, visible in expectations.items():
        client.force_login(getattr(world, username))
        html = client.get(reverse("deals:list")).content.decode().replace("&#x27;", "'")
        for deal in (mine, erins, daves):
            assert (deal.name in html) == (deal in visible), (username, deal.name)


def test_manager_may_close_and_reopen_team_deals_but_not_other_teams(client, world):
    erins = world.deal(owner="erin")
    daves = world.deal(owner="dave")
    client.force_login(world.bob)
    data = {"reason": world.reasons["no-budget"].pk}
    assert client.post(reverse("deals:mark-lost", args=[erins.pk]), data).status_code == 302
    assert client.post(reverse("deals:mark-lost", args=[daves.pk]), data).status_code == 404
    assert client.post(reverse("deals:reopen", args=[erins.pk]), {"stage": erins.stage_id}).status_code == 302


def test_pages_need_sign_in(client, world):
    deal = world.deal()
    for url in [reverse("deals:list"), *_deal_urls(deal.pk)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_filter_owner_choices_do_not_leak_other_teams(client, world):
    client.force_login(world.bob)
    html = client.get(reverse("deals:list")).content.decode()
    assert "Erin" in html and "Dave" not in html and "Grace" not in html
