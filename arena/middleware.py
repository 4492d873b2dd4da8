"""Refuse NUL characters in the URL and headers before any view or database sees them.

A NUL reaching PostgreSQL in a query parameter, a path segment (`/api/review/<token>/vote/`)
or a token header is a 500 ("A string literal cannot contain NUL"), and no legitimate client
sends one. Request bodies are checked by the API's parsers (arena/api/parsers.py) and Django's
form fields, which already refuse NUL; this covers what arrives before the body.
"""

from django.http import HttpResponseBadRequest, JsonResponse

from .errors import ValidationFailed


def _nul_in_request(request) -> ValidationFailed | None:
    if "\x00" in request.path_info:
        return ValidationFailed("the path holds a NUL character (U+0000)", field="path")
    query = request.META.get("QUERY_STRING", "")
    # A NUL can only arrive percent-encoded; the query is parsed only when it holds one.
    for name, values in request.GET.lists() if "%00" in query or "\x00" in query else ():
        if "\x00" in name or any("\x00" in value for value in values):
            shown = name.replace("\x00", "\\u0000")
            return ValidationFailed(f"query parameter {shown!r} holds a NUL character (U+0000)", field=shown)
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            header = key[5:].replace("_", "-").title()
            return ValidationFailed(f"the {header} header holds a NUL character (U+0000)", field=header)
    return None


class NulCharacterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = _nul_in_request(request)
        if refused is not None:
            if request.path_info.startswith("/api/"):
                return JsonResponse(refused.as_dict(), status=refused.status)
            return HttpResponseBadRequest(refused.message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
