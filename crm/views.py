"""Webhook receivers (verify, store raw, answer fast) and the integration pages.

Receivers are open to the CRMs (no session, no CSRF token) and prove the sender by
signature or credentials instead. Pages for connections, events, mappings and imports are
for admins (RevOps); the "needs a reason" queue is for everyone, scoped to their deals.
"""

import csv
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from crm import imports, mapping, owner_sync, reconcile, selectors, services
from crm.adapters import adapter_for
from crm.adapters.base import IncomingRequest
from crm.forms import (
    ClassifyForm,
    ConnectionForm,
    ImportMappingForm,
    ImportReviewForm,
    ImportUploadForm,
    ReasonMappingForm,
)
from crm.importing.preview import import_preview
from crm.importing.review import import_review, import_review_scan
from crm.models import (
    CrmConnection,
    CrmKind,
    DealOwnerSync,
    DealSync,
    ImportJob,
    UnmappedReason,
    WebhookEvent,
)
from crm.sync.forms import SyncStartForm
from crm.sync.run import sync_latest
from deals.forms import CloseDealForm
from deals.models import DealStatus
from deals.selectors import deal_get_for_user
from deals.services import DealError, deal_give_reason
from outbox import kinds as outbox_kinds
from outbox.services import handoffs_publish_now


def admin_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) manage CRM integrations.")
        return view(request, *args, **kwargs)

    return wrapped


# --- webhook receivers -----------------------------------------------------------------------


def _request_uri(request) -> str:
    """The URI the CRM called: behind a proxy, CRM_WEBHOOK_BASE_URL says the public address."""
    base = getattr(settings, "CRM_WEBHOOK_BASE_URL", "")
    return base.rstrip("/") + request.get_full_path() if base else request.build_absolute_uri()


def _connection_or_404(kind: str) -> CrmConnection | JsonResponse:
    connection = services.connection_for_webhook(kind)
    if connection is None:
        return JsonResponse({"error": f"No active {CrmKind(kind).label} connection."}, status=404)
    return connection


def _receive(request, kind: str):
    """One receiver for every CRM: its adapter proves the sender and answers in its protocol."""
    connection = _connection_or_404(kind)
    if isinstance(connection, JsonResponse):
        return connection
    adapter = adapter_for(kind)
    incoming = IncomingRequest(
        method=request.method, uri=_request_uri(request), body=request.body, headers=request.headers,
        query=request.GET,
    )  # fmt: skip
    try:
        stored = services.webhook_verify_and_receive(connection=connection, request=incoming)
    except services.WebhookRejected as exc:
        return adapter.refused(exc)
    return adapter.accepted(stored)


def _receiver(kind: str):
    @csrf_exempt
    @login_not_required
    @require_POST
    def receive(request):
        return _receive(request, kind)

    receive.__name__ = f"{kind}_webhook"
    return receive


hubspot_webhook = _receiver(CrmKind.HUBSPOT)
pipedrive_webhook = _receiver(CrmKind.PIPEDRIVE)
salesforce_webhook = _receiver(CrmKind.SALESFORCE)


# --- the rep's "needs a reason" queue -------------------------------------------------------


@require_safe
def needs_reason_list(request):
    deals = selectors.deals_needing_reason(user=request.user)
    return render(request, "crm/needs_reason.html", {"deals": deals})


