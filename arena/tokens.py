"""API tokens checked inside the review hot path's first statement, not by a query of their own.

Token authentication was one round trip per request, 2 of the 14 per next + vote. On the two hot
endpoints (`arena/api/review.py`: next and vote) DRF only parses the header
(`arena.api.auth.DeferredTokenAuthentication`) and hands the view a `TokenReviewer`; the first
statement the service runs (the membership lock for "next", the assignment lock for a vote)
finds the user by the token, active users only, and records who it was. Nothing is cached: a
deleted token or a deactivated user is refused on the very next request, as before.

Every answer stays what it was: when that statement finds nothing, or anything fails before
it runs, the view checks the token first (one query, on the error path only), so a bad token
is answered "Invalid token." / "User inactive or deleted." whatever else was wrong.
"""

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

_USER = get_user_model()._meta
USER_BY_TOKEN_SQL = (
    f"(SELECT t.user_id FROM {Token._meta.db_table} t JOIN {_USER.db_table} u ON u.{_USER.pk.column} = t.user_id"
    " WHERE t.key = %s AND u.is_active)"
)


class TokenReviewer:
    """A request's API token, not yet matched to a user. `user_id` is set once a statement has.

    Only the review hot path's services take it; reading `pk` before the token was matched is
    a programming error and fails loudly instead of acting as nobody.
    """

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key: str):
        self.key = key
        self.user_id: int | None = None

    @property
    def pk(self) -> int:
        if self.user_id is None:
            raise TypeError("the token has not been matched to a user yet")
        return self.user_id


def reviewer_match(reviewer) -> tuple[str, object]:
    """(SQL for "this reviewer's user id", its parameter): the id, or the token's user subquery."""
    if isinstance(reviewer, TokenReviewer):
        if reviewer.user_id is None:
            return USER_BY_TOKEN_SQL, reviewer.key
        return "%s", reviewer.user_id
    return "%s", getattr(reviewer, "pk", reviewer)
