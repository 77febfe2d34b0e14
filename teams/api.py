"""API tokens: a user exchanges username and password for their token, or rotates it."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from closedlost.api_errors import FIELD_ERRORS
from teams.services import api_token_get_or_create, api_token_rotate


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as the header `Authorization: Token <token>`.")
    username = serializers.CharField()


class TokenView(APIView):
    """Your API token, in exchange for your username and password (the same lockout as sign-in)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Get your API token",
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
        token = api_token_get_or_create(user=user)
        return Response({"token": token.key, "username": user.username})


class TokenRotateView(APIView):
    """Replace your token with a new one; the old one stops working at once."""

    @extend_schema(summary="Rotate your API token", request=None, responses={200: TokenSerializer})
    def post(self, request):
        token = api_token_rotate(user=request.user)
        return Response({"token": token.key, "username": request.user.username})
