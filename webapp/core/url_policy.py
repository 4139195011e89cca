"""The network policy: who may make Haul fetch what, judged by the address a link leads to.

A link must not make Haul fetch something on the server's own network (the router's admin
page, a cloud metadata service at 169.254.169.254, a Docker API on the LAN, Haul itself) for
someone who should not reach it. Only admins may: everyone else — users, their tokens, the
bookmarklet and share sheet, guests — gets public addresses only, unless an admin allows users
private ones (a setting) or an invite allows its guests them.

The check runs twice: here when the link is submitted (refused at once where the address is
already known: an IP literal or a name such as localhost), and in the worker on every
connection the download tools open (jobs/net_guard.py), so a host that resolves to a private
address, resolves differently later (DNS rebinding) or redirects to one is refused too.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from webapp.core.vocabulary import ADMIN_TRUST, GUEST_TRUST
from webapp.errors import Forbidden, Invalid

# Ranges Python's ipaddress calls global (or only "reserved" by accident of where they lie) that
# lead somewhere other than a public host, checked before Python's own classification.
_SPECIAL_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        # A translator turns these into the IPv4 address inside them, which may be private.
        ("64:ff9b::/96", "a NAT64 address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("2002::/16", "a 6to4 address"),
        ("2001::/32", "a Teredo address"),
        ("::/96", "an IPv4-compatible address"),
        ("fec0::/10", "a site-local address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        # Infrastructure anycast (AS112, AMT) and segment routing: no web host lives there.
        ("192.31.196.0/24", "a special-purpose address"),
        ("192.52.193.0/24", "a special-purpose address"),
        ("192.175.48.0/24", "a special-purpose address"),
        ("2001:3::/32", "a special-purpose address"),
        ("2001:4:112::/48", "a special-purpose address"),
        ("2620:4f:8000::/48", "a special-purpose address"),
        ("5f00::/16", "a special-purpose address"),
        ("3fff::/20", "a documentation address"),
    )
)
# Names that lead to this machine whatever DNS says (RFC 6761).
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def non_public_reason(address: str) -> str | None:
    """Why an IP address is not a public one a restricted job may reach, or None when it is."""
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
    for network, reason in _SPECIAL_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
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
    is public; an unresolvable host is refused as well (error_code "unresolvable_host").

    For guests, whose links are few: their host names are looked up when sent."""
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


def known_private_reason(url: str) -> str | None:
    """Why the URL's host is not public when that is known without a DNS lookup (an IP literal,
    localhost); None otherwise. The worker checks every other host as it connects."""
    host = (urlsplit(url).hostname or "").strip("[]").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return "this server itself"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return non_public_reason(host)


def check_known_addresses(urls: list[str]) -> None:
    """Raise Invalid (422, error_code "private_address") naming every URL whose host is known
    to be non-public; nothing is queued then."""
    refused = []
    for url in urls:
        reason = known_private_reason(url)
        if reason:
            refused.append({"url": url, "reason": f"it leads to {reason}"})
    if refused:
        listing = "; ".join(f"{item['url'][:100]}: {item['reason']}" for item in refused)
        raise Invalid(f"Only an admin may send links to private addresses: {listing}",
                      error_code="private_address", extra={"private_urls": refused})


def private_addresses_allowed(trust: str, invite_allows: bool, users_allowed: bool) -> bool:
    """May jobs submitted with this trust reach private addresses?

    An admin's always; a guest's when the invite allows it; a user's when the admin's setting
    does (`users_allowed`, webapp/services/admin/runtime_settings.py)."""
    if trust == ADMIN_TRUST:
        return True
    if trust == GUEST_TRUST:
        return invite_allows
    return users_allowed
