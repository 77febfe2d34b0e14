"""The admins' figure settings page (the disqualified rule), with its history; 404 for others."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from insights import org_settings
from insights.models import InsightsSettings, InsightsSettingsChange

CHOICES = [("default", "The server's default"), ("include", "Include them"), ("exclude", "Leave them out")]
VALUES = {"default": None, "include": True, "exclude": False}


class FigureSettingsForm(forms.Form):
    disqualified = forms.ChoiceField(
        label="Disqualified losses in win rates",
        choices=CHOICES,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )


@require_http_methods(["GET", "POST"])
def figure_settings_view(request):
    if not request.user.is_revops_admin:
        raise Http404("No such page.")
    row = InsightsSettings.objects.filter(pk=1).first()
    chosen = row.win_rate_includes_disqualified if row else None
    initial = {None: "default", True: "include", False: "exclude"}[chosen]
    form = FigureSettingsForm(request.POST or None, initial={"disqualified": initial})
    if request.method == "POST" and form.is_valid():
        try:
            org_settings.insights_settings_update(
                actor=request.user, win_rate_includes_disqualified=VALUES[form.cleaned_data["disqualified"]]
            )
        except org_settings.InsightsSettingsError as error:
            form.add_error("disqualified", error.message)
        else:
            messages.success(request, "The figure settings are saved.")
            return redirect("insights:settings")
    context = {
        "form": form,
        "default_includes": settings.WIN_RATE_INCLUDES_DISQUALIFIED,
        "includes_now": org_settings.win_rate_includes_disqualified(),
        "history": InsightsSettingsChange.objects.select_related("actor")[:10],
    }
    return render(request, "insights/settings.html", context)