@require_http_methods(["GET", "POST"])
def give_reason(request, pk: int):
    deal = deal_get_for_user(user=request.user, pk=pk)
    if not deal.needs_reason:
        messages.info(request, f"“{deal}” is not waiting for a reason.")
        return redirect("deals:detail", pk=deal.pk)
    outcome = DealStatus.WON if deal.status == DealStatus.WON else DealStatus.LOST
    form = CloseDealForm(request.POST if request.method == "POST" else None, outcome=outcome)
    crm_text = selectors.crm_reason_text(deal=deal)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            deal_give_reason(
                deal=deal,
                reason=data["reason"],
                actor=request.user,
                competitor=data["competitor"],
                note=data["note"],
                secondary_reasons=list(data["secondary_reasons"]),
                revisit_on=data.get("revisit_on"),
            )
        except DealError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"“{deal}” now has its reason: {data['reason'].label}.")
            return redirect("crm:needs-reason")
    return render(
        request,
        "crm/give_reason.html",
        {"deal": deal, "form": form, "crm_text": crm_text, "outcome": outcome},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def sync_retry(request, pk: int):
    sync = get_object_or_404(DealSync, pk=pk)
    deal = deal_get_for_user(user=request.user, pk=sync.deal_id)
    services.deal_sync_retry(sync=sync)
    messages.info(request, f"Sending “{deal}” to {sync.get_kind_display()} again.")
    return redirect("deals:detail", pk=deal.pk)


@require_POST
def owner_sync_retry(request, pk: int):
    sync = get_object_or_404(DealOwnerSync, pk=pk)
    deal = deal_get_for_user(user=request.user, pk=sync.deal_id)
    owner_sync.deal_owner_sync_retry(sync=sync)
    messages.info(request, f"Sending the owner of “{deal}” to {sync.get_kind_display()} again.")
    return redirect("deals:detail", pk=deal.pk)


# --- admin pages ------------------------------------------------------------------------------


@admin_required
@require_safe
def integrations(request):
    base = getattr(settings, "CRM_WEBHOOK_BASE_URL", "") or request.build_absolute_uri("/")
    context = selectors.integrations_overview(base_url=base)
    return render(request, "crm/integrations.html", context)


@admin_required
@require_POST
def handoffs_publish(request, kind: str):
    """Publish the waiting hand-offs of one kind again now (e.g. after the broker came back)."""
    if kind not in outbox_kinds.KINDS:
        raise Http404("No such kind of hand-off.")
    count = handoffs_publish_now(kind=kind)
    label = outbox_kinds.get(kind).label
    messages.success(request, f"{label}: {count} message{'s' if count != 1 else ''} sent again.")
    return redirect("crm:integrations")


@admin_required
@require_http_methods(["GET", "POST"])
def connection_edit(request, kind: str):
    if kind not in CrmKind.values:
        raise PermissionDenied("Unknown CRM.")
    connection = CrmConnection.objects.filter(kind=kind).first()
    if connection is None:
        connection = CrmConnection(kind=kind, **services.CONNECTION_DEFAULTS[kind])
    form = ConnectionForm(request.POST if request.method == "POST" else None, instance=connection)
    if request.method == "POST" and form.is_valid():
        try:
            services.connection_update(kind=kind, actor=request.user, **form.values())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{connection} connection saved.")
            return redirect("crm:integrations")
    return render(
        request,
        "crm/connection_form.html",
        {
            "form": form,
            "connection": connection,
            "sync": sync_latest(kind=kind) if connection.pk else None,
            "sync_form": SyncStartForm(),
            "changes": selectors.connection_changes(kind=kind) if connection.pk else [],
        },
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_safe
def event_list(request):
    status = request.GET.get("status", "problems")
    events = selectors.webhook_events(status=status)
    return render(
        request,
        "crm/events.html",
        {"events": events, "status": status, "statuses": WebhookEvent.Status.choices},
    )


@admin_required
@require_safe
def event_detail(request, pk: int):
    event = get_object_or_404(WebhookEvent.objects.select_related("deal"), pk=pk)
    return render(request, "crm/event_detail.html", {"event": event})


@admin_required
@require_POST
def reconcile_now(request, kind: str):
    connection = get_object_or_404(CrmConnection, kind=kind, active=True)
    reconcile.reconcile_request(connection=connection)
    messages.success(request, f"Reconciliation of {connection} queued; this page shows it when done.")
    return redirect("crm:integrations")


@admin_required
@require_POST
def event_replay(request, pk: int):
    event = get_object_or_404(WebhookEvent, pk=pk)
    try:
        services.webhook_event_replay(event=event)
    except DealError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Event {event.dedupe_key} queued again.")
    return redirect("crm:events")


@admin_required
@require_http_methods(["GET", "POST"])
def mapping_list(request):
    form = ReasonMappingForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        mapping = form.save(commit=False)
        mapping.crm_value = services.normalise_reason_text(mapping.crm_value)
        mapping.created_by = request.user
        mapping.save()
        messages.success(request, f"“{mapping.crm_value}” now maps to {mapping.reason}.")
        return redirect("crm:mappings")
    return render(
        request,
        "crm/mappings.html",
        {"form": form, "mappings": selectors.reason_mappings()},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_safe
def unmapped_list(request):
    return render(request, "crm/unmapped.html", {"queue": selectors.unmapped_reasons()})


@admin_required
@require_http_methods(["GET", "POST"])
def unmapped_classify(request, pk: int):
    unmapped = get_object_or_404(UnmappedReason, pk=pk, mapping__isnull=True)
    form = ClassifyForm(request.POST if request.method == "POST" else None, outcome=unmapped.outcome)
    if request.method == "POST" and form.is_valid():
        try:
            given = mapping.unmapped_reason_classify(
                unmapped=unmapped,
                reason=form.cleaned_data["reason"],
                competitor=form.cleaned_data["competitor"],
                actor=request.user,
            )
        except DealError as exc:
            form.add_error("reason", exc.message)
        else:
            messages.success(
                request,
                f"“{unmapped.example}” now maps to {form.cleaned_data['reason']}; "
                f"{given} waiting deal{'s' if given != 1 else ''} got it.",
            )
            return redirect("crm:unmapped")
    return render(
        request,
        "crm/classify.html",
        {"form": form, "unmapped": unmapped},
        status=400 if request.method == "POST" else 200,
    )


# --- CSV import -------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def import_new(request):
    form = ImportUploadForm(request.POST if request.method == "POST" else None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = imports.import_job_create(
            kind=form.cleaned_data["kind"],
            filename=form.cleaned_data["file"].name,
            content=form.cleaned_data["text"],
            encoding=form.cleaned_data["encoding"],
            actor=request.user,
        )
        return redirect("crm:import-map", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by").defer("content")[:20]
    return render(
        request,
        "crm/import_new.html",
        {"form": form, "jobs": jobs},
        status=400 if request.method == "POST" else 200,
    )


def _mapping_job(pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.defer("content"), pk=pk)


@admin_required
@require_http_methods(["GET", "POST"])
def import_map(request, pk: int):
    """Step 2: which column holds what (the CRM's preset chose), with a preview of the first rows."""
    job = _mapping_job(pk)
    if job.status != ImportJob.Status.MAPPING:
        return redirect("crm:import-detail", pk=job.pk)
    preview = import_preview(job=job)
    form = ImportMappingForm(
        request.POST if request.method == "POST" else None, headers=preview.header, kind=job.kind
    )
    if request.method == "POST" and form.is_valid():
        column_map = form.column_map()
        if import_review_scan(job=job, column_map=column_map).empty:  # kept for the review page
            imports.import_job_start(job=job, column_map=column_map)
            return redirect("crm:import-detail", pk=job.pk)
        return redirect("crm:import-review", pk=job.pk)
    return render(
        request,
        "crm/import_map.html",
        {"form": form, "job": job, "preview": preview},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def import_review_page(request, pk: int):
    """Step 3: map stage values we do not know, and confirm rows that look like existing deals."""
    job = _mapping_job(pk)
    if job.status != ImportJob.Status.MAPPING:
        return redirect("crm:import-detail", pk=job.pk)
    if not job.column_map:
        return redirect("crm:import-map", pk=job.pk)
    review = import_review(job=job, column_map=job.column_map)
    form = ImportReviewForm(request.POST if request.method == "POST" else None, review=review)
    if request.method == "POST" and form.is_valid():
        imports.import_job_start(
            job=job, column_map=job.column_map, stage_map=form.stage_map(), links=form.links()
        )
        return redirect("crm:import-detail", pk=job.pk)
    return render(
        request,
        "crm/import_review.html",
        {"form": form, "job": job, "review": review},
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_safe
def import_detail(request, pk: int):
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    errors = job.row_errors.all()[:500]
    template = "crm/_import_progress.html" if request.headers.get("HX-Request") else "crm/import_detail.html"
    return render(request, template, {"job": job, "errors": errors})


@admin_required
@require_safe
def import_errors_csv(request, pk: int):
    """The import's refused rows and warnings, as a spreadsheet opens them (UTF-8 with a BOM;
    a cell that a spreadsheet would run as a formula is quoted as text)."""
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-problems.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(["Row", "Kind", "Field", "Problem", "Value"])
    for error in job.row_errors.all().iterator():
        cells = [error.field, error.problem, error.value]
        safe = ["'" + cell if cell[:1] in ("=", "+", "-", "@") else cell for cell in cells]
        writer.writerow([error.row, "warning" if error.warning else "error", *safe])
    return response
