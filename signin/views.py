"""The admins' sign-in settings page: single sign-on, password sign-in, SCIM token, second factor."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from signin import config as signin_config
from signin.forms import SigninForm, SigninSettingsForm
from signin.models import SigninChange
from signin.services import (
    SigninSettingsError,
    password_access_count,
    scim_token_issue,
    scim_token_revoke,
    signin_settings_update,
)


class SigninLoginView(LoginView):
    """Django's sign-in page, with "Sign in with …" when single sign-on is set up."""

    form_class = SigninForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        config = signin_config.current()
        context["sso"] = config if config.sso_ready else None
        return context


def admin_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_revops_admin:
            raise PermissionDenied("Only admins (RevOps) manage sign-in.")
        return view(request, *args, **kwargs)

    return wrapped


FIELDS = ("sso_enabled", "sso_name", "issuer", "client_id", "allowed_domains", "default_role")
FIELDS += ("password_signin", "require_totp_for_admins", "trust_email_without_verified_claim")


@admin_required
def signin_settings(request):
    row = signin_config.settings_row()
    config = signin_config.current()
    initial = {name: getattr(row, name) for name in FIELDS}
    initial["allowed_domains"] = ", ".join(row.allowed_domains)
    initial["break_glass"] = list(row.break_glass.all())
    form = SigninSettingsForm(request.POST or None, initial=initial, from_environment=config.from_environment)
    if config.password_signin or not config.sso_ready:
        # Said before saving: what turning passwords off ends at once.
        ending = password_access_count(keep_user_ids=config.break_glass_ids)
        form.fields["password_signin"].help_text = (
            f"Turning this off ends at once {ending.sessions} password session(s) and revokes "
            f"{ending.tokens} API token(s) made with a password, of everyone but the break-glass "
            "admins saved now; single sign-on sessions and tokens go on."
        )
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in FIELDS if not form.fields[name].disabled}
        if not form.fields["client_secret"].disabled:
            values["client_secret"] = form.cleaned_data["client_secret"]
            if values.get("sso_enabled") and not (values["client_secret"] or row.client_secret):
                form.add_error("client_secret", "Needed to offer single sign-on.")
        if not form.errors:
            try:
                signin_settings_update(
                    actor=request.user, values=values, break_glass=list(form.cleaned_data["break_glass"])
                )
            except SigninSettingsError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, "Sign-in settings saved.")
                return redirect("signin:settings")
    context = {
        "form": form,
        "config": config,
        "row": row,
        "callback_url": request.build_absolute_uri("/signin/sso/callback/"),
        "scim_url": request.build_absolute_uri("/scim/v2/"),
        "changes": SigninChange.objects.select_related("actor")[:20],
    }
    return render(request, "signin/settings.html", context, status=400 if form.errors else 200)


@require_POST
@admin_required
def scim_token_new(request):
    token = scim_token_issue(actor=request.user)
    return render(request, "signin/scim_token.html", {"token": token})


@require_POST
@admin_required
def scim_token_delete(request):
    scim_token_revoke(actor=request.user)
    messages.success(request, "The SCIM token is revoked: provisioning stops until you issue a new one.")
    return redirect("signin:settings")
