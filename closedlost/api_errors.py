"""The API's error answers, as documented in the OpenAPI schema."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from closedlost.errors import ServiceError

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


class ConflictAnswer(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This is not in a state that allows it."
    default_code = "conflict"


def exception_handler(exc, context):
    """DRF's handler, and a service's refusal (closedlost.errors.ServiceError) as an answer: a
    conflict is a 409 with its message, any other a 400 naming its field. A view may list the
    fields of its request (`error_fields`); a refusal naming another is a `non_field_errors`."""
    if isinstance(exc, ServiceError):
        if exc.conflict:
            exc = ConflictAnswer(exc.message)
        else:
            fields = getattr(context.get("view"), "error_fields", None)
            known = exc.field is not None and (fields is None or exc.field in fields)
            exc = ValidationError({exc.field if known else "non_field_errors": [exc.message]})
    return drf_exception_handler(exc, context)
