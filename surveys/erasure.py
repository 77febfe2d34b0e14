"""What the surveys hold of a person being erased (deals.erasure.contact_erase): a survey not yet
sent is cancelled; answers stay (figures do not move) and point at the emptied contact row; their
free text loses the person's name and address in the erasure's sweep."""

from django.dispatch import receiver

from deals.signals import contact_erasing
from surveys.models import Survey, SurveyState


@receiver(contact_erasing, dispatch_uid="surveys_on_contact_erasing")
def on_contact_erasing(sender, *, contact_ids, now, **kwargs) -> dict:
    cancelled = Survey.objects.filter(contact_id__in=contact_ids, state=SurveyState.PENDING).update(
        state=SurveyState.CANCELLED, cancelled_reason="contact erased", last_error=""
    )
    cleared = Survey.objects.filter(contact_id__in=contact_ids).exclude(last_error="").update(last_error="")
    return {"surveys not sent": cancelled, "survey errors cleared": cleared}
