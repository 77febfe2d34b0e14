"""Two gates in front of the views: SCIM's bearer token, and the second factor after a password."""

from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

from signin.services import scim_token_valid

SCIM_PREFIX = "/scim/v2/"
SECOND_FACTOR_SESSION_KEY = "signin_second_factor"  # "verify" or "setup", set at sign-in (signin.signals)
# Pages a person between password and second factor may still reach.
OPEN_PREFIXES = ("/signin/2fa/", "/logout/", "/static/", "/health/", "/login/")


class ScimClient:
    """The identity provider calling SCIM: signed in for these requests only, with no row of its own."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = is_superuser = is_revops_admin = False
    pk = id = None
    username = "scim"
    role = ""

    def is_verified(self) -> bool:
        return True

    def __str__(self) -> str:
        return "SCIM client"


class ScimBearerMiddleware:
    """/scim/v2/ answers only to `Authorization: Bearer <the SCIM token>`; anything else is a 401
    (before the sign-in redirect, which an identity provider could not follow)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(SCIM_PREFIX):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip() or not scim_token_valid(token.strip()):
                response = HttpResponse(
                    '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "401", '
                    '"detail": "A valid bearer token is required."}',
                    status=401,
                    content_type="application/scim+json",
                )
                response["WWW-Authenticate"] = 'Bearer realm="closedlost SCIM"'
                return response
            request.user = ScimClient()
        return self.get_response(request)


class SecondFactorMiddleware:
    """After a password sign-in, a person with an authenticator (or an admin who must have one)
    reaches nothing but the second-factor pages until the code is given. Single sign-on leaves the
    second factor to the identity provider. The need is worked out once, at sign-in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        need = request.session.get(SECOND_FACTOR_SESSION_KEY) if hasattr(request, "session") else None
        if need and not request.path.startswith(OPEN_PREFIXES) and request.user.is_authenticated:
            if request.path.startswith("/api/") and "Authorization" not in request.headers:
                return HttpResponse('{"detail": "Give your second factor first."}', status=403)
            if not request.path.startswith("/api/"):
                target = reverse("signin:2fa-verify" if need == "verify" else "signin:2fa-setup")
                return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
