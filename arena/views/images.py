"""An image of a prompt, served by the service itself at `/media/i/<token>/`.

The URL holds a random token only, and the answer names nothing either: no file name
(no Content-Disposition), no digest, no campaign, no model; the type is the one sniffed from the
bytes at import. Private caching only: a shared cache must not hand it to someone else.
"""

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe

from ..errors import NotFound
from ..selectors.images import access_image_for_user
from ..services.images import image_bytes


@require_safe
def image_view(request, token):
    try:
        image = access_image_for_user(user=request.user, token=token)
    except NotFound:
        raise Http404("no such image") from None
    response = HttpResponse(image_bytes(image), content_type=image.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
