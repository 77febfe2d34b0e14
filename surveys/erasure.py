"""What the surveys hold of a person being erased (deals.erasure.contact_erase): a survey not yet
sent is cancelled; answers stay (figures do not move) and point at the emptied contact row; their
free text loses the person's name and address in the erasure's sweep. A contact taken off a deal
(by a rep or by the CRM) is not asked about it any more: its survey not yet sent is cancelled."""

from django.db.models import Q
from django.dispatch import receiver

from deals.signals import contact_erasing, deal_contacts_changed
from surveys.models import Survey, SurveyState


@receiver(contact_erasing, dispatch_uid="surveys_on_contact_erasing")
def on_contact_erasing(sender, *, contact_ids, now, **kwargs) -> dict:
    cancelled = Survey.objects.filter(contact_id__in=contact_ids, state=SurveyState.PENDING).update(
        state=SurveyState.CANCELLED, cancelled_reason="contact erased", last_error=""
    )
    cleared = Survey.objects.filter(contact_id__in=contact_ids).exclude(last_error="").update(last_error="")
    return {"surveys not sent": cancelled, "survey errors cleared": cleared}


@receiver(deal_contacts_changed, dispatch_uid="surveys_on_deal_contacts_changed")
def on_deal_contacts_changed(sender, *, removed, **kwargs) -> None:
    pairs = Q()
    for deal_id, contact_id in removed:
        pairs |= Q(deal_id=deal_id, contact_id=contact_id)
    if removed:
        Survey.objects.filter(pairs, state=SurveyState.PENDING).update(
            state=SurveyState.CANCELLED, cancelled_reason="contact removed from the deal"
        )
