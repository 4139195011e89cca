"""The guest URL policy: guests may only send links to public addresses.

A link from a guest must not make Haul fetch something on the local network (the router's
admin page, a cloud metadata service at 169.254.169.254, Haul itself). The check runs twice:
here when the link is submitted (every address the host resolves to must be public), and in
the worker on every connection the download tools open (jobs/net_guard.py), so a host that
resolves differently later (DNS rebinding) or redirects to a private address is refused too.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from webapp.errors import Forbidden


def non_public_reason(address: str) -> str | None:
    """Why an IP address is not a public one a guest's link may reach, or None when it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved or non-public address"
    return None


def resolve(host: str, port: int | None = None) -> list[str]:
    """Every address a host name resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port or 80, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})


def check_public_url(url: str) -> None:
    """Raise Forbidden (error_code "private_address") unless every address of the URL's host
    is public; an unresolvable host is refused as well (error_code "unresolvable_host")."""
    parts = urlsplit(url)
    host = (parts.hostname or "").strip("[]")
    try:
        addresses = resolve(host, parts.port)
    except (OSError, UnicodeError, ValueError):
        raise Forbidden(f"The address of {host!r} could not be found", error_code="unresolvable_host") from None
    for address in addresses:
        reason = non_public_reason(address)
        if reason:
            shown = host if host == address else f"{host} ({address})"
            raise Forbidden(f"Links to {shown} are not allowed here: it is {reason}",
                            error_code="private_address")
