"""The connection page's "bring in deals": start a first sync, see its progress and report,
resume one that failed. Admins only (as every connection page)."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST, require_safe

from crm.models import CrmConnection, CrmSyncRun
from crm.sync.forms import SyncStartForm
from crm.sync.run import SyncError, run_progress, sync_resume, sync_start
from crm.views import admin_required


@admin_required
@require_POST
def sync_start_view(request, kind: str):
    connection = get_object_or_404(CrmConnection, kind=kind)
    form = SyncStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Closed deals window: " + " ".join(form.errors["window_months"]))
        return redirect("crm:connection", kind=kind)
    try:
        sync_start(
            connection=connection, window_months=form.cleaned_data["window_months"], actor=request.user
        )
    except SyncError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Bringing in {connection}'s deals: this page shows the progress.")
    return redirect("crm:connection", kind=kind)


@admin_required
@require_POST
def sync_resume_view(request, kind: str, pk: int):
    run = get_object_or_404(CrmSyncRun, pk=pk, kind=kind)
    try:
        sync_resume(run=run)
    except SyncError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The sync resumes where it stopped.")
    return redirect("crm:connection", kind=kind)


@admin_required
@require_safe
def sync_progress_view(request, kind: str, pk: int):
    run = get_object_or_404(CrmSyncRun, pk=pk, kind=kind)
    return JsonResponse(run_progress(run))
