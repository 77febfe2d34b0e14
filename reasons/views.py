"""The taxonomy pages: admins (RevOps) edit reasons, categories and competitors; reps read the guide.

Every page but the reason guide answers 403 to reps and managers. Views stay thin: each
change is one call to reasons.services, which records the history row.
"""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reasons import services
from reasons.forms import CategoryForm, CompetitorForm, HistoryFilterForm, ImportForm, MergeForm, ReasonForm
from reasons.models import Competitor, Reason, ReasonCategory, ReasonKind
from reasons.selectors import (
    competitors_with_usage,
    reason_counts_by_kind,
    reason_guide,
    taxonomy_changes,
    taxonomy_tree,
)
from reasons.transfer import (
    TaxonomyImportError,
    parse_taxonomy_file,
    taxonomy_export_csv,
    taxonomy_export_json,
)

RECENT_CHANGES = 8
HISTORY_PAGE_SIZE = 100
IMPORT_MAX_BYTES = 2 * 1024 * 1024


def admin_required(view):
    """Only admins (RevOps) reach the taxonomy pages; everyone else signed in gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) can change the reason taxonomy.")
        return view(request, *args, **kwargs)

    return wrapper


def _kind(value: str | None) -> str:
    return value if value in ReasonKind.values else ReasonKind.LOSS


def _back_to(reason: Reason) -> str:
    return f"{reverse('taxonomy:index')}?kind={reason.kind}#reason-{reason.pk}"


def _apply_error(form, exc: services.TaxonomyError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


# --- reasons -------------------------------------------------------------------------------------


@admin_required
@require_safe
def taxonomy_index_view(request):
    kind = _kind(request.GET.get("kind"))
    groups = taxonomy_tree(kind=kind)
    reasons = [reason for group in groups for reason in group.reasons]
    summary = {
        "active": sum(1 for r in reasons if r.active),
        "retired": sum(1 for r in reasons if not r.active and not r.merged_into_id),
        "merged": sum(1 for r in reasons if r.merged_into_id),
        "unused": sum(1 for r in reasons if r.active and not r.usage_count),
    }
    return render(
        request,
        "reasons/index.html",
        {
            "summary": summary,
            "kind": kind,
            "kind_label": ReasonKind(kind).label,
            "kinds": [
                (value, label, count)
                for (value, label), count in zip(
                    ReasonKind.choices, reason_counts_by_kind().values(), strict=True
                )
            ],
            "groups": groups,
            "changes": list(taxonomy_changes()[:RECENT_CHANGES]),
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def reason_create_view(request):
    kind = _kind(request.GET.get("kind") or request.POST.get("kind"))
    initial = {"kind": kind, "category": request.GET.get("category")}
    form = ReasonForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            reason = services.reason_create(
                actor=request.user, kind=form.cleaned_data["kind"], data=form.to_data()
            )
        except services.TaxonomyError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Reason “{reason.label}” created.")
            return redirect(_back_to(reason))
    return render(
        request,
        "reasons/reason_form.html",
        {"form": form, "title": "New reason", "kind": kind},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def reason_edit_view(request, pk: int):
    reason = get_object_or_404(Reason.objects.select_related("category", "merged_into"), pk=pk)
    usage = services.reason_closure_count(reason)
    form = ReasonForm(request.POST or None, reason=reason, code_frozen=usage > 0)
    if request.method == "POST" and form.is_valid():
        try:
            services.reason_update(actor=request.user, reason=reason, data=form.to_data())
        except services.TaxonomyError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Reason “{reason.label}” saved.")
            return redirect(_back_to(reason))
    return render(
        request,
        "reasons/reason_form.html",
        {
            "form": form,
            "title": f"Edit “{reason.label}”",
            "reason": reason,
            "usage": usage,
            "kind": reason.kind,
        },
        status=400 if request.method == "POST" else 200,
    )


def _reason_action(request, pk: int, action, done: str):
    reason = get_object_or_404(Reason, pk=pk)
    try:
        action(actor=request.user, reason=reason)
    except services.TaxonomyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(label=reason.label))
    return redirect(_back_to(reason))


@admin_required
@require_POST
def reason_move_view(request, pk: int):
    reason = get_object_or_404(Reason, pk=pk)
    direction = request.POST.get("direction", "")
    try:
        services.reason_reorder(actor=request.user, reason=reason, direction=direction)
    except services.TaxonomyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{reason.label}” moved {direction}.")
    return redirect(_back_to(reason))


@admin_required
@require_POST
def reason_retire_view(request, pk: int):
    return _reason_action(
        request, pk, services.reason_retire, "“{label}” retired: reps no longer see it; old closures keep it."
    )


@admin_required
@require_POST
def reason_restore_view(request, pk: int):
    return _reason_action(request, pk, services.reason_restore, "“{label}” is offered to reps again.")


@admin_required
@require_POST
def reason_unmerge_view(request, pk: int):
    return _reason_action(
        request, pk, services.reason_unmerge, "Merge undone: “{label}” counts its own closures again."
    )


@admin_required
@require_http_methods(["GET", "POST"])
def reason_merge_view(request, pk: int):
    reason = get_object_or_404(Reason.objects.select_related("category", "merged_into"), pk=pk)
    offered = Reason.objects.filter(kind=reason.kind, active=True, merged_into__isnull=True).exclude(
        pk=reason.pk
    )
    form = MergeForm(
        request.POST or None,
        queryset=Reason.objects.all(),
        offered=offered.select_related("category"),
        label="Merge into",
        empty_label="Choose the reason that survives…",
    )
    if request.method == "POST" and form.is_valid():
        into = form.cleaned_data["into"]
        try:
            services.reason_merge(actor=request.user, reason=reason, into=into)
        except services.TaxonomyError as exc:
            _apply_error(form, exc)
        else:
            messages.success(
                request,
                f"“{reason.label}” merged into “{into.label}”: its closures now count under “{into.label}”.",
            )
            return redirect(_back_to(into))
    return render(
        request,
        "reasons/merge.html",
        {
            "form": form,
            "subject": reason,
            "subject_name": reason.label,
            "usage": services.reason_closure_count(reason),
            "back": _back_to(reason),
            "noun": "reason",
        },
        status=400 if request.method == "POST" else 200,
    )


# --- categories ----------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def category_create_view(request):
    kind = _kind(request.GET.get("kind"))
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            category = services.category_create(
                actor=request.user, code=form.cleaned_data["code"], name=form.cleaned_data["name"]
            )
        except services.TaxonomyError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Category “{category.name}” created.")
            return redirect(f"{reverse('taxonomy:index')}?kind={kind}#category-{category.pk}")
    return render(
        request,
        "reasons/simple_form.html",
        {"form": form, "title": "New category", "back": f"{reverse('taxonomy:index')}?kind={kind}"},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def category_edit_view(request, pk: int):
    category = get_object_or_404(ReasonCategory, pk=pk)
    kind = _kind(request.GET.get("kind"))
    form = CategoryForm(request.POST or None, category=category)
    if request.method == "POST" and form.is_valid():
        try:
            services.category_update(actor=request.user, category=category, name=form.cleaned_data["name"])
        except services.TaxonomyError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Category “{category.name}” saved.")
            return redirect(f"{reverse('taxonomy:index')}?kind={kind}#category-{category.pk}")
    return render(
        request,
        "reasons/simple_form.html",
        {
            "form": form,
            "title": f"Rename “{category.name}”",
            "back": f"{reverse('taxonomy:index')}?kind={kind}",
        },
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_POST
def category_move_view(request, pk: int):
    category = get_object_or_404(ReasonCategory, pk=pk)
    kind = _kind(request.POST.get("kind"))
    direction = request.POST.get("direction", "")
    try:
        services.category_reorder(actor=request.user, category=category, direction=direction)
    except services.TaxonomyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Category “{category.name}” moved {direction}.")
    return redirect(f"{reverse('taxonomy:index')}?kind={kind}#category-{category.pk}")


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
            _apply_error(form, exc)
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
            _apply_error(form, exc)
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
            _apply_error(form, exc)
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


# --- history, import, export ---------------------------------------------------------------------


@admin_required
@require_safe
def history_view(request):
    form = HistoryFilterForm(request.GET or None)
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "subject": data["subject"],
            "action": data["action"],
            "actor_id": data["actor"],
            "q": data["q"].strip(),
        }
    changes = list(taxonomy_changes(**filters)[: HISTORY_PAGE_SIZE + 1])
    return render(
        request,
        "reasons/history.html",
        {
            "form": form,
            "changes": changes[:HISTORY_PAGE_SIZE],
            "more": len(changes) > HISTORY_PAGE_SIZE,
            "page_size": HISTORY_PAGE_SIZE,
        },
    )


@admin_required
@require_safe
def export_view(request):
    stamp = timezone.now().strftime("%Y%m%d")
    if request.GET.get("format") == "csv":
        response = HttpResponse(taxonomy_export_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="taxonomy-{stamp}.csv"'
    else:
        response = HttpResponse(taxonomy_export_json(), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="taxonomy-{stamp}.json"'
    return response


@admin_required
@require_http_methods(["GET", "POST"])
def import_view(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    problems = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            form.add_error("file", f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB.")
        else:
            try:
                parsed = parse_taxonomy_file(filename=upload.name, content=upload.read())
                counts = services.taxonomy_import(actor=request.user, parsed=parsed)
            except TaxonomyImportError as exc:
                problems = exc.problems
            else:
                messages.success(
                    request,
                    f"Taxonomy imported: {counts['created']} created, {counts['updated']} updated, "
                    f"{counts['unchanged']} unchanged.",
                )
                return redirect("taxonomy:index")
    return render(
        request,
        "reasons/import.html",
        {"form": form, "problems": problems},
        status=400 if request.method == "POST" else 200,
    )


# --- the reason guide (every signed-in user) ------------------------------------------------------


@require_safe
def guide_view(request):
    guide = reason_guide()
    sections = [(value, label, guide[value]) for value, label in ReasonKind.choices]
    return render(request, "reasons/guide.html", {"sections": sections})
