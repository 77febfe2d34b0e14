"""The competitor pages: list, create, edit, retire, restore, merge and undo."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reasons import services
from reasons.forms import CompetitorForm, MergeForm
from reasons.models import Competitor
from reasons.selectors import (
    competitors_with_usage,
)
from reasons.views.common import (
    admin_required,
    apply_error,
)

# --- competitors ---------------------------------------------------------------------------------


def _competitors_url(competitor: Competitor | None = None) -> str:
    url = reverse("taxonomy:competitors")
    return f"{url}#competitor-{competitor.pk}" if competitor else url


@admin_required
@require_safe
def competitor_list_view(request):
    return render(request, "reasons/competitors.html", {"competitors": list(competitors_with_usage())})


@admin_required
@require_http_methods(["GET", "POST"])
def competitor_create_view(request):
    form = CompetitorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            competitor = services.competitor_create(actor=request.user, data=form.to_data())
        except services.TaxonomyError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"Competitor “{competitor.name}” created.")
            return redirect(_competitors_url(competitor))
    return render(
        request,
        "reasons/simple_form.html",
        {"form": form, "title": "New competitor", "back": _competitors_url()},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def competitor_edit_view(request, pk: int):
    competitor = get_object_or_404(Competitor, pk=pk)
    form = CompetitorForm(request.POST or None, competitor=competitor)
    if request.method == "POST" and form.is_valid():
        try:
            services.competitor_update(actor=request.user, competitor=competitor, data=form.to_data())
        except services.TaxonomyError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"Competitor “{competitor.name}” saved.")
            return redirect(_competitors_url(competitor))
    return render(
        request,
        "reasons/simple_form.html",
        {"form": form, "title": f"Edit “{competitor.name}”", "back": _competitors_url()},
        status=400 if request.method == "POST" else 200,
    )


def _competitor_action(request, pk: int, action, done: str):
    competitor = get_object_or_404(Competitor, pk=pk)
    try:
        action(actor=request.user, competitor=competitor)
    except services.TaxonomyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(name=competitor.name))
    return redirect(_competitors_url(competitor))


@admin_required
@require_POST
def competitor_retire_view(request, pk: int):
    return _competitor_action(request, pk, services.competitor_retire, "“{name}” retired.")


@admin_required
@require_POST
def competitor_restore_view(request, pk: int):
    return _competitor_action(request, pk, services.competitor_restore, "“{name}” is offered to reps again.")


@admin_required
@require_POST
def competitor_unmerge_view(request, pk: int):
    return _competitor_action(request, pk, services.competitor_unmerge, "Merge of “{name}” undone.")


@admin_required
@require_http_methods(["GET", "POST"])
def competitor_merge_view(request, pk: int):
    competitor = get_object_or_404(Competitor.objects.select_related("merged_into"), pk=pk)
    offered = Competitor.objects.filter(active=True, merged_into__isnull=True).exclude(pk=competitor.pk)
    form = MergeForm(
        request.POST or None,
        queryset=Competitor.objects.all(),
        offered=offered,
        label="Merge into",
        empty_label="Choose the competitor that survives…",
    )
    if request.method == "POST" and form.is_valid():
        into = form.cleaned_data["into"]
        try:
            services.competitor_merge(actor=request.user, competitor=competitor, into=into)
        except services.TaxonomyError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"“{competitor.name}” merged into “{into.name}”.")
            return redirect(_competitors_url(into))
    return render(
        request,
        "reasons/merge.html",
        {
            "form": form,
            "subject": competitor,
            "subject_name": competitor.name,
            "usage": competitor.closures.count(),
            "back": _competitors_url(competitor),
            "noun": "competitor",
        },
        status=400 if request.method == "POST" else 200,
    )
