"""Checking and normalising the URLs people submit."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlProblem(ValueError):
    """Why a URL was refused, in words for the person who sent it."""


def normalise_url(raw: str) -> str:
    """Check a URL and return its canonical form, or raise UrlProblem.

    Scheme and host are lower-cased, the default port and the fragment dropped and
    utm_* tracking parameters removed, so the same link sent twice dedupes.
    """
    if not isinstance(raw, str):
        raise UrlProblem("not a string")
    url = raw.strip()
    if not url:
        raise UrlProblem("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise UrlProblem(f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UrlProblem("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlProblem(f"malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlProblem("only http and https URLs are accepted")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlProblem("no host")
    if "@" in parts.netloc:
        raise UrlProblem("credentials in URLs are not accepted")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # Drop utm_* pairs but keep every other pair byte for byte: servers may tell "?1234" from
    # "?1234=" or "/" from "%2F", so re-encoding the query could change what it points to.
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not pair.split("=", 1)[0].lower().startswith("utm_")
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def domain_of(url: str) -> str:
    """The host without www. and without the port: the library's <domain> folder."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
