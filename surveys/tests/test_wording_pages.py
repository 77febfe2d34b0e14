"""The admins' buyer wording pages: 404 for everyone else; each reason's and category's words for
buyers changed through surveys.wording_setup with a history row, shown on the buyer's survey page;
placeholders and tags refused naming the field."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reasons.models import ReasonCategory
from surveys.models import CategoryWording, ReasonWording, WordingChange
from surveys.services import survey_request, survey_token

pytestmark = pytest.mark.django_db


def _reason_form(**values):
    data = {"buyer_label": "", "sending": "default", "send_after_days": ""}
    data.update(values)
    return data


def test_managers_and_reps_reach_no_wording_page(client, world):
    category = world.reasons["no-budget"].category
    urls = [
        reverse("surveys:wording"),
        reverse("surveys:wording-category", args=[category.pk]),
        reverse("surveys:wording-reason", args=[world.reasons["no-budget"].pk]),
    ]
    for user in (world.alice, world.bob, world.grace):
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 404 and b"Buyer wording" not in response.content, (user, url)
            if url != urls[0]:  # the list is GET only (405 for a POST, whoever asks)
                assert client.post(url, _reason_form(buyer_label="Hacked")).status_code == 404
    assert not WordingChange.objects.exists() and not CategoryWording.objects.exists()
    assert not ReasonWording.objects.filter(buyer_label="Hacked").exists()


def test_admin_rewords_a_reason_and_a_category_and_the_buyer_reads_it(client, world, lost_with_buyer):
    reason = world.reasons["price-too-high"]
    client.force_login(world.carol)
    listing = client.get(reverse("surveys:wording")).content.decode()
    assert "The price was more than we wanted to pay" in listing  # the standard wording
    url = reverse("surveys:wording-reason", args=[reason.pk])
    response = client.post(url, _reason_form(buyer_label="  It cost   more than it was worth "))
    assert response.status_code == 302
    category_url = reverse("surveys:wording-category", args=[reason.category.pk])
    assert client.post(category_url, {"buyer_label": "Money matters"}).status_code == 302
    change = WordingChange.objects.get(reason=reason)
    assert change.actor == world.carol and change.before["buyer_label"] == ""
    assert change.after == {
        "buyer_label": "It cost more than it was worth",
        "sending": "default",
        "send_after_days": None,
    }
    assert WordingChange.objects.get(category=reason.category).after == {"buyer_label": "Money matters"}
    # The buyer of the next loss reads the new words on their survey.
    deal = lost_with_buyer(reason="price-too-high")
    (survey,) = survey_request(deal=deal, actor=world.alice)
    client.logout()
    page = client.get(reverse("surveys:answer", args=[survey_token(survey)])).content.decode()
    assert "It cost more than it was worth" in page and "Money matters" in page
    assert "The price was more than we wanted to pay" not in page
    # Emptied: back to the standard wording, recorded.
    client.force_login(world.carol)
    assert client.post(category_url, {"buyer_label": ""}).status_code == 302
    assert not CategoryWording.objects.filter(category=reason.category).exists()
    assert WordingChange.objects.filter(category=reason.category).count() == 2
    page = client.get(reverse("surveys:wording")).content.decode()
    assert "It cost more than it was worth" in page and "Money matters" in page  # the history


@pytest.mark.parametrize(
    "label", ["About {{ deal.amount }}", "Hi {{ contact.first_name }}", "{% debug %}", "{{ x"]
)
def test_wording_takes_no_placeholders(client, world, label):
    reason = world.reasons["no-budget"]
    client.force_login(world.carol)
    for url, data in [
        (reverse("surveys:wording-reason", args=[reason.pk]), _reason_form(buyer_label=label)),
        (reverse("surveys:wording-category", args=[reason.category.pk]), {"buyer_label": label}),
    ]:
        response = client.post(url, data)
        assert response.status_code == 400, (url, label)
        page = response.content.decode().replace("&#x27;", "'")
        assert "Buyer wording is shown as written and takes no placeholders or tags." in page
        assert 'id="error_1_id_buyer_label"' in page or "is-invalid" in page
    assert not WordingChange.objects.exists()


def test_when_a_reasons_closes_get_the_survey(client, world):
    reason = world.reasons["bad-timing"]
    url = reverse("surveys:wording-reason", args=[reason.pk])
    client.force_login(world.carol)
    missing = client.post(url, _reason_form(sending="days"))
    assert missing.status_code == 400 and "Give the days after the close." in missing.content.decode()
    assert client.post(url, _reason_form(sending="days", send_after_days="21")).status_code == 302
    wording = ReasonWording.objects.get(reason=reason)
    assert (wording.sending, wording.send_after_days, wording.buyer_label) == ("days", 21, "")
    assert client.post(url, _reason_form(sending="never", send_after_days="21")).status_code == 302
    wording.refresh_from_db()
    assert (wording.sending, wording.send_after_days) == ("never", None)
    assert WordingChange.objects.filter(reason=reason).count() == 2
    assert "21 days after the close" not in client.get(reverse("surveys:wording")).content.decode()


def test_the_wording_list_costs_the_same_queries_whatever_is_reworded(client, world):
    client.force_login(world.carol)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("surveys:wording")).status_code == 200
    for category in ReasonCategory.objects.all():
        CategoryWording.objects.create(category=category, buyer_label=f"Words {category.pk}")
    for code in ("no-budget", "bad-timing", "price-too-high"):
        ReasonWording.objects.create(reason=world.reasons[code], buyer_label=f"Reworded {code}")
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("surveys:wording")).content.decode()
    assert "Reworded bad-timing" in page
    assert len(many) == len(few) == 5  # session, user, categories, reasons, history
