"""An admin erases a buyer who asked to be forgotten. Everything comes in through its real entrance
(the API, a CSV upload, a HubSpot delivery, the opt-out link, the survey page); afterwards the
person's name and address are in no text column of any table, no page, CSV, API answer or log
line written since; their pending e-mails are cancelled; the survey figures do not move."""

import json
import logging
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm import imports
from crm.models import CrmKind
from crm.services import connection_create, webhook_receive
from deals.erasure import email_fingerprint
from deals.models import Contact, ContactErasure, Deal
from followups import services
from followups.models import ContactOptOut, FollowUp, FollowUpKind, FollowUpState
from surveys import selectors as survey_selectors
from surveys.models import SurveyResponse
from surveys.services import survey_deliver, survey_request, survey_token

pytestmark = pytest.mark.django_db

NAME, EMAIL = "Noor Haddad", "noor@juniper.example"
TRACES = [NAME, EMAIL, "Haddad"]


def _every_text_column_holding(needle: str) -> list[str]:
    """table.column of every text column of every table of the test database that holds `needle`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('character varying', 'text', 'json', 'jsonb', 'character')"
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608 - catalog names
                [f"%{needle}%"],
            )
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
    assert len(columns) > 100  # the whole schema was walked
    return found


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode()


def _figures(user) -> dict:
    filters = survey_selectors.FeedbackFilters(date_from=date(2000, 1, 1), date_to=timezone.localdate())
    numbers = {
        name: figure(user=user, filters=filters)
        for name, figure in survey_selectors.FIGURES.items()
        if name != "quotes"
    }
    numbers["quote count"] = len(survey_selectors.quotes(user=user, filters=filters))
    return json.loads(json.dumps(numbers, default=str))


def _world_with_noor(world, api_as, sequence, client) -> Deal:
    api = api_as(world.alice)
    payload = {
        "external_id": "opp-9",
        "name": "Juniper Labs: Platform rollout",
        "account": {"external_id": "acct-9", "name": "Juniper Labs"},
        "stage": "Demo",
        "amount": "30000",
        "contacts": [
            {"external_id": "p-1", "name": NAME, "email": EMAIL, "role": "Champion", "is_primary": True},
            {"external_id": "p-2", "name": "Ines Varga", "email": "ines@juniper.example", "role": "CFO"},
        ],
    }
    assert api.post("/api/deals/", payload, format="json").status_code == 201
    deal = Deal.objects.get(external_id="opp-9")
    lost = {"reason": "price-too-high", "nurture_sequence": sequence.pk}
    assert api.post(f"/api/deals/{deal.pk}/mark-lost/", lost, format="json").status_code == 201

    # The buyer survey: sent (Django's test mailbox), answered on its page naming the buyer.
    [survey] = survey_request(deal=deal, actor=world.alice)
    survey_deliver(survey_id=survey.pk)
    answer = {
        "main_reason": str(world.reasons["price-too-high"].pk),
        "chose_instead": "none",
        "process_rating": "4",
        "comment": f"{NAME} here ({EMAIL}): the price was the problem.",
        "may_contact_again": "yes",
    }
    response = Client().post(reverse("surveys:answer", args=[survey_token(survey)]), answer)
    assert response.status_code == 302, response.content.decode()[:2000]

    # A HubSpot delivery about her, stored raw; a CSV export naming her, uploaded.
    hubspot = connection_create(kind=CrmKind.HUBSPOT, account_id="62515", webhook_secret="s3cret-s3cret",
                                api_token="hs-token")  # fmt: skip
    event = {"eventId": 77, "subscriptionId": 5, "portalId": 62515, "occurredAt": 1795185000000,
             "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 901,
             "changeSource": "CRM", "propertyName": "email", "propertyValue": EMAIL.upper()}  # fmt: skip
    webhook_receive(
        connection=hubspot, body=json.dumps([event]).encode(), headers={"Content-Type": "application/json"}
    )
    csv = (
        "Record ID,Deal Name,Deal Stage,Associated Contact\n"
        f'901,Juniper Labs: Platform rollout,closedlost,"{NAME} ({EMAIL}); '
        'Ines Varga (ines@juniper.example)"\n'
    )
    imports.import_job_create(kind=CrmKind.HUBSPOT, filename="juniper.csv", content=csv, actor=world.carol)

    # She unsubscribes from the link in a nurture e-mail.
    assert Client().post(f"/follow-ups/opt-out/{services.opt_out_token(EMAIL)}/").status_code == 200
    for needle in TRACES:
        assert _every_text_column_holding(needle), needle  # she is really there before
    return deal


def test_an_admin_erases_a_buyer_everywhere(world, api_as, sequence, client, caplog, settings):
    settings.CRM_ALLOWED_HOSTS = ["127.0.0.1"]
    deal = _world_with_noor(world, api_as, sequence, client)
    noor = Contact.objects.get(external_id="p-1")
    figures_before = _figures(world.carol)
    ines_pending = FollowUp.objects.filter(contact__email="ines@juniper.example", state=FollowUpState.PENDING)
    assert ines_pending.count() == 2

    caplog.set_level(logging.DEBUG)
    client.force_login(world.carol)
    page = client.get(reverse("deals:contact-erase", kwargs={"contact_id": noor.pk}))
    assert page.status_code == 200 and NAME in page.content.decode()
    caplog.clear()  # from here on, nothing written may hold her
    response = client.post(reverse("deals:contact-erase", kwargs={"contact_id": noor.pk}))
    assert response.status_code == 302

    for needle in TRACES:
        assert _every_text_column_holding(needle) == [], needle
    noor.refresh_from_db()
    assert noor.erased_at is not None and (noor.name, noor.email) == ("", "")
    assert noor.external_id == "p-1"  # the ids stay: the integration cannot bring her back
    erasure = ContactErasure.objects.get(contact=noor)
    assert erasure.actor == world.carol and erasure.removed["contact rows"] == 1
    assert erasure.removed["pending e-mails cancelled"] == 0  # her opt-out had cancelled them already
    assert set(FollowUp.objects.filter(contact=noor).values_list("state", flat=True)) == {"cancelled"}
    assert ines_pending.count() == 2  # Ines is untouched
    assert list(ContactOptOut.objects.values_list("email", flat=True)) == [email_fingerprint(EMAIL)]
    assert SurveyResponse.objects.filter(survey__contact=noor).count() == 1  # the answer stays
    assert _figures(world.carol) == figures_before

    # What people and integrations read afterwards.
    client.force_login(world.alice)
    seen = [
        _text(client.get(reverse("deals:detail", kwargs={"pk": deal.pk}))),
        _text(client.get(reverse("followups:mine"))),
        _text(client.get(reverse("insights:export", kwargs={"name": "deals"}))),
    ]
    client.force_login(world.carol)
    seen += [
        _text(client.get(reverse("surveys:figures"))),
        _text(client.get(reverse("surveys:export", kwargs={"name": "quotes"}))),
        _text(client.get(reverse("pipelines:history"))),
    ]
    carol = api_as(world.carol)
    urls = [f"/api/deals/{deal.pk}/", "/api/contacts/", f"/api/contacts/{noor.pk}/"]
    for url in [*urls, "/api/survey-responses/", "/api/follow-ups/", "/api/accounts/"]:
        answer = carol.get(url)
        assert answer.status_code == 200, url
        seen.append(answer.content.decode())
    assert "Erased contact" in seen[0] and "Ines Varga" in seen[0]
    # The integration sends her again: she stays erased; her address under a new id stays opted out.
    again = {"external_id": "p-1", "name": NAME, "email": EMAIL, "deal": deal.pk}
    assert carol.post("/api/contacts/", again, format="json").json()["erased"] is True
    body = carol.post("/api/contacts/", {**again, "external_id": "p-1b"}, format="json")
    assert body.status_code == 201
    links = carol.get(f"/api/deals/{deal.pk}/").json()["contacts"]
    assert [c["receives_email"] for c in links if c["external_id"] == "p-1b"] == [False]
    for text in seen + [record.getMessage() for record in caplog.records]:
        for needle in TRACES:
            assert needle.lower() not in text.lower(), (needle, text[:300])
    # A second erasure of the same row is refused (409 through the page's service).
    from deals.erasure import ContactAlreadyErased, contact_erase

    with pytest.raises(ContactAlreadyErased):
        contact_erase(contact=noor, actor=world.carol)


def test_pending_emails_of_an_erased_buyer_are_cancelled_and_only_admins_may_erase(
    world, api_as, sequence, client
):
    api = api_as(world.alice)
    sam = {"external_id": "p-3", "name": "Sam Oak", "email": "sam@oak.example"}
    payload = {"external_id": "opp-3", "name": "Oak deal", "account": {"external_id": "a-3", "name": "Oak"},
               "stage": "Demo", "contacts": [sam]}  # fmt: skip
    api.post("/api/deals/", payload, format="json")
    deal = Deal.objects.get(external_id="opp-3")
    api.post(
        f"/api/deals/{deal.pk}/mark-lost/",
        {"reason": "no-budget", "nurture_sequence": sequence.pk},
        format="json",
    )
    sam = Contact.objects.get(external_id="p-3")
    emails = FollowUp.objects.filter(contact=sam, kind=FollowUpKind.CONTACT_EMAIL)
    assert set(emails.values_list("state", flat=True)) == {"pending"}
    url = reverse("deals:contact-erase", kwargs={"contact_id": sam.pk})
    for username in ["alice", "bob"]:
        client.force_login(getattr(world, username))
        assert client.post(url).status_code == 403
    assert Contact.objects.get(pk=sam.pk).erased_at is None
    client.force_login(world.carol)
    assert client.post(url).status_code == 302
    assert set(emails.values_list("state", "cancelled_reason")) == {("cancelled", "contact erased")}
    # The owner's task no longer names him either.
    task = FollowUp.objects.get(deal=deal, kind=FollowUpKind.OWNER_TASK)
    assert "Sam" not in task.title
    assert services.followups_dispatch(now=timezone.now() + timedelta(days=30), enqueue=lambda ids: None) >= 0
    assert not FollowUp.objects.filter(contact=sam).exclude(state="cancelled").exists()


def test_a_contact_deleted_in_hubspot_is_erased_the_same_way(world, sequence, settings):
    from crm.models import WebhookEvent
    from crm.services import webhook_event_process
    from deals.contacts import Link, contacts_upsert, deal_contacts_set
    from deals.services import deal_mark_lost

    deal = world.deal(owner="alice")
    people = contacts_upsert(source="hubspot", people=[{"id": "3301", "name": NAME, "email": EMAIL}])
    deal_contacts_set(links={deal.pk: [Link(people["3301"].pk, "", True)]})
    deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence)
    hubspot = connection_create(kind=CrmKind.HUBSPOT, account_id="62515", webhook_secret="s3cret-s3cret",
                                api_token="hs-token")  # fmt: skip
    event = {"eventId": 78, "subscriptionId": 6, "portalId": 62515, "occurredAt": 1795185000000,
             "subscriptionType": "contact.privacyDeletion", "attemptNumber": 0, "objectId": 3301,
             "changeSource": "GDPR"}  # fmt: skip
    assert webhook_receive(connection=hubspot, body=json.dumps([event]).encode(), headers={}) == 1
    stored = WebhookEvent.objects.get()
    webhook_event_process(event_id=stored.pk)
    stored.refresh_from_db()
    contact = Contact.objects.get(hubspot_id="3301")
    assert contact.erased_at is not None and stored.result == f"contact {contact.pk} erased"
    assert ContactErasure.objects.get(contact=contact).source == "crm"
    assert set(FollowUp.objects.filter(contact=contact).values_list("cancelled_reason", flat=True)) == {
        "contact erased"
    }
    for needle in TRACES:
        assert _every_text_column_holding(needle) == [], needle
