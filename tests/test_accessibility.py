"""axe-core (WCAG 2.0/2.1/2.2 A and AA) on every page of the URL conf, for each role: 0 violations.

axe-core is a test-only asset (tests/vendor/axe.min.js, pinned in package.json devDependencies),
injected by the browser; the app never serves it.
"""

from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crm.models import CrmKind
from followups.models import FollowUp

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Not pages a person reads: machine endpoints, files, and Django's own admin (not our templates).
NOT_PAGES = ("api/", "webhooks/", "admin/", "health/", "logout/")


def _routes(resolver=None, prefix="", namespace=""):
    """(route, name, converters) for every pattern in the URL conf."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in [namespace, pattern.namespace] if part)
            yield from _routes(pattern, route, inner)
        elif isinstance(pattern, URLPattern):
            yield route, f"{namespace}:{pattern.name}" if namespace else pattern.name, pattern


def _kwargs(world) -> dict[str, dict]:
    """URL kwargs by route prefix, from objects of the seeded world."""
    from crm.services import connection_create
    from deals.services import deal_mark_lost
    from followups.models import NurtureSequence, NurtureStep, StepAction
    from followups.services import opt_out_token
    from reasons.models import Competitor, ReasonCategory

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
    connection_create(kind=CrmKind.HUBSPOT)
    followup = FollowUp.objects.first()
    return {
        "deals/<int:pk>/reopen/": {"pk": closed.pk},
        "deals/": {"pk": open_deal.pk},
        "follow-ups/opt-out/": {"token": opt_out_token("buyer@birch.example")},
        "follow-ups/": {"pk": followup.pk},
        "taxonomy/reasons/": {"pk": world.reasons["no-budget"].pk},
        "taxonomy/categories/": {"pk": ReasonCategory.objects.first().pk},
        "taxonomy/competitors/": {"pk": Competitor.objects.first().pk},
        "crm/connections/": {"kind": CrmKind.HUBSPOT},
    }


def _pages(world):
    """(path, None) for each page to check, or (None, why it is skipped)."""
    known = _kwargs(world)
    for route, name, _pattern in _routes():
        if route.startswith(NOT_PAGES) or route.endswith(".csv") or name == "taxonomy:export":
            continue
        if "<" not in route:
            yield "/" + route, None
            continue
        kwargs = next((v for prefix, v in known.items() if route.startswith(prefix)), None)
        if kwargs is None:
            yield (
                None,
                f"skipped {name}: needs a CRM event, import or sync, which the seeded world does not hold",
            )
            continue
        yield (
            reverse(name, kwargs={k: v for k, v in kwargs.items() if f"<{k}>" in route or f":{k}>" in route}),
            None,
        )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_have_no_axe_violations(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    tab = context.new_page()
    skipped, failures = [], []
    pages = list(_pages(world))
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
