"""The OpenAPI schema against a real server: schemathesis fuzzes every operation over HTTP.

No answer may be a 5xx, and every answer must match what the schema documents. Path ids are
often swapped for real ones (open, closed and another team's deals) so that the close and
reopen actions run the real services with fuzzed bodies. Also: the docs page under our CSP.
"""

import re
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from deals import services
from deals.models import Closure, Deal
from teams.services import api_token_issue

MAX_EXAMPLES = 10  # per operation, user and mode; about two minutes in all on this machine
TAXONOMY_PATHS = ("/api/reasons/", "/api/competitors/")


@pytest.fixture
def api_world(world, competitor):
    """East deals for bob (manager) to act on, in every state, and West deals he must not see."""
    for i in range(6):
        deal = world.deal(owner="alice" if i % 2 else "erin", stage=i % 5)
        if i % 3 == 1:
            services.deal_mark_lost(
                deal=deal,
                reason=world.reasons["competitor-cheaper"],
                actor=world.alice,
                competitor=competitor,
            )
        elif i % 3 == 2:
            services.deal_mark_won(deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice)
    for _ in range(2):
        services.deal_mark_lost(
            deal=world.deal(owner="dave"), reason=world.reasons["no-budget"], actor=world.dave
        )
    return world


@pytest.fixture
def api_tokens(api_world) -> dict[str, str]:
    """bob's and carol's tokens by username; the fuzzer puts in a rotated one as it gets it."""
    return {
        user.username: api_token_issue(user=user, created_via="command").key
        for user in (api_world.bob, api_world.carol)
    }


@pytest.fixture
def api_token(api_tokens):
    return api_tokens["bob"]


def _known_ids() -> list[int]:
    """Ids that exist: deals and closures of both teams, and a few taxonomy rows. In id order: the
    table's own order changes as rows are updated, which would make `pick` land elsewhere."""
    deals = Deal.objects.order_by("pk").values_list("pk", flat=True)
    return list(deals) + list(Closure.objects.order_by("pk").values_list("pk", flat=True)) + [1, 2, 3]


def _fuzz(operation, mode: GenerationMode, username: str, tokens: dict[str, str], answers: Counter) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), swap=st.booleans(), pick=st.integers(0, 10_000))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case, swap, pick):
        if swap and isinstance((case.path_parameters or {}).get("id"), int):
            ids = _known_ids()
            case.path_parameters["id"] = ids[pick % len(ids)]
        response = case.call_and_validate(
            headers={"Authorization": f"Token {tokens[username]}"},
            checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
        )
        if operation.path == "/api/token/rotate/" and response.status_code == 200:
            tokens[username] = response.json()["token"]  # the old one no longer works
        answers[(operation.label, response.status_code)] += 1

    run()


# Fresh id sequences: the fuzzer's generated ids (reasons, deals) then mean the same rows whatever
# ran before in this process, so what it reaches does not depend on the test order.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_api_matches_its_schema(live_server, api_tokens):
    """Every operation, valid and invalid input: no 5xx, and answers as documented.

    (schemathesis's own pytest plugin does not run on pytest 9, so the operations are walked here.)
    """
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json", headers={"Authorization": f"Token {api_tokens['bob']}"}
    )
    failures, walked, answers = [], 0, Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        # bob (a manager) calls everything; carol (admin) also fuzzes the taxonomy writes.
        admin_write = operation.method.upper() != "GET" and operation.path.startswith(TAXONOMY_PATHS)
        for username in ("bob", "carol") if admin_write else ("bob",):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                walked += 1
                try:
                    _fuzz(operation, mode, username, api_tokens, answers)
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    assert mode == GenerationMode.NEGATIVE
                except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure together
                    failures.append(f"{operation.label} as {username} ({mode.value}):\n{exc}")
    assert walked >= 2 * (30 + 12)
    assert not failures, "\n\n".join(failures)
    print(sorted(answers.items()))
    # The fuzzing reached the real work, not only the refusals.
    assert answers["POST /api/deals/{id}/mark-lost/", 201] + answers["POST /api/deals/{id}/reopen/", 200] > 0
    assert answers["GET /api/deals/", 200] > 0 and answers["GET /api/deals/{id}/", 200] > 0
    assert answers["POST /api/competitors/", 201] > 0 and answers["POST /api/competitors/", 403] > 0


@pytest.mark.django_db(transaction=True)
def test_schema_and_docs_need_a_signed_in_user(live_server, api_token):
    schema_url = f"{live_server.url}/api/schema/"
    assert requests.get(schema_url, timeout=10).status_code == 401
    response = requests.get(schema_url, headers={"Authorization": f"Token {api_token}"}, timeout=10)
    assert response.status_code == 200
    assert "/api/deals/{id}/mark-lost/" in response.text
    docs = requests.get(f"{live_server.url}/api/docs/", allow_redirects=False, timeout=10)
    assert docs.status_code == 302 and docs.headers["Location"].startswith("/login/")


@pytest.mark.django_db(transaction=True)
def test_docs_page_has_no_inline_script_or_style(live_server, api_world):
    session = requests.Session()
    login = session.get(f"{live_server.url}/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(
        f"{live_server.url}/login/",
        data={"username": "bob", "password": "a-long-test-password", "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/login/"},
        timeout=10,
    )
    page = session.get(f"{live_server.url}/api/docs/", timeout=10)
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<style" not in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
    init = session.get(f"{live_server.url}/api/docs/?script=", timeout=10)
    assert init.status_code == 200 and init.headers["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in init.text


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_docs_page_works_in_a_browser_under_the_csp(browser_page, api_world):
    violations = []
    browser_page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and violations.append(message.text),
    )
    browser_page.sign_in("bob")
    browser_page.goto("/api/docs/")
    browser_page.get_by_text("/api/deals/{id}/mark-lost/").first.wait_for()
    browser_page.get_by_role("heading", name=re.compile("closedlost API")).wait_for()
    browser_page.screenshot_to("api-docs")
    assert violations == []
    assert browser_page.console_errors == []
