"""Admins edit nurture sequences (with their steps and the reasons using them) in the Django admin."""

from django.urls import reverse

from followups.models import FollowUp, NurtureSequence, ReasonSequenceDefault


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
    # Read-only here: sequences, steps and defaults change on /follow-ups/setup/ (with history).
    form = {"name": "Quarterly", "description": "", "active": "on", "steps-TOTAL_FORMS": "0"}
    form.update({"steps-INITIAL_FORMS": "0", "reason_defaults-TOTAL_FORMS": "0"})
    form["reason_defaults-INITIAL_FORMS"] = "0"
    assert client.post(reverse("admin:followups_nurturesequence_add"), form).status_code == 403
    change = reverse("admin:followups_nurturesequence_change", args=[sequence.pk])
    assert client.post(change, {**form, "name": "Renamed"}).status_code == 403
    assert not NurtureSequence.objects.filter(name__in=["Quarterly", "Renamed"]).exists()
    assert client.get(reverse("admin:followups_followup_add")).status_code == 403  # rows come from closes
    assert FollowUp.objects.count() == 0
