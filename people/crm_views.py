"""Import people from the CRM (/people/crm/): admins only, like every people page. The CRM is read
on each visit and again on the POST (what is mapped and invited is what the CRM says now, never
what the form carried back); a CRM that cannot be read gives a message, never a 500."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from crm.models import CrmConnection, CrmKind
from crm.owners import CrmRefused, CrmUnavailable, crm_owners_read
from people.crm_import import crm_people_import, owner_rows
from people.errors import PeopleError
from people.views import admin_required
from teams.models import Team, User


class CrmImportForm(forms.Form):
    invite = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.REP, label="Role of those invited")
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, label="Their team",
        help_text="A rep sells in one team.",
    )  # fmt: skip

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invite"].choices = [(r.owner.crm_id, r.owner.email) for r in rows if r.invitable]
        if not self.is_bound:
            self.initial["invite"] = [r.owner.crm_id for r in rows if r.suggested]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("invite") and cleaned.get("role") == User.Role.REP and not cleaned.get("team"):
            self.add_error("team", "A rep sells in a team: choose the team of those invited.")
        return cleaned


def _connections():
    return CrmConnection.objects.filter(active=True).exclude(api_token="").order_by("kind")


@admin_required
@require_safe
def crm_choose_view(request):
    connections = list(_connections())
    if len(connections) == 1:
        return redirect("people:crm-import", kind=connections[0].kind)
    return render(request, "people/crm_choose.html", {"connections": connections, "active": "crm"})


@admin_required
@require_http_methods(["GET", "POST"])
def crm_import_view(request, kind: str):
    if kind not in CrmKind.values:
        raise Http404("No such CRM.")
    connection = _connections().filter(kind=kind).first()
    if connection is None:
        raise Http404("That CRM is not connected (or has no API token).")
    context = {"connection": connection, "active": "crm", "rows": [], "form": None, "error": ""}
    try:
        owners = crm_owners_read(connection=connection)
    except (CrmUnavailable, CrmRefused) as exc:
        context["error"] = f"{connection} could not be read: {exc}"
        return render(request, "people/crm_import.html", context, status=502)
    rows = owner_rows(connection=connection, owners=owners)
    form = CrmImportForm(request.POST if request.method == "POST" else None, rows=rows)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = crm_people_import(
                connection=connection, invite_ids=data["invite"], role=data["role"], team=data["team"],
                actor=request.user, owners=owners,
            )  # fmt: skip
        except PeopleError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"{connection}: {len(result.mapped)} owner id(s) added to the owner map, "
                f"{result.kept} already there, {len(result.invited)} person(s) invited.",
            )
            for owner, why in result.refused:
                messages.warning(request, f"{owner.email or owner.name} not invited: {why}")
            return redirect("people:crm-import", kind=kind)
    context.update(
        rows=rows, form=form, matched=sum(1 for r in rows if r.matched),
        invitable=sum(1 for r in rows if r.invitable),
    )  # fmt: skip
    status = 400 if request.method == "POST" else 200
    return render(request, "people/crm_import.html", context, status=status)
