"""Every API route and action answers with and without a format suffix (.json): never a 5xx."""

import pytest

from closedlost.api import router
from deals import services as deal_services
from followups.models import FollowUp, NurtureSequence, NurtureStep, StepAction
from reasons.models import Competitor, Reason, ReasonCategory

pytestmark = pytest.mark.django_db

DETAIL_METHODS = ("get", "patch", "put", "delete")
LIST_METHODS = ("get", "post")


def _objects(world) -> dict[str, int]:
    sequence = NurtureSequence.objects.create(name="Walk")
    NurtureStep.objects.create(
        sequence=sequence,
        position=1,
        days_after_close=1,
        action=StepAction.OWNER_TASK,
        subject="C",
        body="Call",
    )
    closed = world.deal()
    closure = deal_services.deal_mark_lost(
        deal=closed, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    return {
        "deal": world.deal().pk,
        "closure": closure.pk,
        "followup": FollowUp.objects.filter(closure=closure).first().pk,
        "reason": Reason.objects.first().pk,
        "reason-category": ReasonCategory.objects.first().pk,
        "competitor": Competitor.objects.first().pk,
    }


def _routes(ids: dict[str, int]):
    """(method, path without suffix) for every list, detail and extra action of every viewset."""
    for prefix, viewset, basename in router.registry:
        yield from ((method, f"/api/{prefix}/") for method in LIST_METHODS)
        detail = f"/api/{prefix}/{ids.get(basename, 1)}/"  # another app's rows: a 404 is fine, a 5xx is not
        yield from ((method, detail) for method in DETAIL_METHODS)
        for action in viewset.get_extra_actions():
            base = detail if action.detail else f"/api/{prefix}/"
            for method in action.mapping:
                yield method, f"{base}{action.url_path}/"
    yield "get", "/api/figures/"


def test_every_api_route_and_action_with_and_without_a_format_suffix(world, api_as):
    ids = _objects(world)
    api = api_as(world.carol)
    answers = []
    for method, path in _routes(ids):
        for url in (path, path.rstrip("/") + ".json"):
            response = getattr(api, method)(url, {}, format="json")
            answers.append((method.upper(), url, response.status_code))
    errors = [answer for answer in answers if answer[2] >= 500]
    assert not errors, errors
    # The suffix is honoured, not just survived: a suffixed action does what the plain one does.
    suffixed = {(m, u): s for m, u, s in answers if u.endswith(".json")}
    assert suffixed[("GET", f"/api/deals/{ids['deal']}.json")] == 200
    assert len(answers) > 60
