"""The taxonomy's history, and its import and export as JSON or CSV."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from reasons import services
from reasons.forms import HistoryFilterForm, ImportForm
from reasons.selectors import (
    taxonomy_changes,
)
from reasons.transfer import (
    TaxonomyImportError,
    parse_taxonomy_file,
    taxonomy_export_csv,
    taxonomy_export_json,
)
from reasons.views.common import (
    HISTORY_PAGE_SIZE,
    IMPORT_MAX_BYTES,
    admin_required,
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
