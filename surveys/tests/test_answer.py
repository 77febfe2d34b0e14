"""The buyer's survey page: signed link, no sign-in, one answer, clear pages for every refusal."""

from django.core import signing
from django.urls import reverse

from followups.models import ContactOptOut
from surveys import services
from surveys.models import SurveyResponse, SurveySettings
from surveys.tests.conftest import AMOUNT, NOTE
from tests.concurrency import race


def _url(survey) -> str:
    return reverse("surveys:answer", args=[services.survey_token(survey)])


def _answer(world, **overrides) -> dict:
    data = {
        "main_reason": str(world.reasons["integration-gap"].pk),
        "secondary_reasons": [str(world.reasons["no-budget"].pk)],
        "chose_instead": "none",
        "process_rating": "4",
        "comment": "Your tool did not talk to our ERP.",
        "may_contact_again": "yes",
    }
    data.update(overrides)
    return data


def test_the_page_speaks_only_about_the_buyers_deal_in_buyer_words(
    client, world, lost_with_buyer, survey_for
):
    deal = lost_with_buyer(reason="price-too-high")
    survey = survey_for(deal)
    response = client.get(_url(survey))
    assert response.status_code == 200
    html = response.content.decode()
    assert "A few questions about your decision" in html
    assert "Birch Health" in html  # the buyer's own company
    reason = world.reasons["price-too-high"]
    for secret in [
        AMOUNT,
        "48,213",
        "48213",
        NOTE,
        "CFO",
        reason.code,
        reason.label,
        deal.name,
        "alice",
        "Alice",
    ]:
        assert secret not in html, secret
    for code in world.reasons:  # no reason code at all
        assert f">{code}<" not in html and f'"{code}"' not in html
    # Labelled choices, grouped in fieldsets with legends; "something else" and the competitor list.
    assert "<legend" in html and "Something else" in html and "Northwind CRM" in html
    assert "Nobody: we kept what we had" in html


def test_an_answer_is_stored_once_and_the_buyer_sees_thank_you(client, world, lost_with_buyer, survey_for):
    survey = survey_for(lost_with_buyer())
    response = client.post(_url(survey), _answer(world))
    assert response.status_code == 302 and response["Location"].endswith("/thanks/")
    assert "Thank you for your answers" in client.get(response["Location"]).content.decode()
    stored = SurveyResponse.objects.get(survey=survey)
    assert stored.main_reason == world.reasons["integration-gap"]
    assert list(stored.secondary_reasons.all()) == [world.reasons["no-budget"]]
    assert stored.kept_what_they_had and stored.competitor is None and stored.process_rating == 4
    assert stored.may_contact_again and not ContactOptOut.objects.exists()

    again = client.post(_url(survey), _answer(world, comment="A second try"))
    assert again.status_code == 409
    assert "You have already answered" in again.content.decode()
    assert client.get(_url(survey)).status_code == 409
    assert SurveyResponse.objects.count() == 1
    assert SurveyResponse.objects.get().comment == "Your tool did not talk to our ERP."


def test_something_else_needs_words_and_errors_name_their_field(client, world, lost_with_buyer, survey_for):
    survey = survey_for(lost_with_buyer())
    response = client.post(_url(survey), _answer(world, main_reason="other"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Tell us the reason in a few words." in html
    assert (
        'aria-describedby="id_main_reason_other-error"' in html and 'id="id_main_reason_other-error"' in html
    )
    missing = client.post(_url(survey), {"may_contact_again": "yes", "process_rating": "9"})
    assert missing.status_code == 400
    assert 'aria-describedby="id_main_reason-error"' in missing.content.decode()
    assert "Select a valid choice" in missing.content.decode()  # a rating of 9
    assert not SurveyResponse.objects.exists()

    ok = client.post(
        _url(survey), _answer(world, main_reason="other", main_reason_other="Our board said no.")
    )
    assert ok.status_code == 302
    stored = SurveyResponse.objects.get()
    assert stored.main_reason is None and stored.main_reason_other == "Our board said no."


def test_no_to_contact_again_opts_the_buyer_out(client, world, lost_with_buyer, survey_for):
    survey = survey_for(lost_with_buyer(email="Noor@Birch.example"))
    client.post(_url(survey), _answer(world, may_contact_again="no"))
    assert ContactOptOut.objects.filter(email="noor@birch.example").exists()


def test_expired_or_tampered_links_show_a_clear_page_and_store_nothing(
    client, world, lost_with_buyer, survey_for, settings
):
    survey = survey_for(lost_with_buyer())
    token = services.survey_token(survey)
    other = services.survey_token(survey_for(lost_with_buyer(owner="erin", email="sam@birch.example")))

    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    swapped = (
        str(int(token.split(":")[0]) + 1) + token[token.index(":") :]
    )  # another survey's id, same signature
    for bad in [tampered, swapped, "1", other.split(":")[0] + ":" + token.split(":", 1)[1]]:
        for method in (client.get, client.post):
            response = method(
                reverse("surveys:answer", args=[bad]), _answer(world) if method == client.post else None
            )
            assert response.status_code == 404
            assert "This link does not work" in response.content.decode()
    # A token of another kind (the opt-out link's) names no survey either.
    forged = signing.TimestampSigner(salt="followups.opt-out").sign(str(survey.pk))
    assert client.get(reverse("surveys:answer", args=[forged])).status_code == 404

    settings.SURVEYS_LINK_MAX_AGE_DAYS = -1  # every link is older than that
    for method in (client.get, client.post):
        response = method(
            reverse("surveys:answer", args=[token]), _answer(world) if method == client.post else None
        )
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
    assert not SurveyResponse.objects.exists()


def test_two_answers_at_once_store_one(world, lost_with_buyer, survey_for, transactional_db):
    survey = survey_for(lost_with_buyer())
    answer = services.Answer(
        main_reason=world.reasons["no-budget"],
        main_reason_other="",
        secondary_reasons=[],
        competitor=None,
        kept_what_they_had=False,
        process_rating=3,
        comment="",
        may_contact_again=True,
    )
    results = race([lambda: services.survey_answer(survey_id=survey.pk, answer=answer)] * 2)
    outcomes = sorted(kind for kind, _value in results)
    assert outcomes == ["error", "ok"]
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, services.SurveyAlreadyAnswered)
    assert SurveyResponse.objects.filter(survey=survey).count() == 1


def test_the_survey_pages_are_rate_limited(client, world, lost_with_buyer, survey_for, settings):
    settings.SURVEYS_RATE_LIMIT = "3/min"
    from django.core.cache import caches

    caches["throttle"].clear()
    url = _url(survey_for(lost_with_buyer()))
    assert [client.get(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    # A made-up X-Forwarded-For does not buy a fresh allowance.
    assert client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    caches["throttle"].clear()


def test_the_buyer_page_runs_a_fixed_number_of_queries(
    client, world, lost_with_buyer, survey_for, django_assert_num_queries
):
    url = _url(survey_for(lost_with_buyer()))
    SurveySettings.load()  # made on first use
    # the survey with its answer (if any), the reasons with their wording, the competitors, the settings
    with django_assert_num_queries(4):
        assert client.get(url).status_code == 200
