"""Changes to how people sign in: single sign-on users, the settings, the SCIM token. Each writes a
`SigninChange` history row in its transaction."""

import hashlib
import re
import secrets
from hmac import compare_digest
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from closedlost.errors import ServiceError
from signin.config import SigninConfig, settings_row
from signin.config import current as signin_current
from signin.models import SigninChange, SigninSettings, SsoIdentity
from teams.models import User
from teams.services import api_tokens_from_password, api_tokens_revoke

SECRET_FIELDS = {"client_secret"}


class SsoRefused(ServiceError):
    """A single sign-on was refused; `message` says why, in words the person can act on."""


class SigninSettingsError(ServiceError):
    pass


def _verified(claims: dict, config: SigninConfig) -> bool:
    """`email_verified` is true; or absent, and the provider is trusted without it (Entra ID)."""
    if "email_verified" not in claims or claims["email_verified"] is None:
        return config.trust_email_without_verified_claim
    value = claims["email_verified"]
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _free_username(email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email.partition("@")[0])[:120] or "user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


@transaction.atomic
def sso_user_for_claims(*, issuer: str, claims: dict, config: SigninConfig) -> User:
    """The user a checked ID token names: by (issuer, subject), else by e-mail (then linked), else
    created just in time with the default role and no team. Refuses an unverified e-mail, one
    outside the allowed domains, an ambiguous e-mail, and a deactivated account; refusing creates
    nothing."""
    email = str(claims.get("email") or "").strip()
    subject = str(claims["sub"])
    if not email or "@" not in email:
        raise SsoRefused("The provider did not give an e-mail address for you.")
    if not _verified(claims, config):
        raise SsoRefused(f"The provider has not verified the e-mail address {email}.")
    if not config.domain_allowed(email):
        raise SsoRefused(
            f"{email} is not in a domain allowed to sign in here. Ask an admin to allow its domain."
        )
    identity = SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is None:
        # A first sign-in links or creates: one at a time (the settings row is the lock), so the same
        # person signing in from two tabs at once gets one account, not two.
        settings_row()
        SigninSettings.objects.select_for_update().filter(pk=1).first()
        identity = SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        user = identity.user
    else:
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if len(matches) > 1:
            raise SsoRefused(f"Several people here have the e-mail address {email}. Ask an admin.")
        user = matches[0] if matches else None
        if user is None:
            user = User.objects.create_user(
                username=_free_username(email),
                email=email,
                first_name=str(claims.get("given_name") or "")[:150],
                last_name=str(claims.get("family_name") or "")[:150],
                role=config.default_role,
            )
            user.set_unusable_password()
            user.save(update_fields=["password"])
            SigninChange.objects.create(
                actor=None,
                action="sso_user_created",
                detail={"user": user.pk, "email": email, "issuer": issuer},
            )
        identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    if not user.is_active:
        raise SsoRefused("Your account here is deactivated. Ask an admin.")
    SsoIdentity.objects.filter(pk=identity.pk).update(last_login_at=timezone.now())
    return user


def _masked(field: str, value):
    if field in SECRET_FIELDS:
        return "(set)" if value else ""
    return value


PASSWORD_BACKENDS = {"signin.backends.PasswordBackend", "django.contrib.auth.backends.ModelBackend"}


def _password_session_keys(*, keep_user_ids: frozenset[int]) -> list[str]:
    from django.contrib.sessions.models import Session

    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        user_id = data.get("_auth_user_id")
        if user_id is None or data.get("_auth_user_backend") not in PASSWORD_BACKENDS:
            continue
        if int(user_id) not in keep_user_ids:
            keys.append(session.session_key)
    return keys


class PasswordAccess(NamedTuple):
    sessions: int
    tokens: int


def password_access_count(*, keep_user_ids: frozenset[int]) -> PasswordAccess:
    """How many live password sessions and API tokens made with a password turning password
    sign-in off would end (all but `keep_user_ids`'s, the break-glass admins)."""
    return PasswordAccess(
        sessions=len(_password_session_keys(keep_user_ids=keep_user_ids)),
        tokens=api_tokens_from_password(keep_user_ids=keep_user_ids).count(),
    )


