"""The admins' pages to add, change and remove nurture sequences and steps (/follow-ups/setup/);
everyone else gets 404. Each change is one call to followups.sequences_setup."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from followups import sequences_setup
from followups.models import NurtureSequence, NurtureStep
from followups.setup_views import _admin_only


class SequenceForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the team: when to choose it. Buyers never see it.",
    )  # fmt: skip
    active = forms.BooleanField(
        label="Active", required=False, initial=True,
        help_text="An inactive sequence is not offered on the close form and starts for no reason; "
        "what it scheduled goes on.",
    )  # fmt: skip


def _apply(form, call):
    try:
        return call()
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    return None


@require_http_methods(["GET", "POST"])
def sequence_new_view(request):
    _admin_only(request)
    form = SequenceForm(request.POST or None)
    del form.fields["active"]
    if request.method == "POST" and form.is_valid():
        sequence = _apply(
            form,
            lambda: sequences_setup.nurture_sequence_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            ),
        )
        if sequence is not None:
            messages.success(request, f"{sequence.name} is made: add its steps, then choose its reasons.")
            return redirect("followups:setup-step-new", pk=sequence.pk)
    status = 400 if form.errors else 200
    return render(request, "followups/setup_sequence.html", {"form": form, "sequence": None}, status=status)


@require_http_methods(["GET", "POST"])
def sequence_edit_view(request, pk: int):
    _admin_only(request)
    sequence = get_object_or_404(NurtureSequence, pk=pk)
    initial = {"name": sequence.name, "description": sequence.description, "active": sequence.active}
    form = SequenceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changed = _apply(
            form,
            lambda: sequences_setup.nurture_sequence_update(
                actor=request.user, sequence=sequence, **form.cleaned_data
            ),
        )
        if changed is not None:
            messages.success(request, f"{changed.name} is saved.")
            return redirect("followups:setup")
    context = {"form": form, "sequence": sequence, "used_by": sequences_setup.sequence_use(sequence)}
    return render(request, "followups/setup_sequence.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def sequence_remove_view(request, pk: int):
    _admin_only(request)
    sequence = get_object_or_404(NurtureSequence, pk=pk)
    if request.method == "POST":
        name = sequence.name
        removal = sequences_setup.nurture_sequence_remove(actor=request.user, sequence=sequence)
        if removal.deleted:
            messages.success(request, f"{name} is removed.")
        else:
            messages.success(
                request,
                f"{name} is deactivated, not deleted: {removal.used_by} close(s) used it and keep naming it.",
            )
        return redirect("followups:setup")
    context = {
        "thing": sequence.name,
        "used_by": sequences_setup.sequence_use(sequence),
        "sequence": sequence,
    }
    return render(request, "followups/setup_remove.html", context)


@require_http_methods(["GET", "POST"])
def step_remove_view(request, pk: int):
    _admin_only(request)
    step = get_object_or_404(NurtureStep.objects.select_related("sequence"), pk=pk)
    if request.method == "POST":
        removal = sequences_setup.nurture_step_remove(actor=request.user, step=step)
        if removal.deleted:
            messages.success(request, f"Day {step.days_after_close} of {step.sequence.name} is removed.")
        else:
            messages.success(
                request,
                f"Day {step.days_after_close} of {step.sequence.name} is deactivated, not deleted: "
                f"{removal.used_by} follow-up(s) came from it; "
                f"{removal.cancelled} not sent yet are cancelled.",
            )
        return redirect("followups:setup")
    context = {
        "thing": f"day {step.days_after_close} of {step.sequence.name}",
        "step": step,
        "sequence": step.sequence,
        "used_by": sequences_setup.step_use(step),
    }
    return render(request, "followups/setup_remove.html", context)


@require_POST
def step_reactivate_view(request, pk: int):
    _admin_only(request)
    step = get_object_or_404(NurtureStep.objects.select_related("sequence"), pk=pk)
    sequences_setup.nurture_step_reactivate(actor=request.user, step=step)
    messages.success(
        request, f"Day {step.days_after_close} of {step.sequence.name} runs again for new closes."
    )
    return redirect("followups:setup")
