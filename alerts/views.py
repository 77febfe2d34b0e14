"""The admins' alert pages: the rules, a form to make or change one, and each rule's firings and
history. Reps and managers get 403. Each change is one call to alerts.services."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alerts import selectors, services
from alerts.forms import AlertRuleForm
from alerts.models import AlertRule

WORDS = {"weekly": "week", "monthly": "month"}


def admin_required(view):
    """Only admins (RevOps) reach the alert pages; everyone else signed in gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) can set alerts.")
        return view(request, *args, **kwargs)

    return wrapper


@admin_required
@require_safe
def rule_list_view(request):
    return render(
        request,
        "alerts/index.html",
        {"rules": list(selectors.alert_rules()), "firings": selectors.recent_firings()},
    )


def _form_page(request, form, *, title: str, rule: AlertRule | None = None):
    status = 400 if request.method == "POST" else 200
    return render(request, "alerts/form.html", {"form": form, "title": title, "rule": rule}, status=status)


def _apply(form, exc: services.AlertRuleError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@admin_required
@require_http_methods(["GET", "POST"])
def rule_create_view(request):
    form = AlertRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.alert_rule_create(actor=request.user, **form.service_fields())
        except services.AlertRuleError as exc:
            _apply(form, exc)
        else:
            messages.success(
                request, f"Alert “{rule.name}” saved: it is checked for every {WORDS[rule.period]}."
            )
            return redirect("alerts:detail", pk=rule.pk)
    return _form_page(request, form, title="New alert")


@admin_required
@require_safe
def rule_detail_view(request, pk: int):
    rule = get_object_or_404(selectors.alert_rules(), pk=pk)
    return render(
        request,
        "alerts/detail.html",
        {
            "rule": rule,
            "recipients": list(rule.recipients.order_by("first_name", "username")),
            "firings": selectors.rule_firings(rule),
            "events": selectors.rule_history(rule),
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def rule_edit_view(request, pk: int):
    rule = get_object_or_404(AlertRule, pk=pk)
    form = AlertRuleForm(request.POST or None, rule=rule)
    if request.method == "POST" and form.is_valid():
        try:
            services.alert_rule_update(rule=rule, actor=request.user, **form.service_fields())
        except services.AlertRuleError as exc:
            _apply(form, exc)
        else:
            messages.success(request, f"Alert “{rule.name}” changed.")
            return redirect("alerts:detail", pk=rule.pk)
    return _form_page(request, form, title=f"Change “{rule.name}”", rule=rule)


@admin_required
@require_POST
def rule_active_view(request, pk: int):
    rule = get_object_or_404(AlertRule, pk=pk)
    active = request.POST.get("active") == "1"
    services.alert_rule_set_active(rule=rule, actor=request.user, active=active)
    messages.success(request, f"Alert “{rule.name}” {'resumed' if active else 'paused'}.")
    return redirect("alerts:detail", pk=rule.pk)
