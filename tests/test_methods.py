"""Pages answer only the methods they serve: a POST to a page that only shows something is 405."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

READ_ONLY = [
    ("deals:list", []),
    ("crm:integrations", []),
    ("crm:needs-reason", []),
    ("crm:events", []),
    ("crm:unmapped", []),
    ("followups:mine", []),
    ("followups:team", []),
    ("taxonomy:index", []),
    ("taxonomy:guide", []),
    ("taxonomy:history", []),
    ("taxonomy:export", []),
    ("taxonomy:competitors", []),
    ("insights:dashboard", []),
    ("insights:export", ["headline"]),
]


def test_a_post_to_a_read_only_page_is_405_and_a_get_still_works(client, world):
    deal = world.deal()
    client.force_login(world.carol)
    for name, args in [*READ_ONLY, ("deals:detail", [deal.pk])]:
        url = reverse(name, args=args)
        assert client.post(url, {"anything": "1"}).status_code == 405, name
        assert client.get(url).status_code == 200, name
