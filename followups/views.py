"""Follow-up pages: a rep's own list, a manager's team view, actions, and the contact's opt-out."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from followups import selectors, services
from followups.forms import RescheduleForm
from teams.models import Membership


def _back(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("followups:mine")


@require_safe
def my_followups_view(request):
    mine = selectors.my_followups(user=request.user)
    return render(request, "followups/mine.html", {"mine": mine})


def _manages_a_team(user) -> bool:
    return user.is_revops_admin or Membership.objects.filter(user=user, role=Membership.Role.MANAGER).exists()


@require_safe
def team_followups_view(request):
    if not _manages_a_team(request.user):
        raise PermissionDenied("Only managers see their team's follow-ups.")
    rows, overdue = selectors.team_followups(user=request.user)
    return render(request, "followups/team.html", {"rows": rows, "overdue": overdue})


def _act(request, pk: int, action, done_message: str, **kwargs):
    followup = selectors.followup_get_for_user(user=request.user, pk=pk)
    try:
        action(followup=followup, actor=request.user, **kwargs)
    except services.FollowUpError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done_message.format(deal=followup.deal))
    return _back(request)


@require_POST
def followup_done_view(request, pk: int):
    return _act(request, pk, services.followup_complete, "Done: follow-up on “{deal}”.")


@require_POST
def followup_skip_view(request, pk: int):
    return _act(request, pk, services.followup_skip, "Skipped: follow-up on “{deal}”.")


@require_POST
def followup_snooze_view(request, pk: int):
    days = {"1": 1, "7": 7}.get(request.POST.get("days", ""))
    if days is None:
        selectors.followup_get_for_user(user=request.user, pk=pk)  # 404 before saying what is wrong
        messages.error(request, "Snooze for 1 day or 1 week.")
        return _back(request)
    label = "a day" if days == 1 else "a week"
    return _act(
        request, pk, services.followup_snooze, f"Snoozed for {label}: follow-up on “{{deal}}”.", days=days
    )


@require_http_methods(["GET", "POST"])
def followup_reschedule_view(request, pk: int):
    followup = selectors.followup_get_for_user(user=request.user, pk=pk)
    form = RescheduleForm(request.POST or None, initial={"due_on": followup.due_at.date()})
    if request.method == "POST" and form.is_valid():
        try:
            services.followup_reschedule(
                followup=followup, actor=request.user, due_on=form.cleaned_data["due_on"]
            )
        except services.FollowUpError as exc:
            form.add_error("due_on" if exc.field == "due_on" else None, exc.message)
        else:
            messages.success(
                request,
                f"Rescheduled to {form.cleaned_data['due_on']:%Y-%m-%d}: follow-up on “{followup.deal}”.",
            )
            return redirect("followups:mine")
    return render(
        request,
        "followups/reschedule.html",
        {"followup": followup, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_not_required
@csrf_exempt  # the signed token is the credential; mail clients' one-click POST carries no CSRF token
@require_http_methods(["GET", "POST"])
def opt_out_view(request, token: str):
    email = services.opt_out_email_from_token(token)
    if email is None:
        return render(request, "followups/opt_out.html", {"invalid": True}, status=404)
    if request.method == "POST":
        services.contact_opt_out(email=email)
        return render(request, "followups/opt_out.html", {"email": email, "done": True})
    return render(request, "followups/opt_out.html", {"email": email})
