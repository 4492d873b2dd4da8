"""Which model endpoints a campaign may call, and which environment variables may hold its key.

One rule, used by the API and admin (through `campaign_check`) when a contestant is written,
and by the worker (arena/llm.py) before every call:

* The key variable is `GLOBAL_API_KEY` or one the operator listed in `LLM_ALLOWED_KEY_ENVS`.
  A lead is staff, not the operator: without this a lead could name `SECRET_KEY` or
  `DATABASE_URL` and have the worker send it to a host of their choosing as a bearer token.
* The endpoint is http or https, on the scheme, host and port of `GLOBAL_API_BASE_URL`, or on
  a host (any port) or host:port the operator listed in `LLM_ALLOWED_HOSTS`.
* Internal addresses (loopback, private, link-local, unspecified, multicast, reserved, cloud
  metadata) are reachable only when the URL names the address itself and that address is
  listed (`127.0.0.1:8001` for the demo's simulator). A host *name* never vouches for an
  internal address: before every call the worker resolves the name and refuses when any
  address it gets is internal, because DNS answers can change after the operator wrote the
  list (and names such as `localtest.me` resolve to 127.0.0.1 on purpose).

No message here says whether an environment variable exists on any process: a refused name is
refused for not being listed, whatever the worker's environment holds.

What this does not close: the HTTP client resolves the name again when it connects, so a DNS
server that answers differently within milliseconds (rebinding) can still win that race. The
check narrows the window to one call; closing it needs the client to connect to the checked
address, which the openai client does not offer.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .errors import ValidationFailed

DEFAULT_PORTS = {"http": 80, "https": 443}
# Cloud metadata services hand out instance credentials. 169.254.169.254 is link-local and
# fd00:ec2::254 (AWS over IPv6) is private, so both are internal anyway; they are named here
# so that the message says what they are.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class EndpointRefused(ValidationFailed):
    """A base URL or key variable that the allow-lists refuse. `field` names where it came from."""


class EndpointUnresolved(EndpointRefused):
    """The host name did not resolve, so its addresses could not be checked (may pass on a later try)."""


@dataclass(frozen=True)
class _Allowed:
    host: str
    port: int | None  # None: any port on that host


def _normal_host(host: str) -> str:
    """Lower case, no trailing dot, IP literals in their one canonical spelling."""
    host = host.lower().rstrip(".")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _unwrapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 one carries (::ffff:127.0.0.1, or 64:ff9b::7f00:1 through NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64_PREFIX:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_internal_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for every address that is not a public unicast one (where a leaked key would be read)."""
    address = _unwrapped(address)
    return address in METADATA_ADDRESSES or address.is_multicast or not address.is_global


def _describe(address) -> str:
    address = _unwrapped(address)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    return "a private or reserved address"


def _allowed_hosts() -> list[_Allowed]:
    """LLM_ALLOWED_HOSTS parsed; a malformed entry stops with its text rather than allowing less or more."""
    allowed = []
    for entry in settings.LLM_ALLOWED_HOSTS:
        if "://" in entry or "/" in entry or "@" in entry:
            raise ImproperlyConfigured(
                f"LLM_ALLOWED_HOSTS: {entry!r} must be a host or host:port, without scheme or path"
            )
        try:
            parts = urlsplit(f"//{entry}")
            host, port = parts.hostname, parts.port
        except ValueError:
            raise ImproperlyConfigured(f"LLM_ALLOWED_HOSTS: {entry!r} is not a host or host:port") from None
        if not host:
            raise ImproperlyConfigured(f"LLM_ALLOWED_HOSTS: {entry!r} is not a host or host:port")
        allowed.append(_Allowed(host=_normal_host(host), port=port))
    return allowed


@dataclass(frozen=True)
class _Endpoint:
    scheme: str
    host: str
    port: int

    @property
    def host_port(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _parse(base_url: str, *, field: str) -> _Endpoint:
    try:
        parts = urlsplit(base_url.strip())
        port = parts.port
    except ValueError:
        raise EndpointRefused(f"{base_url!r} is not a valid URL", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise EndpointRefused(f"{base_url!r}: only http and https endpoints are allowed", field=field)
    if not parts.hostname:
        raise EndpointRefused(f"{base_url!r} has no host", field=field)
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused(f"{base_url!r}: credentials in the URL are not allowed", field=field)
    return _Endpoint(scheme=scheme, host=_normal_host(parts.hostname), port=port or DEFAULT_PORTS[scheme])


def _global_endpoint() -> _Endpoint:
    return _parse(settings.GLOBAL_API_BASE_URL, field="GLOBAL_API_BASE_URL")


def check_endpoint(base_url: str, *, field: str = "base_url") -> None:
    """Refuse a base URL that is not the global endpoint's scheme, host and port nor on LLM_ALLOWED_HOSTS.

    An empty base URL means GLOBAL_API_BASE_URL, which is always allowed.
    """
    if not base_url:
        return
    endpoint = _parse(base_url, field=field)
    if endpoint == _global_endpoint():
        return
    for allowed in _allowed_hosts():
        if allowed.host == endpoint.host and allowed.port in (None, endpoint.port):
            return
    address = _ip_literal(endpoint.host)
    if address is not None and is_internal_address(address):
        raise EndpointRefused(
            f"{base_url!r} points at {_describe(address)}, which is refused unless the operator lists "
            f"{endpoint.host_port} in LLM_ALLOWED_HOSTS",
            field=field,
        )
    raise EndpointRefused(
        f"{endpoint.host_port} is not an allowed model endpoint: use the global endpoint or a host "
        "the operator lists in LLM_ALLOWED_HOSTS",
        field=field,
    )


def check_key_env(name: str, *, field: str = "api_key_env") -> None:
    """Refuse a key variable that is neither GLOBAL_API_KEY nor on LLM_ALLOWED_KEY_ENVS (empty means GLOBAL_API_KEY).

    The message is the same whether or not the variable is set anywhere.
    """
    if not name or name == settings.GLOBAL_API_KEY_ENV or name in settings.LLM_ALLOWED_KEY_ENVS:
        return
    raise EndpointRefused(
        f"{name!r} is not an API key variable a campaign may use: use {settings.GLOBAL_API_KEY_ENV} or a name "
        "the operator lists in LLM_ALLOWED_KEY_ENVS",
        field=field,
    )


def check_model_access(*, base_url: str, api_key_env: str, where: str = "") -> None:
    """Both checks for one contestant or judge; `where` prefixes the fields (`contestants[0]`)."""
    prefix = f"{where}." if where else ""
    check_endpoint(base_url, field=f"{prefix}base_url")
    check_key_env(api_key_env, field=f"{prefix}api_key_env")


def check_resolved(base_url: str, *, field: str = "base_url") -> None:
    """The call-time check: `check_endpoint`, then every address the host name resolves to must be public.

    An IP literal that passed `check_endpoint` was listed as it is (or is the global endpoint's),
    so it is not resolved. A name that does not resolve is refused too: nothing is sent to an
    address that was not checked.
    """
    check_endpoint(base_url, field=field)
    endpoint = _parse(base_url or settings.GLOBAL_API_BASE_URL, field=field)
    if _ip_literal(endpoint.host) is not None:
        return
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise EndpointUnresolved(f"{endpoint.host} does not resolve", field=field) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if is_internal_address(address):
            raise EndpointRefused(
                f"{endpoint.host} resolves to {_describe(address)} ({address.compressed}); a host name may not "
                "lead to an internal address (the operator lists the address itself to allow one)",
                field=field,
            )
