"""axe-core (WCAG 2.0/2.1/2.2 A and AA) on every page of the URL conf, for each role: 0 violations.

axe-core is a test-only asset (tests/vendor/axe.min.js, pinned in package.json devDependencies),
injected by the browser; the app never serves it.
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from crm.models import CrmKind, DealSync, UnmappedReason, WebhookEvent
from crm.tests.exports import hubspot_export
from crm.tests.fake_crm import start_fake_crm
from followups.models import FollowUp
from tests.ports import free_port

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Not pages a person reads: machine endpoints, files, and Django's own admin (not our templates).
NOT_PAGES = ("api/", "webhooks/", "admin/", "health/", "logout/", "scim/")
FAKE_CRM_PORT = free_port()
HUBSPOT_COLUMNS = {
    "external_id": "Record ID",
    "name": "Deal Name",
    "stage": "Deal Stage",
    "pipeline": "Pipeline",
    "amount": "Amount",
    "closed": "Close Date",
    "created": "Create Date",
    "owner": "Deal owner",
    "reason": "Closed Lost Reason",
    "account": "Associated Company",
}


def _routes(resolver=None, prefix="", namespace=""):
    """(route, name, converters) for every pattern in the URL conf."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in [namespace, pattern.namespace] if part)
            yield from _routes(pattern, route, inner)
        elif isinstance(pattern, URLPattern):
            yield route, f"{namespace}:{pattern.name}" if namespace else pattern.name, pattern


@pytest.fixture
def fake_crm(settings):
    """HubSpot's API played by a loopback server (crm.tests.fake_crm), an allowed CRM host."""
    settings.CRM_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = start_fake_crm(FAKE_CRM_PORT)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _crm_world(world, fake) -> dict:
    """What the CRM pages show, made the way it happens: a HubSpot connection; a delivery of three
    webhook events, processed (one closes a deal lost with a reason nobody mapped, so the deal
    waits for a reason; one names a deal unknown here and fails); the close written back and
    refused by the CRM; a reconciliation that reports drift; two CSV imports, one waiting for its
    columns and one done with row errors."""
    from crm import imports
    from crm.reconcile import crm_reconcile
    from crm.services import connection_create, deal_sync_push, webhook_event_process, webhook_receive
    from deals.services import deal_mark_lost

    connection = connection_create(
        kind=CrmKind.HUBSPOT,
        account_id="62515",
        webhook_secret="7f1c2a3e-91b4-4d8e-a0c6-5b2f9e8d4c31",
        api_token="hs-token-1234",
        base_url=fake.url,
    )
    waiting = world.deal(owner="alice", name="Birch renewal", hubspot_id="18442013567")

    def change(event_id: int, deal_id: int, name: str, value: str) -> dict:
        fields = {"eventId": event_id, "portalId": 62515, "subscriptionType": "deal.propertyChange"}
        return {
            **fields,
            "occurredAt": 1795185000000,
            "objectId": deal_id,
            "propertyName": name,
            "propertyValue": value,
        }

    delivery = [
        change(1, 18442013567, "dealstage", "closedlost"),
        change(2, 18442013567, "closed_lost_reason", "Went quiet after the demo"),
        change(3, 404404, "dealstage", "closedlost"),  # no deal here has this id
    ]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
    }
    assert webhook_receive(connection=connection, body=json.dumps(delivery).encode(), headers=headers) == 3
    for event_id in WebhookEvent.objects.order_by("pk").values_list("pk", flat=True):
        webhook_event_process(event_id=event_id)
    failed = WebhookEvent.objects.get(status=WebhookEvent.Status.FAILED)
    done = WebhookEvent.objects.filter(status=WebhookEvent.Status.DONE).first()

    fake.answer((400, {}, {"message": "Property values were not valid: closed_lost_reason"}))
    deal_sync_push(deal_id=waiting.pk, kind=CrmKind.HUBSPOT)
    sync = DealSync.objects.get(deal=waiting, state=DealSync.State.FAILED)

    drifting = world.deal(owner="erin", name="Cedar platform", hubspot_id="5550001")
    deal_mark_lost(deal=drifting, reason=world.reasons["no-budget"], actor=world.erin)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    found = [
        {"id": "5550001", "properties": {"dealstage": "closedwon", "hs_lastmodifieddate": yesterday}},
        {"id": "999", "properties": {"dealstage": "closedlost", "hs_lastmodifieddate": yesterday}},
    ]
    fake.serve("POST", "/crm/v3/objects/deals/search", lambda path, body: (200, {"results": found}))
    assert crm_reconcile(connection=connection)["drift"]

    mapping = imports.import_job_create(
        kind=CrmKind.HUBSPOT,
        filename="hubspot-new.csv",
        content=hubspot_export(5, bad_rows={}),
        actor=world.carol,
    )
    bad_rows = {
        3: ("Amount", "twelve grand", "amount", ""),
        6: ("Deal owner", "zed@nowhere.example", "owner", ""),
    }
    content = hubspot_export(12, bad_rows=bad_rows, id_offset=7_000)
    finished = imports.import_job_create(
        kind=CrmKind.HUBSPOT, filename="hubspot-deals.csv", content=content, actor=world.carol
    )
    imports.import_job_start(job=finished, column_map=HUBSPOT_COLUMNS)
    imports.import_job_run(job_id=finished.pk)
    assert finished.row_errors.count() >= 2

    def owners(path, body):  # the portal's owners, for "import people from the CRM"
        if "archived=true" in path:
            return 200, {"results": [{"id": "77", "email": "gone@closedlost.invalid", "firstName": "Gil",
                                      "lastName": "Gone", "archived": True}]}  # fmt: skip
        return 200, {"results": [
            {"id": "71", "email": "ALICE@closedlost.invalid", "firstName": "Alice", "lastName": "A"},
            {"id": "72", "email": "nora@closedlost.invalid", "firstName": "Nora", "lastName": "New"},
        ]}  # fmt: skip

    fake.serve("GET", "/crm/v3/owners", owners)
    return {
        "kwargs": {
            # A first sync's pages for a run that does not exist here: a 404, which the walk accepts.
            "crm/connections/<slug:kind>/sync/<int:pk>": {"kind": CrmKind.HUBSPOT, "pk": 999_999},
            "crm/connections/": {"kind": CrmKind.HUBSPOT},
            "crm/handoffs/": {"kind": "crm.webhook"},
            "crm/events/": {"pk": failed.pk},
            "crm/classify/": {"pk": UnmappedReason.objects.get(mapping__isnull=True).pk},
            "crm/needs-reason/": {"pk": waiting.pk},
            "crm/syncs/": {"pk": sync.pk},
            "crm/owner-syncs/": {"pk": 999_999},  # an action (POST only): the walk skips it
            "crm/imports/<int:pk>/columns/": {"pk": mapping.pk},
            "crm/imports/": {"pk": finished.pk},
        },
        # Pages the one-object-per-route walk would not reach: what the CRM left on a deal's page
        # (waiting for a reason, the refused write-back), a processed event, every event.
        "more": [
            reverse("deals:detail", kwargs={"pk": waiting.pk}),
            reverse("crm:event", kwargs={"pk": done.pk}),
            reverse("crm:events") + "?status=all",
        ],
    }


