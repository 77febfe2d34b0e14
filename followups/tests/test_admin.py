"""Admins edit nurture sequences (with their steps and the reasons using them) in the Django admin."""

from django.urls import reverse

from followups.models import FollowUp, NurtureSequence, NurtureStep, ReasonSequenceDefault


def test_admin_edits_a_sequence_with_steps_and_reason_defaults(client, world, sequence):
    world.carol.is_staff = world.carol.is_superuser = True
    world.carol.save()
    client.force_login(world.carol)
    ReasonSequenceDefault.objects.filter(reason=world.reasons["bad-timing"]).delete()
    for name in ("nurturesequence", "followup", "contactoptout", "reasonsequencedefault", "closuresequence"):
        assert client.get(reverse(f"admin:followups_{name}_changelist")).status_code == 200, name
    assert (
        client.get(reverse("admin:followups_nurturesequence_change", args=[sequence.pk])).status_code == 200
    )
    form = {
        "name": "Quarterly",
        "description": "",
        "active": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1",
        "steps-0-days_after_close": "90",
        "steps-0-action": "contact_email",
        "steps-0-subject": "Hello {{ contact.first_name }}",
        "steps-0-body": "Anything new at {{ deal.account }}?",
        "reason_defaults-TOTAL_FORMS": "1",
        "reason_defaults-INITIAL_FORMS": "0",
        "reason_defaults-0-reason": world.reasons["bad-timing"].pk,
    }
    # An e-mail to the buyer naming the deal is refused, with the placeholders it may use.
    refused = client.post(reverse("admin:followups_nurturesequence_add"), form)
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "An e-mail to a buyer cannot use {{ deal.account }}" in page
    assert "Allowed placeholders: {{ contact.name }}, {{ contact.first_name }}, {{ account.name }}" in page
    assert not NurtureSequence.objects.filter(name="Quarterly").exists()
    form["steps-0-body"] = "Anything new at {{ account.name }}?"
    response = client.post(reverse("admin:followups_nurturesequence_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    quarterly = NurtureSequence.objects.get(name="Quarterly")
    assert NurtureStep.objects.get(sequence=quarterly).days_after_close == 90
    assert ReasonSequenceDefault.objects.get(reason=world.reasons["bad-timing"]).sequence == quarterly
    assert client.get(reverse("admin:followups_followup_add")).status_code == 403  # rows come from closes
    assert FollowUp.objects.count() == 0
