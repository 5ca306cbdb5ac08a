"""SSRF guard for partner URLs: the platform must not be made to POST into its own network.

A partner URL is refused when its host resolves to an address that is not
globally routable: private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback,
link-local (169.254/16 — cloud metadata services live at 169.254.169.254 —
and fe80::/10), shared (100.64/10), multicast, reserved or unspecified. Every
address the name resolves to must pass, so a name with one public and one
private record is refused. A name that does not resolve is refused too.

`settings.PARTNER_URL_ALLOW_PRIVATE` (on in dev and tests, where fake partners
listen on 127.0.0.1) turns the address check off; the scheme check stays.

Saving is not enough against DNS rebinding (a name that resolves elsewhere
later): the client (`core/http/client.py`) checks again before each request and
connects to the addresses it checked (DNS pinning).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")


class UnsafeUrlError(ValueError):
    """The URL may not be used as a partner endpoint; the message says why (for a 400)."""


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (e.g. cloud metadata)"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
        return "not publicly routable"
    return None


def resolve_addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address `host` resolves to (a literal IP resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UnsafeUrlError(f"The host {host!r} does not resolve ({exc}).") from None
    addresses = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrlError(f"The host {host!r} does not resolve.")
    return addresses


def assert_url_allowed(url: str, *, allow_private: bool | None = None) -> None:
    """Raise UnsafeUrlError unless `url` is http(s) with a host that resolves only to public addresses."""
    if allow_private is None:
        allow_private = settings.PARTNER_URL_ALLOW_PRIVATE
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrlError("Only http and https URLs are allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeUrlError("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeUrlError("Credentials in the URL are not allowed; the request is signed instead.")
    if allow_private:
        return
    port = port or (443 if parts.scheme == "https" else 80)
    for address in resolve_addresses(host, port):
        problem = _address_problem(address)
        if problem:
            raise UnsafeUrlError(
                f"The host {host!r} resolves to {address}, a {problem} address: partner URLs must be public."
            )