def _alert_world(world):
    """An alert that fired (a backlog rule: the deal the walk closed from the CRM waits for a
    reason), its deliveries waiting, and a change in its history."""
    from alerts import checks
    from alerts.services import alert_rule_create, alert_rule_update
    from deals.services import deal_mark_lost_from_crm

    deal_mark_lost_from_crm(deal=world.deal(owner="dave"), crm_reason_text="Went dark")
    rule = alert_rule_create(
        actor=world.carol, name="West backlog", kind="backlog", threshold=1, team=world.west,
        recipients=[world.grace],
    )  # fmt: skip
    alert_rule_update(rule=rule, actor=world.carol, recipients=[world.grace, world.carol])
    assert checks.rule_check(rule_id=rule.pk, today=timezone.localdate()) is None  # 1 waiting: not over 1
    deal_mark_lost_from_crm(deal=world.deal(owner="dave"), crm_reason_text="No answer")
    assert checks.rule_check(rule_id=rule.pk, today=timezone.localdate()) is not None
    return rule


def _kwargs(world, fake) -> tuple[dict[str, dict], list[str]]:
    """URL kwargs by route prefix, from objects of the seeded world and the CRM's; more pages."""
    from deals.models import Contact
    from deals.services import deal_mark_lost
    from followups.models import NurtureSequence, NurtureStep, StepAction
    from followups.services import opt_out_token
    from reasons.models import Competitor, ReasonCategory
    from surveys.services import survey_request, survey_token

    sequence = NurtureSequence.objects.create(name="Walk")  # a follow-up whatever ran before
    NurtureStep.objects.create(
        sequence=sequence,
        position=1,
        days_after_close=1,
        action=StepAction.OWNER_TASK,
        subject="Call",
        body="Call",
    )
    open_deal, closed = world.deal(), world.deal()
    deal_mark_lost(
        deal=closed, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    followup = FollowUp.objects.first()
    buyer = Contact.objects.create(account=world.account, name="Noor Birch", email="noor@birch.example")
    closed.contacts.add(buyer)
    (survey,) = survey_request(deal=closed, actor=world.alice)
    crm = _crm_world(world, fake)
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from people.services import user_invite
    from people.tokens import invite_token
    from reviews.services import review_create

    review = review_create(user=world.bob, cadence="weekly", start=timezone.localdate() - timedelta(days=7),
                           end=timezone.localdate() - timedelta(days=1))  # fmt: skip
    invitation = user_invite(
        email="noor@example.com", name="Noor Birch", role="rep", team=world.east, actor=None
    )
    alert = _alert_world(world)
    return {
        "people/crm/": {"kind": CrmKind.HUBSPOT},
        "people/join/": {"token": invite_token(invitation)},
        "people/teams/": {"pk": world.east.pk},
        "people/": {"pk": invitation.user_id},
        "password/reset/": {
            "uidb64": urlsafe_base64_encode(force_bytes(world.erin.pk)),
            "token": default_token_generator.make_token(world.erin),
        },
        "deals/<int:pk>/reopen/": {"pk": closed.pk},
        "deals/<int:pk>/contacts/": {"pk": closed.pk, "contact_id": buyer.pk},
        "deals/contacts/": {"contact_id": buyer.pk},
        "deals/": {"pk": open_deal.pk},
        "follow-ups/opt-out/": {"token": opt_out_token("buyer@birch.example")},
        "follow-ups/setup/steps/": {"pk": NurtureStep.objects.filter(sequence=sequence).first().pk},
        "follow-ups/setup/sequences/": {"pk": sequence.pk},
        "follow-ups/": {"pk": followup.pk},
        "taxonomy/reasons/": {"pk": world.reasons["no-budget"].pk},
        "pipelines/stages/": {"pk": world.stages[0].pk},
        "pipelines/": {"pk": world.pipeline.pk},
        "taxonomy/categories/": {"pk": ReasonCategory.objects.first().pk},
        "taxonomy/competitors/": {"pk": Competitor.objects.first().pk},
        "surveys/answer/": {"token": survey_token(survey)},
        "surveys/deals/": {"pk": closed.pk},
        "alerts/": {"pk": alert.pk},
        "surveys/wording/categories/": {"pk": ReasonCategory.objects.first().pk},
        "surveys/wording/reasons/": {"pk": world.reasons["no-budget"].pk},
        "insights/review/": {"pk": review.pk},
        **crm["kwargs"],
    }, crm["more"]


def _pages(world, fake):
    """(path, None) for each page to check, or (None, why it is skipped)."""
    known, more = _kwargs(world, fake)
    for route, name, _pattern in _routes():
        if route.startswith(NOT_PAGES) or route.endswith(".csv") or name == "taxonomy:export":
            continue
        if "<" not in route:
            yield "/" + route, None
            continue
        kwargs = next((v for prefix, v in known.items() if route.startswith(prefix)), None)
        if kwargs is None:
            yield None, f"skipped {name}: nothing in the walk's world to fill {route} (add it to _kwargs)"
            continue
        yield (
            reverse(name, kwargs={k: v for k, v in kwargs.items() if f"<{k}>" in route or f":{k}>" in route}),
            None,
        )
    for path in more:
        yield path, None


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_have_no_axe_violations(browser, live_server, world, fake_crm):
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    tab = context.new_page()
    skipped, failures = [], []
    pages = list(_pages(world, fake_crm))
    for username in [None, "alice", "bob", "carol"]:
        if username:
            tab.goto("/login/")
            tab.get_by_label("Username").fill(username)
            tab.get_by_label("Password").fill("a-long-test-password")
            tab.get_by_role("button", name="Sign in").click()
            tab.wait_for_url("**/deals/")
        for route, skip in pages:
            if skip:
                skipped.append(skip)
                continue
            if tab.request.get(route).status == 405:  # the browser cannot show an empty 405
                skipped.append(f"skipped {route}: an action (POST only), not a page")
                continue
            response = tab.goto(route)
            if response.status >= 400 and response.status not in (403, 404):
                failures.append(f"{username} {route}: HTTP {response.status}")
                continue
            tab.add_script_tag(path=str(AXE))
            result = tab.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
            for violation in result["violations"]:
                for node in violation["nodes"]:
                    failures.append(f"{username} {route}: {violation['id']} {node['target']}")
        if username:
            tab.goto("/deals/")
            tab.get_by_role("button", name="Sign out").click()
    print("\n".join(sorted(set(skipped))))
    context.close()
    assert failures == [], "\n".join(failures)
    # Every page is walked: the only routes left out are actions, which have no page to show.
    assert [skip for skip in skipped if "(POST only)" not in skip] == []
