"""The API's error answers, as documented in the OpenAPI schema."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

# 404, 409, 429: one message.
ERROR = OpenApiResponse(
    description="What went wrong, in one message.",
    response=inline_serializer("Error", fields={"detail": serializers.CharField()}),
)

# 400: the messages by field (`{"reason": ["..."]}`; `non_field_errors` for the whole request),
# or `{"detail": "..."}` when the body does not parse.
FIELD_ERRORS = OpenApiResponse(
    description='What is wrong, by field: `{"reason": ["..."]}`, or `{"detail": "..."}`.',
    response=OpenApiTypes.OBJECT,
)
