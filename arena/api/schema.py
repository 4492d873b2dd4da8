"""What the OpenAPI schema at /api/schema/ says about every operation, beyond its own serializers.

Every view documents its body, parameters and answers with `@extend_schema`; the error answers
come from here, so one status means one shape everywhere:

- `Error`: every 4xx but 400. Application errors (`arena.errors.ArenaError`, via
  `arena.api.errors.api_exception_handler`) answer `{"error": code, "detail": message,
  "field"?, "line"?}`; DRF's own (authentication, permission, media type, method) answer
  `{"detail": message}`. Both have `detail`.
- `ValidationError`: 400. Either an application error as above, or DRF's serializer errors,
  `{"<field>": ["message", ...]}` (nested as the body is), so no key is required.

`operation` builds an operation's `@extend_schema` from what is its own (summary, success
answer, request body, error statuses); `download_operation` does the same for a file download.

`ArenaAutoSchema` names the HackSoft-style nested serializers after their view.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers


class ArenaAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction):
        """`CampaignListCreateApi.InputSerializer` becomes `CampaignListCreateInput`.

        Every view nests an `InputSerializer` (and some an `OutputSerializer`); named by the
        class alone they would all collide in `components.schemas`.
        """
        cls = type(serializer)
        owner, _, own = cls.__qualname__.rpartition(".")
        if not owner or "<locals>" in owner:
            return super().get_serializer_name(serializer, direction)
        owner = owner.rpartition(".")[2].removesuffix("Api")
        return owner + own.removesuffix("Serializer")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    error = serializers.CharField(
        required=False,
        help_text="Application errors only: invalid, not_found, forbidden, conflict or too_large.",
    )
    field = serializers.CharField(required=False, help_text="The field (or key path) at fault, when there is one.")
    line = serializers.IntegerField(required=False, help_text="An upload's line at fault (the header is line 1).")


class ValidationErrorSerializer(serializers.Serializer):
    """An application error (`error`, `detail`, `field`, `line`), or DRF's field errors: each
    bad field's name mapped to its messages, e.g. `{"name": ["This field is required."]}`."""

    detail = serializers.CharField(required=False)
    error = serializers.CharField(required=False)
    field = serializers.CharField(required=False)
    line = serializers.IntegerField(required=False)


_WHY = {
    400: "The body or a parameter is not valid; the answer names the field (or line).",
    401: "Not signed in, or a bad or expired token.",
    403: "Not allowed (e.g. not a lead), or a session request without its CSRF token.",
    404: "No such campaign, assignment or item for this user (or no endpoint at this path).",
    409: "The request conflicts with the current state (e.g. a different vote, a campaign not in the right status).",
    413: "The body or upload is larger than the configured limit.",
    415: "The body's Content-Type is not one this endpoint reads.",
    429: "Too many attempts; wait and try again.",
}


def error_responses(*statuses: int) -> dict:
    """The error answers of an operation, each with the shared shape for its status."""
    return {
        code: OpenApiResponse(
            response=ValidationErrorSerializer if code == 400 else ErrorSerializer, description=_WHY[code]
        )
        for code in statuses
    }


# The statuses every signed-in endpoint may answer: 401 for a missing, bad or expired credential
# (token authentication comes first, so DRF sends its WWW-Authenticate header), 403 for a user
# who may not do this (not a lead; a session request without its CSRF token).
SIGNED_IN = (401, 403)
# A lead's operation on one campaign: also 404 for a campaign that does not exist.
LEAD_CAMPAIGN = (*SIGNED_IN, 404)
# ... that the campaign's status may refuse (e.g. generating a campaign under review): also 409.
LEAD_CAMPAIGN_STATUS = (*LEAD_CAMPAIGN, 409)
# Any operation that reads a JSON or form body (`operation` adds them when it has a `request`).
WITH_BODY = (400, 413, 415)
# A reviewer's move on one of their items: also 404 for an item that is not theirs, 409 for one
# already voted on, skipped or taken back.
REVIEWER_ITEM = (*SIGNED_IN, 404, 409)


def file_responses(media_type: str, description: str) -> dict:
    """A download's 200: a file of `media_type` (sent as an attachment); errors stay JSON."""
    return {(200, media_type): OpenApiResponse(response=OpenApiTypes.STR, description=description)}


def operation(summary: str, answer, *, errors: tuple = LEAD_CAMPAIGN, **more):
    """The `@extend_schema` of one operation.

    `answer` is its 200's body (a serializer, or None), or its success answers by status
    (`{201: CreatedSerializer}`). `errors` are its error statuses, a lead's campaign operation's
    by default; an operation that reads a body (`request` given and not None) may also answer
    WITH_BODY's, which come first. The rest (`request`, `description`, `parameters`,
    `examples`) goes to `extend_schema` as it is.
    """
    answers = answer if isinstance(answer, dict) else {200: answer}
    if more.get("request") is not None:
        errors = (*WITH_BODY, *errors)
    return extend_schema(summary=summary, responses={**answers, **error_responses(*errors)}, **more)


def download_operation(summary: str, description: str, media_type: str = "text/csv", **more):
    """`operation` for a download: a file of `media_type` in the 200 (see `file_responses`)."""
    return operation(summary, file_responses(media_type, description), **more)
