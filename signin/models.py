"""How people sign in: the organisation's single sign-on, SCIM provisioning and second-factor rules.

One `SigninSettings` row holds what an admin sets on /signin/settings/ (the environment may fix the
provider instead); `SsoIdentity` ties a user to the provider's subject; `SigninChange` is the
append-only history of every change of those settings.
"""

from django.conf import settings
from django.db import models

from crm.models import SecretField


class SigninSettings(models.Model):
    """The one row (pk=1) of sign-in settings; `signin.config.current()` reads it with the environment."""

    sso_enabled = models.BooleanField(default=False)
    sso_name = models.CharField(
        max_length=60, blank=True, help_text='Shown on the sign-in page: "Sign in with …" (e.g. Okta).'
    )
    issuer = models.URLField(
        max_length=300, blank=True, help_text="The provider's issuer URL (its discovery document's issuer)."
    )
    client_id = models.CharField(max_length=200, blank=True)
    client_secret = SecretField(max_length=400, blank=True)
    allowed_domains = models.JSONField(
        default=list, blank=True, help_text="E-mail domains whose people may sign in with single sign-on."
    )
    default_role = models.CharField(max_length=16, default="rep")
    password_signin = models.BooleanField(
        default=True, help_text="Off: only the break-glass admins may sign in with a password."
    )
    break_glass = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    require_totp_for_admins = models.BooleanField(default=False)
    # Providers that omit `email_verified` (Microsoft Entra ID): trust their e-mail without it.
    # An explicit `email_verified: false` is refused whatever this says.
    trust_email_without_verified_claim = models.BooleanField(default=False)
    # Only a hash of the SCIM bearer token is kept; the token is shown once when issued.
    scim_token_digest = models.CharField(max_length=64, blank=True)
    scim_token_hint = models.CharField(max_length=12, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sign-in settings"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="signin_settings_single_row")]

    def __str__(self) -> str:
        return "Sign-in settings"


class SsoIdentity(models.Model):
    """The provider's subject (`iss`, `sub`) signed in as this user: an e-mail change there keeps the link."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class ScimAccount(models.Model):
    """A user the identity provider provisioned through SCIM, with the provider's own id for them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"SCIM {self.external_id or self.user_id}"


class ScimGroup(models.Model):
    """A team the identity provider manages as a SCIM group."""

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"SCIM group {self.external_id or self.team_id}"


class SigninChange(models.Model):
    """Append-only history: who changed which sign-in setting (or issued a token, or a device), and when."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=40)
    detail = models.JSONField(default=dict, blank=True)

    LABELS = {
        "settings_changed": "changed the settings",
        "sso_user_created": "created at first sign-in",
        "scim_token_issued": "issued a SCIM token",
        "scim_token_revoked": "revoked the SCIM token",
        "totp_added": "added an authenticator",
        "totp_removed": "removed an authenticator",
        "recovery_codes_made": "made recovery codes",
        "scim_deactivated": "deactivated through SCIM",
    }

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

    @property
    def changed(self) -> str:
        """The settings a change touched, in words (never their values: one may be a secret)."""
        return ", ".join(name.replace("_", " ") for name in (self.detail.get("after") or {}))

    @property
    def label(self) -> str:
        return self.LABELS.get(self.action, self.action.replace("_", " "))
