"""The admins' exchange rates page; 404 for everyone else."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from insights.models import ExchangeRate, ExchangeRateChange
from insights.rates import exchange_rate_set


class RateForm(forms.Form):
    currency = forms.CharField(label="Currency (ISO code)", max_length=3, min_length=3)
    rate = forms.DecimalField(label="Worth in the organisation's currency", max_digits=18, decimal_places=8)


@require_http_methods(["GET", "POST"])
def rates_view(request):
    if not request.user.is_revops_admin:
        raise Http404("No such page.")
    form = RateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = exchange_rate_set(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"1 {row.currency} = {row.rate} {settings.ORG_CURRENCY}, saved.")
            return redirect("insights:rates")
    context = {
        "form": form,
        "rates": ExchangeRate.objects.all(),
        "history": ExchangeRateChange.objects.select_related("actor")[:20],
        "org_currency": settings.ORG_CURRENCY,
    }
    return render(request, "insights/rates.html", context, status=400 if form.errors else 200)
