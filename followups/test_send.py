"""A nurture step's test send to the admin who edits it, through the outbox like every e-mail.

The outbox item holds what renders it (the step's unsaved text, the preview deal, the admin),
never the rendered e-mail: the buyer's name stays out of the outbox table and its log lines.
The worker renders it with the preview's own code and sends it once; a deal or address gone by
then ends the item quietly, an SMTP refusal is retried with the outbox's backoff.
"""

from followups import setup
from followups.models import NurtureStep
from outbox.services import handoff_enqueue
from teams.models import User

HANDOFF_KIND = "followups.test_send"
STEP_FIELDS = ("days_after_close", "action", "subject", "body")


def nurture_test_send_enqueue(*, actor: User, step: NurtureStep, deal_id: int) -> None:
    """Hand a test of `step` (saved or not) for `deal_id`, addressed to `actor`, to the worker
    once the caller's transaction commits."""
    item = {
        "sequence": step.sequence_id,
        "position": step.position,
        "deal": deal_id,
        "user": actor.pk,
        **{name: getattr(step, name) for name in STEP_FIELDS},
    }
    handoff_enqueue(kind=HANDOFF_KIND, items=[item])


def nurture_test_send_handoff(item: dict) -> None:
    """The worker's side: render as the preview does and send to the admin (raises to retry)."""
    user = User.objects.filter(pk=item["user"], is_active=True).exclude(email="").first()
    deal = next((d for d in setup.preview_deals() if d.pk == item["deal"]), None)
    if user is None or deal is None:
        return None
    step = NurtureStep(
        sequence_id=item["sequence"], position=item["position"], **{k: item[k] for k in STEP_FIELDS}
    )
    setup.nurture_step_preview(step=step, deal=deal, to=user.email).send()
    return None
