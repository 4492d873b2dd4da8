"""The one application error type. Services raise it; the API and views map it to responses."""


class ArenaError(Exception):
    """An expected failure a user can act on. `status` is the HTTP status the API answers with."""

    status = 400
    code = "invalid"

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


class ValidationFailed(ArenaError):
    status = 400
    code = "invalid"


class NotFound(ArenaError):
    status = 404
    code = "not_found"


class Forbidden(ArenaError):
    status = 403
    code = "forbidden"


class Conflict(ArenaError):
    status = 409
    code = "conflict"


class TooLarge(ArenaError):
    """A body or upload over a configured size limit (HTTP 413 Content Too Large)."""

    status = 413
    code = "too_large"
