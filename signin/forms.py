from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from signin import config as signin_config
from signin.discovery import url_allowed
from teams.models import User


class SigninForm(AuthenticationForm):
    """The sign-in form, saying plainly when passwords are off (the same answer for every name but
    the break-glass admins', so it tells nobody who has an account)."""

    def clean(self):
        config = signin_config.current()
        if not config.password_signin and config.sso_ready:
            username = self.cleaned_data.get("username") or ""
            user = User.objects.filter(username__iexact=username).first()
            if user is None or user.pk not in config.break_glass_ids:
                name = config.sso_name or "single sign-on"
                raise ValidationError(
                    f"Password sign-in is turned off here: use “Sign in with {name}”.",
                    code="password_signin_off",
                )
        return super().clean()


def _domains(text: str) -> list[str]:
    domains = []
    for part in text.replace("\n", ",").split(","):
        domain = part.strip().lower().lstrip("@")
        if not domain:
            continue
        if "." not in domain or " " in domain or "@" in domain:
            raise ValidationError(f"“{part.strip()}” is not an e-mail domain (like example.com).")
        domains.append(domain)
    return sorted(set(domains))


class SigninSettingsForm(forms.Form):
    sso_enabled = forms.BooleanField(required=False, label="Offer single sign-on (OpenID Connect)")
    sso_name = forms.CharField(
        required=False,
        max_length=60,
        label="Provider name",
        help_text="Shown as “Sign in with …”, e.g. Okta.",
    )
    issuer = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=300,
        label="Issuer URL",
        help_text="e.g. https://example.okta.com or https://login.microsoftonline.com/{tenant id}/v2.0",
    )
    client_id = forms.CharField(required=False, max_length=200, label="Client ID")
    client_secret = forms.CharField(
        required=False,
        max_length=400,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave blank to keep the one saved.",
    )
    allowed_domains = forms.CharField(
        required=False,
        label="Allowed e-mail domains",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Comma-separated. Only people with a verified address in these domains sign in with "
        "single sign-on; new ones are created with the default role and no team.",
    )
    default_role = forms.ChoiceField(
        choices=User.Role.choices, label="Role of people created at first sign-in"
    )
    password_signin = forms.BooleanField(required=False, label="Allow password sign-in for everyone")
    break_glass = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Break-glass admins",
        help_text="These admins may always sign in with a password (and a second factor), even with "
        "password sign-in off.",
        widget=forms.CheckboxSelectMultiple,
    )
    require_totp_for_admins = forms.BooleanField(
        required=False,
        label="Require a second factor (authenticator app) for admins who sign in with a password",
    )

    trust_email_without_verified_claim = forms.BooleanField(
        required=False,
        label="Trust the provider's e-mail when it sends no “email_verified” (Microsoft Entra ID)",
        help_text="Off: an e-mail the provider does not say is verified is refused. Never trusts an "
        "e-mail the provider says is not verified.",
    )

    def __init__(self, *args, from_environment: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["break_glass"].queryset = User.objects.filter(
            is_active=True, role=User.Role.ADMIN
        ).order_by("username")
        if from_environment:
            for name in ("sso_enabled", "sso_name", "issuer", "client_id", "client_secret"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Set by the server's environment (OIDC_*)."

    def clean_allowed_domains(self):
        return _domains(self.cleaned_data["allowed_domains"])

    def clean_issuer(self):
        issuer = self.cleaned_data["issuer"].strip()
        if issuer and not url_allowed(issuer):
            raise ValidationError("The issuer must be an https address.")
        return issuer

    def clean(self):
        data = super().clean()
        if data.get("sso_enabled") and not self.fields["issuer"].disabled:
            for name in ("issuer", "client_id"):
                if not data.get(name):
                    self.add_error(name, "Needed to offer single sign-on.")
        return data
