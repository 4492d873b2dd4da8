"""One place that turns application errors into API responses, and the API's own 404.

Under /api/ every error is JSON: application errors (ArenaError) with their status, DRF's
own, Django's request-size errors (RequestDataTooBig: 413; too many fields or files: 400), and
a path that matches no endpoint (`api_not_found`, the last pattern of arena/api/urls.py).
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ..errors import ArenaError, TooLarge, ValidationFailed
from .parsers import UploadTooLarge

API_NOT_FOUND = "api-not-found"


def api_exception_handler(exc, context):
    if isinstance(exc, UploadTooLarge):
        exc = TooLarge(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        # Django's own, from `request.body` or a multipart form field over the limit.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = TooLarge(f"the request body or a form field is larger than {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)")
    elif isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        exc = ValidationFailed(f"the request has more than {limit} fields (DATA_UPLOAD_MAX_NUMBER_FIELDS)")
    elif isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        exc = ValidationFailed(f"the request has more than {limit} files (DATA_UPLOAD_MAX_NUMBER_FILES)")
    if isinstance(exc, ArenaError):
        return Response(exc.as_dict(), status=exc.status)
    return exception_handler(exc, context)


def _endpoint_with_slash(path_info: str) -> bool:
    """Whether the path names an endpoint once its trailing slash is added (APPEND_SLASH's test)."""
    if path_info.endswith("/"):
        return False
    try:
        return resolve(f"{path_info}/").url_name != API_NOT_FOUND
    except Resolver404:
        return False


def api_not_found(request, path=""):
    """A JSON 404 for any /api/ path without an endpoint, instead of Django's HTML page.

    This pattern matches everything, so CommonMiddleware's APPEND_SLASH redirect never sees a
    404 here: a GET without its slash is redirected the same way, and any other method is told
    the right path (a redirect would silently turn a POST into a GET without its body).
    """
    if _endpoint_with_slash(request.path_info):
        if request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(f"{request.path}/" + (f"?{query}" if query else ""))
        detail = f"no API endpoint at {request.path}; the endpoint is {request.path}/ (with the slash)"
    else:
        detail = f"no API endpoint at {request.path}"
    return JsonResponse({"error": "not_found", "detail": detail}, status=404)
