"""Single sign-on with OpenID Connect through mozilla-django-oidc, with what it leaves open closed.

The library runs the authorization code flow: the start view keeps state, nonce and the PKCE
verifier in the session and sends the browser to the provider; the callback checks the state,
exchanges the code (with the verifier) at the token endpoint and fetches the signing key from the
provider's JWKS. What it does not do, done here:

- endpoints and the client come from the discovery document and `signin.config` (environment or
  the admin page), not from static settings;
- the ID token is checked in full: signature with an asymmetric algorithm only, `iss`, `aud` (the
  library skips it), `azp`, `exp` (the library answers an expired token with a 500), `iat`,
  `sub`, and the nonce compared in constant time;
- the e-mail must be verified and in an allowed domain; the user is found by (issuer, subject),
  then by e-mail, and created just in time with the default role and no team;
- every refusal (bad state, token, claims, an unreachable provider) is a clear page, never a 500.
"""

import logging
from hmac import compare_digest

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from signin import config as signin_config
from signin.discovery import ProviderError, provider_metadata
from signin.services import SsoRefused, sso_user_for_claims

logger = logging.getLogger(__name__)

SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def _dynamic_settings(config: signin_config.SigninConfig, metadata: dict) -> dict:
    return {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": metadata["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": metadata["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": metadata.get("userinfo_endpoint"),
        "OIDC_OP_JWKS_ENDPOINT": metadata["jwks_uri"],
        "OIDC_RP_CLIENT_ID": config.client_id,
        "OIDC_RP_CLIENT_SECRET": config.client_secret,
        # The algorithm is checked per token against SIGNING_ALGORITHMS (verify_token).
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_RP_IDP_SIGN_KEY": None,
    }


class SsoBackend(OIDCAuthenticationBackend):
    """Authenticates only for the callback view (which marks its request), never for a password form
    that happens to carry ?code=&state=."""

    def __init__(self, *args, **kwargs):
        # The library reads its settings here, for every authenticate() call (passwords too): read
        # nothing until a callback needs it.
        self.UserModel = get_user_model()
        self._dynamic: dict = {}

    def get_settings(self, attr, *args):
        if attr in self._dynamic:
            return self._dynamic[attr]
        return getattr(settings, attr, *args)

    def authenticate(self, request, **kwargs):
        if request is None or not getattr(request, "sso_callback", False) or "nonce" not in kwargs:
            return None
        self.config = signin_config.current()
        if not self.config.sso_ready:
            raise SsoRefused("Single sign-on is not set up here.")
        try:
            self.metadata = provider_metadata(self.config.issuer)
        except ProviderError as exc:
            raise SsoRefused(exc.message) from None
        self._dynamic = _dynamic_settings(self.config, self.metadata)
        for name, value in self._dynamic.items():
            setattr(self, name, value)
        try:
            return super().authenticate(request, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise SsoRefused(f"The provider refused to exchange the sign-in code (HTTP {status}).") from None
        except requests.RequestException:
            raise SsoRefused("The provider could not be reached to finish the sign-in.") from None
        except SuspiciousOperation as exc:  # the library's own refusals (no matching key in the JWKS)
            raise SsoRefused(f"The ID token was refused: {exc}.") from None

    def verify_token(self, token, **kwargs):
        """The ID token, checked in full (the library checks the signature and nonce only)."""
        if not isinstance(token, str) or not token:
            raise SsoRefused("The provider sent no ID token.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise SsoRefused("The ID token is not a signed JWT.") from None
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise SsoRefused(
                f"The ID token is signed with {algorithm!r}; an asymmetric algorithm is required."
            )
        self.OIDC_RP_SIGN_ALGO = algorithm
        key = self.retrieve_matching_jwk(token)  # the library: the JWKS key with this kid and alg
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=settings.OIDC_CLOCK_LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise SsoRefused("The ID token has expired. Sign in again.") from None
        except jwt.InvalidAudienceError:
            raise SsoRefused("The ID token was issued to another application (audience).") from None
        except jwt.InvalidIssuerError:
            raise SsoRefused("The ID token was issued by another provider (issuer).") from None
        except jwt.ImmatureSignatureError:
            raise SsoRefused("The ID token is not valid yet (issued in the future).") from None
        except jwt.InvalidSignatureError:
            raise SsoRefused("The ID token's signature does not match the provider's keys.") from None
        except jwt.InvalidTokenError as exc:
            raise SsoRefused(f"The ID token is not valid ({exc}).") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise SsoRefused("The ID token names several audiences but was not issued to us (azp).")
        nonce = kwargs.get("nonce")
        if not nonce or not compare_digest(str(claims.get("nonce", "")), str(nonce)):
            raise SsoRefused("The ID token's nonce does not match this sign-in. Start again.")
        return claims

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims; the userinfo endpoint only when the token carries no e-mail."""
        if "email" in payload or not self.OIDC_OP_USER_ENDPOINT:
            return payload
        try:
            info = super().get_userinfo(access_token, id_token, payload)
        except (requests.RequestException, ValueError):
            raise SsoRefused("The provider's userinfo endpoint could not be read.") from None
        if not isinstance(info, dict) or info.get("sub") != payload["sub"]:
            raise SsoRefused("The provider's userinfo is about someone else (sub).")
        return {**info, **payload}

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        return sso_user_for_claims(issuer=self.config.issuer, claims=claims, config=self.config)

    def get_user(self, user_id):
        return self.UserModel.objects.filter(pk=user_id, is_active=True).first()


def refused(request, message: str, *, status: int = 403):
    logger.warning("single sign-on refused: %s", message)
    return render(request, "signin/refused.html", {"message": message}, status=status)


class SsoStartView(OIDCAuthenticationRequestView):
    """/signin/sso/: to the provider, with state, nonce and a PKCE challenge (S256)."""

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self._dynamic: dict = {}

    def get_settings(self, attr, *args):
        if attr in self._dynamic:
            return self._dynamic[attr]
        return getattr(settings, attr, *args)

    def get(self, request):
        config = signin_config.current()
        if not config.sso_ready:
            return refused(request, "Single sign-on is not set up here.", status=404)
        try:
            metadata = provider_metadata(config.issuer)
        except ProviderError as exc:
            return refused(request, exc.message, status=502)
        self._dynamic = _dynamic_settings(config, metadata)
        self.OIDC_OP_AUTH_ENDPOINT = metadata["authorization_endpoint"]
        self.OIDC_RP_CLIENT_ID = config.client_id
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """/signin/sso/callback/: the provider's answer, checked; a clear page for every refusal."""

    def get(self, request):
        if request.GET.get("error"):
            super().get(request)  # the library forgets the state and signs out
            description = request.GET.get("error_description") or request.GET["error"]
            return refused(request, f"The provider did not sign you in: {description[:200]}")
        state = request.GET.get("state")
        if not request.GET.get("code") or not state:
            return refused(request, "The provider's answer carried no code or state.")
        if state not in (request.session.get("oidc_states") or {}):
            return refused(
                request, "This sign-in was not started here, or was already used (state). Start again."
            )
        request.sso_callback = True
        try:
            return super().get(request)
        except SsoRefused as exc:
            return refused(request, exc.message)

    def login_failure(self):
        return refused(self.request, "Single sign-on did not sign you in.")
