"""The address a request came from, as login throttling counts it (settings.AXES_CLIENT_IP_CALLABLE).

Behind a TLS proxy every request arrives from the proxy's own address, so counting failed logins
per address would put every user behind one counter, and anyone could lock anyone out. A proxy
appends the address it received the connection from to `X-Forwarded-For`; with
`TRUSTED_PROXY_COUNT` proxies in front, the client is the entry that many places from the right.
Entries further left were written by the client and may be forged, so they are never used (the
rule of Werkzeug's `ProxyFix(x_for=N)`). With no trusted proxy, the header is ignored entirely.
"""

from django.conf import settings


def client_address(request) -> str | None:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    # No proxy configured, or a request that did not pass through all of them.
    return request.META.get("REMOTE_ADDR")
