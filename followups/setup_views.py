"""The admins' nurture set-up pages: sequences with their steps and the reasons that start them,
a step's editor with a preview for a chosen lost deal and a test send to oneself. Everyone else
gets 404 (the pages do not exist for them)."""

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_safe

from followups import setup
from followups.models import NurtureChange, NurtureSequence, NurtureStep, StepAction
from followups.test_send import nurture_test_send_enqueue
from reasons.models import Reason, ReasonKind


def _admin_only(request) -> None:
    if not request.user.is_revops_admin:
        raise Http404("No such page.")


class StepForm(forms.Form):
    days_after_close = forms.IntegerField(label="Days after the close", min_value=0, max_value=3650)
    action = forms.ChoiceField(label="What happens", choices=StepAction.choices)
    subject = forms.CharField(label="Subject", max_length=200)
    body = forms.CharField(label="Text", widget=forms.Textarea(attrs={"rows": 9}))
    preview_deal = forms.TypedChoiceField(
        label="Preview for the lost deal", coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args, deals=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preview_deal"].choices = [("", "Choose a lost deal")] + [
            (d.pk, f"{d.name} ({d.account.name})") for d in deals
        ]


class SequenceReasonsForm(forms.Form):
    reasons = forms.ModelMultipleChoiceField(
        label="Reasons that start this sequence by default",
        queryset=Reason.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="A reason starts one sequence at most: choosing it here moves it from another.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reasons"].queryset = Reason.objects.filter(
            active=True, kind__in=[ReasonKind.LOSS, ReasonKind.NO_DECISION]
        ).order_by("kind", "category__order", "order", "label")


@require_http_methods(["GET", "POST"])
def sequence_reasons_view(request, pk: int):
    _admin_only(request)
    sequence = get_object_or_404(NurtureSequence, pk=pk)
    initial = {"reasons": list(Reason.objects.filter(default_nurture__sequence=sequence))}
    form = SequenceReasonsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        setup.sequence_reasons_set(
            actor=request.user, sequence=sequence, reasons=form.cleaned_data["reasons"]
        )
        messages.success(request, f"The reasons starting {sequence.name} are saved.")
        return redirect("followups:setup")
    return render(request, "followups/setup_reasons.html", {"form": form, "sequence": sequence})


@require_safe
def setup_view(request):
    _admin_only(request)
    sequences = NurtureSequence.objects.prefetch_related("steps", "reason_defaults__reason").order_by(
        "-active", "name"
    )
    history = NurtureChange.objects.select_related("actor")[:15]
    return render(request, "followups/setup.html", {"sequences": sequences, "history": history})


@require_http_methods(["GET", "POST"])
def step_view(request, pk: int):
    _admin_only(request)
    step = get_object_or_404(NurtureStep.objects.select_related("sequence"), pk=pk)
    return _step_page(request, step.sequence, step)


@require_http_methods(["GET", "POST"])
def step_new_view(request, pk: int):
    _admin_only(request)
    sequence = get_object_or_404(NurtureSequence, pk=pk)
    last = sequence.steps.order_by("-days_after_close").values_list("days_after_close", flat=True).first()
    draft = NurtureStep(
        sequence=sequence, position=0, days_after_close=(last or 0) + 7, action=StepAction.CONTACT_EMAIL,
        subject="", body="",
    )  # fmt: skip
    return _step_page(request, sequence, draft)


def _step_page(request, sequence, step):
    """A step's editor (an unsaved `step`: a new one), with preview and test send."""
    new = step.pk is None
    deals = setup.preview_deals()
    initial = {name: getattr(step, name) for name in ("days_after_close", "action", "subject", "body")}
    form = StepForm(request.POST or None, initial=initial, deals=deals)
    preview = None
    if request.method == "POST" and form.is_valid():
        values = {k: form.cleaned_data[k] for k in ("days_after_close", "action", "subject", "body")}
        do = request.POST.get("do", "save")
        if do == "save":
            try:
                setup.nurture_step_save(
                    actor=request.user, sequence=sequence, step=None if new else step, **values
                )
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                done = "The step is added" if new else "The step is saved"
                messages.success(request, f"{done}; the next closes use it.")
                return redirect("followups:setup")
        else:
            preview = _preview(request, form, step, values, send=do == "test")
    status = 400 if request.method == "POST" and form.errors else 200
    context = {"form": form, "step": step, "sequence": sequence, "new": new, "preview": preview}
    return render(request, "followups/setup_step.html", context, status=status)


def _preview(request, form, step, values, *, send: bool):
    draft = NurtureStep(sequence=step.sequence, position=step.position, **values)
    try:
        draft.full_clean(exclude=["sequence", "position"])
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None
    if draft.action != StepAction.CONTACT_EMAIL:
        form.add_error("action", "Only an e-mail to the contact has a preview.")
        return None
    deal = next((d for d in setup.preview_deals() if d.pk == form.cleaned_data["preview_deal"]), None)
    if deal is None:
        form.add_error("preview_deal", "Choose the lost deal to preview this e-mail for.")
        return None
    try:
        message = setup.nurture_step_preview(step=draft, deal=deal, to=request.user.email if send else None)
    except Exception as error:  # noqa: BLE001 - shown to the admin as the reason it cannot go out
        form.add_error(None, f"This e-mail would not be sent: {error}")
        return None
    if send:
        if not request.user.email:
            form.add_error(None, "Your account has no e-mail address to send the test to.")
            return None
        nurture_test_send_enqueue(actor=request.user, step=draft, deal_id=deal.pk)
        messages.success(request, f"A test is on its way to {request.user.email}, exactly as previewed.")
    return {
        "subject": message.subject,
        "to": deal.contacts.filter(email__gt="").order_by("pk").first(),
        "text": message.body,
        "html": message.alternatives[0][0],
        # The HTML part's body, shown in the page (our own template's output: its values escaped).
        "html_body": mark_safe(_body_of(message.alternatives[0][0])),  # noqa: S308
    }


def _body_of(html: str) -> str:
    match = re.search(r"<body[^>]*>(.*)</body>", html, flags=re.S)
    return match.group(1) if match else ""
