"""The admins' people pages (/people/). Every page answers 403 to reps and managers; every
change is one call to people.services or people.offboarding, which write the history row."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from people import offboarding, selectors, services, team_services
from people.errors import PeopleError
from people.forms import DeactivateForm, InviteForm, NameForm, RoleForm, TeamNameForm, TeamsForm, UploadForm
from people.upload import people_upload
from teams.models import Team, User

UPLOAD_MAX_BYTES = 2 * 1024 * 1024


def admin_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) can manage people.")
        return view(request, *args, **kwargs)

    return wrapper


def _person(pk: int) -> User:
    return get_object_or_404(User.objects.exclude(username__startswith="integration-"), pk=pk)


def _refused(form, exc: PeopleError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@admin_required
@require_safe
def people_list_view(request):
    status = request.GET.get("status", "active")
    status = status if status in selectors.STATUSES else "active"
    q = request.GET.get("q", "").strip()[:100]
    people = list(selectors.people_list(status=status, q=q))
    return render(
        request,
        "people/list.html",
        {
            "people": people, "status": status, "statuses": selectors.STATUSES, "q": q,
            "counts": selectors.people_counts(), "active": "people",
        },
    )  # fmt: skip


@admin_required
@require_http_methods(["GET", "POST"])
def invite_view(request):
    form = InviteForm(request.POST or None, initial={"team": request.GET.get("team")})
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.user_invite(actor=request.user, **form.cleaned_data)
        except PeopleError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"Invite sent to {invitation.email}.")
            return redirect("people:detail", pk=invitation.user_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "people/invite.html", {"form": form, "active": "invite"}, status=status)


@admin_required
@require_http_methods(["GET", "POST"])
def upload_view(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    results = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > UPLOAD_MAX_BYTES:
            form.add_error("file", "The file is over 2 MB; split it.")
        else:
            try:
                results = people_upload(content=upload.read(), actor=request.user)
            except PeopleError as exc:
                _refused(form, exc)
    invited = sum(1 for row in results or [] if not row.error)
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "people/upload.html",
        {"form": form, "results": results, "invited": invited, "active": "upload"},
        status=status,
    )


@admin_required
@require_safe
def history_view(request):
    return render(
        request, "people/history.html", {"events": selectors.person_history(limit=200), "active": "history"}
    )


@admin_required
@require_safe
def teams_view(request):
    return _teams_page(request)


def _teams_page(request, form=None, status=200):
    context = {
        "teams": selectors.teams_overview(),
        "form": form or TeamNameForm(auto_id="new_team_%s"),
        "active": "teams",
    }
    return render(request, "people/teams.html", context, status=status)


@admin_required
@require_POST
def team_create_view(request):
    form = TeamNameForm(request.POST, auto_id="new_team_%s")
    if form.is_valid():
        try:
            team = team_services.team_create(name=form.cleaned_data["name"], actor=request.user)
        except PeopleError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"The team {team.name} is made; invite people into it or add them.")
            return redirect("people:teams")
    return _teams_page(request, form=form, status=400)


@admin_required
@require_http_methods(["GET", "POST"])
def team_view(request, pk: int):
    team = get_object_or_404(Team, pk=pk)
    form = TeamNameForm(request.POST or None, initial={"name": team.name})
    if request.method == "POST" and form.is_valid():
        try:
            team = team_services.team_rename(team=team, name=form.cleaned_data["name"], actor=request.user)
        except PeopleError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"The team is now named {team.name}.")
            return redirect("people:teams")
    context = {"team": team, "form": form, "changes": selectors.team_history(team), "active": "teams"}
    return render(request, "people/team.html", context, status=400 if form.errors else 200)


def _detail(request, person: User, *, status: int = 200, **forms):
    teams = list(Team.objects.filter(memberships__user=person).order_by("name"))
    context = {
        "person": person,
        "invitation": selectors.person_pending_invitation(person),
        "events": selectors.person_history(person=person, limit=50),
        "role_form": forms.get("role_form") or RoleForm(initial={"role": person.role}, auto_id="role_%s"),
        "teams_form": forms.get("teams_form") or TeamsForm(initial={"teams": teams}, auto_id="teams_%s"),
        "name_form": forms.get("name_form")
        or NameForm(initial={"name": person.get_full_name()}, auto_id="name_%s"),
        "teams": teams,
        "active": "people",
    }
    return render(request, "people/detail.html", context, status=status)


@admin_required
@require_safe
def person_view(request, pk: int):
    return _detail(request, _person(pk))


def _change(request, pk: int, form_class, key: str, apply, done: str):
    person = _person(pk)
    form = form_class(request.POST, auto_id=f"{key.split('_')[0]}_%s")
    if form.is_valid():
        try:
            apply(person, form.cleaned_data)
        except PeopleError as exc:
            _refused(form, exc)
        else:
            messages.success(request, done)
            return redirect("people:detail", pk=person.pk)
    return _detail(request, person, status=400, **{key: form})


@admin_required
@require_POST
def role_view(request, pk: int):
    def apply(person, data):
        services.user_set_role(user=person, role=data["role"], actor=request.user)

    return _change(request, pk, RoleForm, "role_form", apply, "Role saved.")


@admin_required
@require_POST
def teams_change_view(request, pk: int):
    def apply(person, data):
        services.user_set_teams(user=person, teams=list(data["teams"]), actor=request.user)

    return _change(request, pk, TeamsForm, "teams_form", apply, "Teams saved.")


@admin_required
@require_POST
def name_view(request, pk: int):
    def apply(person, data):
        services.user_update_details(user=person, name=data["name"], actor=request.user)

    return _change(request, pk, NameForm, "name_form", apply, "Name saved.")


@admin_required
@require_POST
def invite_resend_view(request, pk: int):
    person = _person(pk)
    invitation = selectors.person_pending_invitation(person)
    if invitation is None:
        messages.error(request, "There is no pending invite to send again.")
    else:
        services.invitation_resend(invitation=invitation, actor=request.user)
        messages.success(request, f"Invite sent again to {invitation.email}; earlier links no longer work.")
    return redirect("people:detail", pk=person.pk)


@admin_required
@require_POST
def invite_revoke_view(request, pk: int):
    person = _person(pk)
    invitation = selectors.person_pending_invitation(person)
    if invitation is None:
        messages.error(request, "There is no pending invite to revoke.")
    else:
        services.invitation_revoke(invitation=invitation, actor=request.user)
        messages.success(request, f"Invite to {invitation.email} revoked; its link no longer works.")
    return redirect("people:detail", pk=person.pk)


@admin_required
@require_http_methods(["GET", "POST"])
def deactivate_view(request, pk: int):
    person = _person(pk)
    form = DeactivateForm(request.POST or None, person=person)
    if request.method == "POST" and form.is_valid():
        try:
            handover = offboarding.user_deactivate(
                user=person, successor=form.cleaned_data["successor"], actor=request.user
            )
        except PeopleError as exc:
            _refused(form, exc)
        else:
            successor = form.cleaned_data["successor"]
            to = f" to {successor.display_name}" if successor and handover.deals + handover.followups else ""
            messages.success(
                request,
                f"{person.display_name} is deactivated: {handover.deals} deal(s) and {handover.followups} "
                f"follow-up(s) moved{to}; {handover.sessions} session(s) ended and {handover.tokens} API "
                "token(s) revoked.",
            )
            if handover.not_written_back:
                messages.warning(
                    request,
                    f"{handover.crm_note} (map them under People → From the CRM, then send the owner "
                    "again from each deal's page).",
                )
            return redirect("people:detail", pk=person.pk)
    deals = offboarding.deals_to_hand_over(person)
    context = {
        "person": person,
        "form": form,
        "open_deals": deals.filter(status="open").count(),
        "closed_deals": deals.exclude(status="open").count(),
        "followups": offboarding.followups_to_hand_over(person).count(),
        "active": "people",
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "people/deactivate.html", context, status=status)


@admin_required
@require_POST
def reactivate_view(request, pk: int):
    person = _person(pk)
    try:
        offboarding.user_reactivate(user=person, actor=request.user)
    except PeopleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{person.display_name} can sign in again.")
    return redirect("people:detail", pk=person.pk)
