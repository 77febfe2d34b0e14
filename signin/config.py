"""The sign-in settings in force: the environment's OIDC_* values win over the admin page's."""

from dataclasses import dataclass, field

from django.conf import settings

from signin.models import SigninSettings


@dataclass(frozen=True)
class SigninConfig:
    sso_enabled: bool = False
    sso_name: str = ""
    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    allowed_domains: tuple[str, ...] = ()
    default_role: str = "rep"
    password_signin: bool = True
    break_glass_ids: frozenset[int] = field(default_factory=frozenset)
    require_totp_for_admins: bool = False
    trust_email_without_verified_claim: bool = False
    from_environment: bool = False

    @property
    def sso_ready(self) -> bool:
        """Single sign-on is offered: switched on and the provider fully named."""
        return self.sso_enabled and bool(self.issuer and self.client_id and self.client_secret)

    def password_allowed_for(self, user) -> bool:
        """Password sign-in is on, or this user is a break-glass admin (always allowed, so the
        organisation is never locked out when its provider is down)."""
        return self.password_signin or not self.sso_ready or user.pk in self.break_glass_ids

    def domain_allowed(self, email: str) -> bool:
        domain = email.rpartition("@")[2].lower()
        return bool(domain) and domain in self.allowed_domains


def settings_row() -> SigninSettings:
    row, _ = SigninSettings.objects.get_or_create(pk=1)
    return row


def current() -> SigninConfig:
    """What is in force now (one or two queries; read once per sign-in, not per page)."""
    row = SigninSettings.objects.filter(pk=1).first() or SigninSettings(pk=1)
    env_issuer = settings.OIDC_ISSUER
    values = {
        "sso_enabled": row.sso_enabled,
        "sso_name": row.sso_name,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "client_secret": row.client_secret,
    }
    if env_issuer:
        values = {
            "sso_enabled": True,
            "sso_name": settings.OIDC_NAME or row.sso_name,
            "issuer": env_issuer,
            "client_id": settings.OIDC_CLIENT_ID,
            "client_secret": settings.OIDC_CLIENT_SECRET,
        }
    return SigninConfig(
        **values,
        allowed_domains=tuple(d.lower() for d in row.allowed_domains),
        default_role=row.default_role,
        password_signin=row.password_signin,
        break_glass_ids=frozenset()
        if row._state.adding
        else frozenset(row.break_glass.values_list("pk", flat=True)),
        require_totp_for_admins=row.require_totp_for_admins,
        trust_email_without_verified_claim=row.trust_email_without_verified_claim
        or settings.OIDC_TRUST_EMAIL_WITHOUT_VERIFIED_CLAIM,
        from_environment=bool(env_issuer),
    )
