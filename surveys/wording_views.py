"""The admins' buyer wording pages: every reason and category as buyers read it on the survey,
each changed through surveys.wording_setup with a history row; 404 for everyone else."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from reasons.models import Reason, ReasonCategory, ReasonKind
from surveys import wording_setup
from surveys.models import ReasonWording, WordingChange
from surveys.wording import category_label, reason_label

BUYER_KINDS = [ReasonKind.LOSS, ReasonKind.NO_DECISION]


def _admin_only(request) -> None:
    if not request.user.is_revops_admin:
        raise Http404("No such page.")


class CategoryWordingForm(forms.Form):
    buyer_label = forms.CharField(
        label="What buyers read", max_length=200, required=False,
        help_text="Leave empty for the standard wording. Shown as written: no placeholders.",
    )  # fmt: skip


class ReasonWordingForm(forms.Form):
    buyer_label = forms.CharField(
        label="What buyers read", max_length=200, required=False,
        help_text="Leave empty for the standard wording. Shown as written: no placeholders.",
    )  # fmt: skip
    sending = forms.ChoiceField(
        label="The survey on its own", choices=ReasonWording.Sending.choices, widget=forms.RadioSelect
    )
    send_after_days = forms.IntegerField(
        label="Days after the close", min_value=0, max_value=365, required=False,
        help_text="Only with “After the days given here”.",
    )  # fmt: skip


def _refused(form, error: ValidationError) -> None:
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@require_safe
def wording_view(request):
    _admin_only(request)
    categories = list(ReasonCategory.objects.select_related("buyer_wording").order_by("order", "name"))
    reasons = list(
        Reason.objects.filter(kind__in=BUYER_KINDS, active=True)
        .select_related("buyer_wording", "category__buyer_wording")
        .order_by("kind", "category__order", "order", "label")
    )
    rows = {
        "categories": [(c, category_label(c), wording_setup.standard_category_label(c)) for c in categories],
        "reasons": [(r, reason_label(r), wording_setup.standard_reason_label(r)) for r in reasons],
    }
    history = WordingChange.objects.select_related("actor", "reason", "category")[:15]
    return render(request, "surveys/wording.html", {**rows, "history": history})


@require_http_methods(["GET", "POST"])
def category_wording_view(request, pk: int):
    _admin_only(request)
    category = get_object_or_404(ReasonCategory.objects.select_related("buyer_wording"), pk=pk)
    current = getattr(category, "buyer_wording", None)
    form = CategoryWordingForm(
        request.POST or None, initial={"buyer_label": current.buyer_label if current else ""}
    )
    if request.method == "POST" and form.is_valid():
        try:
            wording_setup.category_wording_set(
                actor=request.user, category=category, buyer_label=form.cleaned_data["buyer_label"]
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, f"The buyer wording of {category.name} is saved.")
            return redirect("surveys:wording")
    context = {
        "form": form,
        "name": category.name,
        "kind": "category",
        "standard": wording_setup.standard_category_label(category),
        "history": WordingChange.objects.filter(category=category).select_related("actor")[:20],
    }
    return render(request, "surveys/wording_edit.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def reason_wording_view(request, pk: int):
    _admin_only(request)
    reason = get_object_or_404(
        Reason.objects.filter(kind__in=BUYER_KINDS).select_related("buyer_wording"), pk=pk
    )
    current = getattr(reason, "buyer_wording", None)
    initial = {"buyer_label": "", "sending": ReasonWording.Sending.DEFAULT, "send_after_days": None}
    if current is not None:
        initial = {
            "buyer_label": current.buyer_label,
            "sending": current.sending,
            "send_after_days": current.send_after_days,
        }
    form = ReasonWordingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            wording_setup.reason_wording_set(actor=request.user, reason=reason, **form.cleaned_data)
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, f"The buyer wording of {reason.label} is saved.")
            return redirect("surveys:wording")
    context = {
        "form": form,
        "name": reason.label,
        "kind": "reason",
        "standard": wording_setup.standard_reason_label(reason),
        "history": WordingChange.objects.filter(reason=reason).select_related("actor")[:20],
    }
    return render(request, "surveys/wording_edit.html", context, status=400 if form.errors else 200)
