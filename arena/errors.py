"""The one application error type. Services raise it; the API and views map it to responses."""


class ArenaError(Exception):
    """An expected failure a user can act on. `status` is the HTTP status the API answers with
    and `code` the body's `error`; a subclass gives both in its header:
    `class NotFound(ArenaError, status=404, code="not_found")`."""

    status = 400
    code = "invalid"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line

    def as_dict(self) -> dict:
        body: dict = {"error": self.code, "detail": self.message}
        if self.line is not None:
            body["line"] = self.line
        if self.field is not None:
            body["field"] = self.field
        return body


class ValidationFailed(ArenaError, status=400, code="invalid"):
    """Input that is not valid: a body, a parameter, an upload's line, a campaign's settings."""


class NotFound(ArenaError, status=404, code="not_found"):
    """No such thing, or none this user may see: the same answer, so it tells nothing."""


class Forbidden(ArenaError, status=403, code="forbidden"):
    """This user may not do this (e.g. vote in a campaign they no longer review)."""


class Conflict(ArenaError, status=409, code="conflict"):
    """Not in the current state: a different vote on the same item, a campaign in another status."""


class TooLarge(ArenaError, status=413, code="too_large"):
    """A body or upload over a configured size limit (HTTP 413 Content Too Large)."""
