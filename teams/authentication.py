"""`Authorization: Token <token>` against hashed, expiring tokens (django-rest-knox's AuthToken)."""

from datetime import timedelta
from hmac import compare_digest

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed

INVALID = "Invalid token."
USE_GRAIN = timedelta(minutes=1)  # a token's last use is written at most this often


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's token check, except that an expired token says so (knox answers "Invalid token."
    and deletes it, so a second try would not say why) and a token that is not text is refused
    rather than failing. Expired tokens are removed by beat (`teams.delete_expired_tokens`) a
    few days after they expire, and when their user gets a new one. Each use is recorded (to
    the minute) for the admins' token list."""

    def authenticate_credentials(self, token: bytes):
        try:
            token = token.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed(INVALID) from None
        digest = hash_token(token)
        candidates = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
        for auth_token in candidates.select_related("user", "use"):
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                raise AuthenticationFailed(
                    f"This token expired on {auth_token.expiry:%Y-%m-%d %H:%M} UTC. Get a new one "
                    "with POST /api/token/ (an integration: ask an admin to run "
                    "create_integration_token with --rotate).",
                    code="token_expired",
                )
            answer = self.validate_user(auth_token)
            _record_use(auth_token)
            return answer
        raise AuthenticationFailed(INVALID)


def _record_use(auth_token: AuthToken) -> None:
    from teams.models import ApiTokenUse

    now = timezone.now()
    use = getattr(auth_token, "use", None)
    if use is None or now - use.last_used_at >= USE_GRAIN:
        ApiTokenUse.objects.update_or_create(token=auth_token, defaults={"last_used_at": now})


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for it stays `tokenAuth`, as with DRF's own token authentication."""

    target_class = ExpiringTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Token",  # noqa: S106 - the header's keyword, not a secret
        )
