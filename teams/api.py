"""API tokens: a user exchanges username and password for a new token, or rotates theirs.

Only a hash of a token is stored: the answer that issues it is the one time it is shown."""

from django.contrib.auth import BACKEND_SESSION_KEY, authenticate
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from closedlost.api_errors import FIELD_ERRORS
from teams.models import ApiTokenOrigin
from teams.services import IssuedToken, api_token_issue, api_token_rotate

# Sessions these backends sign in prove the person by single sign-on; any other session by a password.
SSO_BACKENDS = {"signin.oidc.SsoBackend"}


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})
    code = serializers.CharField(
        required=False,
        max_length=16,
        help_text="Your authenticator app's code (or a recovery code): needed when two-step sign-in is on.",
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send it as the header `Authorization: Token <token>`. Shown only this once."
    )
    username = serializers.CharField()
    prefix = serializers.CharField(help_text="Its first characters: how to name it later (to rotate it).")
    expires_at = serializers.DateTimeField(help_text="After this, it answers 401; rotate it before.")


class RotateSerializer(serializers.Serializer):
    prefix = serializers.CharField(
        required=False,
        max_length=25,
        help_text="Revoke only your token with this prefix (its first 15 characters); by default, all.",
    )


def _proof(request) -> str:
    """How the caller proved who they are: their token's own origin, or their session's backend.
    A token of unknown origin counts as a password one."""
    if isinstance(request.auth, AuthToken):
        origin = ApiTokenOrigin.objects.filter(token=request.auth).values_list("created_via", flat=True)
        return origin.first() or ApiTokenOrigin.Via.PASSWORD
    backend = request.session.get(BACKEND_SESSION_KEY, "")
    return ApiTokenOrigin.Via.SSO if backend in SSO_BACKENDS else ApiTokenOrigin.Via.PASSWORD


def _answer(issued: IssuedToken, user) -> Response:
    body = {"token": issued.key, "username": user.username}
    return Response(TokenSerializer({**body, "prefix": issued.prefix, "expires_at": issued.expires_at}).data)


class TokenView(APIView):
    """A new API token, in exchange for your username and password (the same lockout as sign-in).

    Your other tokens keep working until they expire (or you rotate them)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Get a new API token",
        request=CredentialsSerializer,
        responses={200: TokenSerializer, 400: FIELD_ERRORS},
        auth=[],
    )
    def post(self, request):
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        # The Django request itself, so that django-axes counts failures and locks out.
        user = authenticate(request._request, **credentials.validated_data)
        if user is None:
            raise ValidationError(
                {"non_field_errors": ["Unable to sign in with that username and password."]}
            )
        return _answer(api_token_issue(user=user, created_via=ApiTokenOrigin.Via.PASSWORD), user)


class TokenRotateView(APIView):
    """A new token in place of your old ones (or of the one you name): they stop working at once."""

    error_fields = ("prefix",)

    @extend_schema(
        summary="Rotate your API tokens",
        request=RotateSerializer,
        responses={200: TokenSerializer, 400: FIELD_ERRORS},
    )
    def post(self, request):
        choice = RotateSerializer(data=request.data)
        choice.is_valid(raise_exception=True)
        issued = api_token_rotate(
            user=request.user, created_via=_proof(request), prefix=choice.validated_data.get("prefix")
        )
        return _answer(issued, request.user)
