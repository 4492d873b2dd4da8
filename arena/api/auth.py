"""Authentication of the API.

Requests are authenticated at the edge by DRF's stock classes, configured in settings
(REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]): the browser's Django session, or an
`Authorization: Token <key>` header. Views pass the user's id on to the services; no service
sees a request or a token.
"""
