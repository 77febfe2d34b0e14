"""`Authorization: Token <token>` against hashed, expiring tokens (django-rest-knox's AuthToken)."""

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


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's token check, except that an expired token says so (knox answers "Invalid token."
    and deletes it, so a second try would not say why) and a token that is not text is refused
    rather than failing. Expired tokens are removed when their user gets a new one."""

    def authenticate_credentials(self, token: bytes):
        try:
            token = token.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed(INVALID) from None
        digest = hash_token(token)
        candidates = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
        for auth_token in candidates.select_related("user"):
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                raise AuthenticationFailed(
                    f"This token expired on {auth_token.expiry:%Y-%m-%d %H:%M} UTC. Get a new one "
                    "with POST /api/token/ (an integration: ask an admin to run "
                    "create_integration_token with --rotate).",
                    code="token_expired",
                )
            return self.validate_user(auth_token)
        raise AuthenticationFailed(INVALID)


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for it stays `tokenAuth`, as with DRF's own token authentication."""

    target_class = ExpiringTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Token",  # noqa: S106 - the header's keyword, not a secret
        )