def password_access_end(*, keep_user_ids: frozenset[int]) -> PasswordAccess:
    """End every live session signed in with a password (not single sign-on) and revoke every API
    token made with a password, of anyone but `keep_user_ids` (the break-glass admins)."""
    from django.contrib.sessions.models import Session

    keys = _password_session_keys(keep_user_ids=keep_user_ids)
    Session.objects.filter(session_key__in=keys).delete()
    tokens = api_tokens_revoke(tokens=api_tokens_from_password(keep_user_ids=keep_user_ids))
    return PasswordAccess(sessions=len(keys), tokens=tokens)


@transaction.atomic
def signin_settings_update(
    *, actor: User, values: dict, break_glass: list[User] | None = None
) -> SigninSettings:
    """Change the sign-in settings; the history row keeps before and after (secrets only as "(set)").

    A blank client secret keeps the one stored. Turning password sign-in off needs a break-glass
    admin, so the organisation can still get in when its provider is down."""
    row = SigninSettings.objects.select_for_update().filter(pk=1).first() or settings_row()
    was = signin_current()
    passwords_were_allowed = was.password_signin or not was.sso_ready
    if values.get("client_secret") == "":
        values = {k: v for k, v in values.items() if k != "client_secret"}
    before, after = {}, {}
    for field, value in values.items():
        old = getattr(row, field)
        if old != value:
            before[field], after[field] = _masked(field, old), _masked(field, value)
            setattr(row, field, value)
    if break_glass is not None:
        if any(not u.is_active or not u.is_revops_admin or not u.has_usable_password() for u in break_glass):
            raise SigninSettingsError(
                "Break-glass accounts must be active admins with a password.", field="break_glass"
            )
        old_ids = sorted(row.break_glass.values_list("pk", flat=True))
        new_ids = sorted(u.pk for u in break_glass)
        if old_ids != new_ids:
            before["break_glass"], after["break_glass"] = old_ids, new_ids
    if not row.password_signin and not (break_glass if break_glass is not None else row.break_glass.exists()):
        raise SigninSettingsError(
            "Name at least one break-glass admin before turning password sign-in off.", field="break_glass"
        )
    if row.sso_enabled and not row.allowed_domains:
        raise SigninSettingsError("Name the e-mail domains allowed to sign in.", field="allowed_domains")
    row.save()
    if break_glass is not None:
        row.break_glass.set(break_glass)
    if after:
        now = signin_current()
        if passwords_were_allowed and not (now.password_signin or not now.sso_ready):
            # Password sign-in just went off: the password sessions and tokens of all but the
            # break-glass admins end now, not when they next sign in or the token expires.
            ended = password_access_end(keep_user_ids=now.break_glass_ids)
            after["password_sessions_ended"] = ended.sessions
            after["password_tokens_revoked"] = ended.tokens
        SigninChange.objects.create(
            actor=actor, action="settings_changed", detail={"before": before, "after": after}
        )
    return row


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def scim_token_issue(*, actor: User) -> str:
    """A new SCIM bearer token (shown this once; only its hash is kept). The old one stops working."""
    token = "scim_" + secrets.token_urlsafe(32)
    row = SigninSettings.objects.select_for_update().filter(pk=1).first() or settings_row()
    row.scim_token_digest = _digest(token)
    row.scim_token_hint = token[:9]
    row.save(update_fields=["scim_token_digest", "scim_token_hint", "updated_at"])
    SigninChange.objects.create(actor=actor, action="scim_token_issued", detail={"hint": row.scim_token_hint})
    return token


@transaction.atomic
def scim_token_revoke(*, actor: User) -> None:
    SigninSettings.objects.filter(pk=1).update(scim_token_digest="", scim_token_hint="")
    SigninChange.objects.create(actor=actor, action="scim_token_revoked", detail={})


def scim_token_valid(token: str) -> bool:
    digest = SigninSettings.objects.filter(pk=1).values_list("scim_token_digest", flat=True).first()
    return bool(digest) and compare_digest(digest, _digest(token))
