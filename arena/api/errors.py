"""One place that turns application errors into API responses."""

from rest_framework.response import Response
from rest_framework.views import exception_handler

from ..errors import ArenaError


def api_exception_handler(exc, context):
    if isinstance(exc, ArenaError):
        return Response(exc.as_dict(), status=exc.status)
    return exception_handler(exc, context)
