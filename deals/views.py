"""The rep's pages: deal list, deal page, close forms and reopen."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from deals import services
from deals.close_reads import close_reads
from deals.forms import CloseDealForm, CrmLinkForm, DealFilterForm, ReopenForm
from deals.models import DealStatus
from deals.selectors import (
    DEAL_PAGE_RELATED,
    DealFilters,
    deal_contact_links,
    deal_get_for_user,
    deal_history,
    deal_list,
    deal_list_filter_options,
)

CLOSE_SERVICES = {
    DealStatus.LOST: services.deal_mark_lost,
    DealStatus.WON: services.deal_mark_won,
    DealStatus.NO_DECISION: services.deal_mark_no_decision,
}
CLOSE_TITLES = {
    DealStatus.LOST: "Mark lost",
    DealStatus.WON: "Mark won",
    DealStatus.NO_DECISION: "No decision",
}


@require_safe
def deal_list_view(request):
    options = deal_list_filter_options(user=request.user)
    form = DealFilterForm(request.GET or None, options=options)
    filters = form.filters() if request.GET else DealFilters()
    page = deal_list(
        user=request.user,
        filters=filters,
        cursor=request.GET.get("cursor", ""),
        page_size=settings.DEAL_LIST_PAGE_SIZE,
    )
    query = request.GET.copy()
    query.pop("cursor", None)

    def link(cursor: str | None) -> str | None:
        if cursor is None:
            return None
        params = query.copy()
        if cursor:
            params["cursor"] = cursor
        encoded = params.urlencode()
        return f"?{encoded}" if encoded else "?"

    return render(
        request,
        "deals/list.html",
        {
            "form": form,
            "page": page,
            "first_url": None if page.is_first else link(""),
            "prev_url": link(page.prev_cursor),
            "next_url": link(page.next_cursor),
            "last_url": None if page.is_last else link("last"),
        },
    )


def deal_detail_view(request, pk: int):
    deal = deal_get_for_user(user=request.user, pk=pk)  # first: a stranger gets 404 whatever the method
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return _detail(request, deal)


def _detail(request, deal, *, link_form: CrmLinkForm | None = None, contact_form=None, status: int = 200):
    from deals.contact_views import DealContactForm

    closures, events = deal_history(deal=deal)
    if link_form is None and request.user.is_revops_admin:
        link_form = CrmLinkForm(initial={field: getattr(deal, field) for field in services.CRM_ID_FIELDS})
    links = deal_contact_links(deal=deal)
    context = {
        "deal": deal,
        "closures": closures,
        "events": events,
        "link_form": link_form,
        "contact_links": links,
        "contact_form": contact_form or DealContactForm(),
        "contact_form_open": contact_form is not None,
    }
    return render(request, "deals/detail.html", context, status=status)


def deal_link_crm_view(request, pk: int):
    """Admins link a deal to its CRM records; anyone else gets 403 (or 404 for a deal they cannot see)."""
    deal = deal_get_for_user(user=request.user, pk=pk)  # first: a stranger learns nothing, not even 405
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.is_revops_admin:
        raise PermissionDenied("Only admins link deals to CRM records.")
    form = CrmLinkForm(request.POST)
    if form.is_valid():
        try:
            services.deal_link_crm(deal=deal, actor=request.user, links=form.cleaned_data)
        except services.DealError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"CRM links of “{deal}” saved.")
            return redirect("deals:detail", pk=deal.pk)
    return _detail(request, deal, link_form=form, status=400)


@require_http_methods(["GET", "POST"])
def deal_close_view(request, pk: int, outcome: str):
    if request.method == "POST":
        # The deal with its pipeline's rules and the rows the form names, read together; the
        # page's other rows load if it is drawn again.
        reads = close_reads(user=request.user, pk=pk, data=request.POST)
        deal, known = reads.deal, reads.known
    else:
        deal, known = deal_get_for_user(user=request.user, pk=pk, related=DEAL_PAGE_RELATED), None
    if not deal.is_open:
        messages.info(request, f"“{deal}” is already closed; reopen it first to close it again.")
        return redirect("deals:detail", pk=deal.pk)
    form = CloseDealForm(request.POST or None, outcome=outcome, known=known)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        kwargs = {
            "deal": deal,
            "reason": data["reason"],
            "actor": request.user,
            "competitor": data["competitor"],
            "note": data["note"],
            "secondary_reasons": list(data["secondary_reasons"]),
        }
        if "revisit_on" in form.fields:
            kwargs["revisit_on"] = data["revisit_on"]
        kwargs.update(form.choice_kwargs())
        try:
            CLOSE_SERVICES[outcome](**kwargs)
        except services.DealAlreadyClosed as exc:
            messages.error(request, exc.message)
            return redirect("deals:detail", pk=deal.pk)
        except services.DealError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            label = dict(DealStatus.choices)[outcome].lower()
            messages.success(request, f"“{deal}” marked {label}.")
            return redirect("deals:detail", pk=deal.pk)
    return render(
        request,
        "deals/close.html",
        {"deal": deal, "form": form, "title": CLOSE_TITLES[outcome], "outcome": outcome},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
def deal_reopen_view(request, pk: int):
    deal = deal_get_for_user(user=request.user, pk=pk)
    if deal.is_open:
        messages.info(request, f"“{deal}” is already open.")
        return redirect("deals:detail", pk=deal.pk)
    if request.method == "POST":
        form = ReopenForm(request.POST, deal=deal)
        if form.is_valid():
            try:
                services.deal_reopen(deal=deal, actor=request.user, stage=form.cleaned_data["stage"])
            except services.DealError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"“{deal}” is open again, in stage {deal.stage}.")
                return redirect("deals:detail", pk=deal.pk)
    # The standing closure is read only for the page drawn (a valid POST's service locks it).
    standing = deal.closures.filter(reopened_at__isnull=True).select_related("stage_at_close").first()
    if request.method != "POST":
        initial = {"stage": standing.stage_at_close_id if standing else deal.stage_id}
        form = ReopenForm(deal=deal, initial=initial)
    return render(
        request,
        "deals/reopen.html",
        {"deal": deal, "form": form, "closure": standing},
        status=400 if request.method == "POST" else 200,
    )
