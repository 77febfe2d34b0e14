"""A refused form (expired page, cookie gone) answers with the product's own page: buyer-friendly
on the survey link, the app's page elsewhere; never Django's default 403."""

from django.test import Client
from django.urls import reverse

from surveys import services
from surveys.models import SurveyResponse
from surveys.tests.conftest import AMOUNT, NOTE


def test_a_survey_post_without_its_csrf_token_gets_a_buyer_page(world, lost_with_buyer, survey_for):
    deal = lost_with_buyer()
    survey = survey_for(deal)
    url = reverse("surveys:answer", args=[services.survey_token(survey)])
    buyer = Client(enforce_csrf_checks=True)
    assert buyer.get(url).status_code == 200
    buyer.cookies.clear()  # the browser dropped the cookie, or the page sat open for days
    response = buyer.post(url, {"main_reason": str(world.reasons["integration-gap"].pk)})
    page = response.content.decode()
    assert response.status_code == 403
    assert "Please send the form again" in page and f'href="{url}"' in page
    assert "CSRF" not in page and "Forbidden" not in page  # not Django's default page
    assert deal.name not in page and AMOUNT not in page and NOTE not in page
    assert 'href="/deals/' not in page  # a buyer page: no app navigation
    assert not SurveyResponse.objects.exists()
    assert buyer.get(url).status_code == 200  # the way back works


def test_an_app_form_without_its_csrf_token_gets_the_apps_page(world):
    deal = world.deal(owner="alice")
    rep = Client(enforce_csrf_checks=True)
    rep.force_login(world.alice)
    url = reverse("deals:mark-lost", args=[deal.pk])
    response = rep.post(url, {"reason": world.reasons["no-budget"].pk})
    page = response.content.decode()
    assert response.status_code == 403
    assert "Please send the form again" in page and f'href="{url}"' in page and "CSRF" not in page
    deal.refresh_from_db()
    assert deal.status == "open"
