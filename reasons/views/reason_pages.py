"""The taxonomy's reason pages: the tree, create, edit, move, retire, restore, merge and undo."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reasons import services
from reasons.forms import MergeForm, ReasonForm
from reasons.models import Reason, ReasonKind
from reasons.selectors import (
    reason_counts_by_kind,
    taxonomy_changes,
    taxonomy_tree,
)
from reasons.views.common import (
    RECENT_CHANGES,
    admin_required,
    apply_error,
    back_to,
    kind_param,
)

# --- reasons -------------------------------------------------------------------------------------


@admin_required
@require_safe
def taxonomy_index_view(request):
    kind = kind_param(request.GET.get("kind"))
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
    kind = kind_param(request.GET.get("kind") or request.POST.get("kind"))
    initial = {"kind": kind, "category": request.GET.get("category")}
    form = ReasonForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            reason = services.reason_create(
                actor=request.user, kind=form.cleaned_data["kind"], data=form.to_data()
            )
        except services.TaxonomyError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"Reason “{reason.label}” created.")
            return redirect(back_to(reason))
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
            apply_error(form, exc)
        else:
            messages.success(request, f"Reason “{reason.label}” saved.")
            return redirect(back_to(reason))
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
    return redirect(back_to(reason))


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
    return redirect(back_to(reason))


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
            apply_error(form, exc)
        else:
            messages.success(
                request,
                f"“{reason.label}” merged into “{into.label}”: its closures now count under “{into.label}”.",
            )
            return redirect(back_to(into))
    return render(
        request,
        "reasons/merge.html",
        {
            "form": form,
            "subject": reason,
            "subject_name": reason.label,
            "usage": services.reason_closure_count(reason),
            "back": back_to(reason),
            "noun": "reason",
        },
        status=400 if request.method == "POST" else 200,
    )
