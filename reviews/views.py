"""The review pages: past reviews (the user's own), one review, and how often to receive it."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from reviews import services
from reviews.models import Cadence
from reviews.selectors import review_list_rows, reviews_of

PER_PAGE = 25


class CadenceForm(forms.Form):
    cadence = forms.ChoiceField(
        label="Send me the win/loss review",
        choices=Cadence.choices,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )


@require_safe
def review_list_view(request):
    page = Paginator(review_list_rows(request.user), PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "reviews/list.html",
        {
            "page": page,
            "may_have_reviews": services.may_have_reviews(request.user),
            "cadence": Cadence(services.cadence_of(request.user)).label,
        },
    )


@require_safe
def review_detail_view(request, pk: int):
    review = get_object_or_404(reviews_of(request.user), pk=pk)
    return render(request, "reviews/detail.html", services.review_context(review))


@require_http_methods(["GET", "POST"])
def review_settings_view(request):
    allowed = services.may_have_reviews(request.user)
    form = CadenceForm(request.POST or None, initial={"cadence": services.cadence_of(request.user)})
    if request.method == "POST" and allowed and form.is_valid():
        try:
            services.review_cadence_set(user=request.user, cadence=form.cleaned_data["cadence"])
        except services.ReviewError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f"Saved: {Cadence(form.cleaned_data['cadence']).label.lower()}.")
            return redirect("reviews:settings")
    status = 200 if allowed or request.method == "GET" else 403
    return render(request, "reviews/settings.html", {"form": form, "allowed": allowed}, status=status)
