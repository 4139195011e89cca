"""Per-site cookies.txt files: checked, kept under <data_dir>/cookies/, matched to a job's site.

An admin uploads a Netscape cookies.txt (what browser "export cookies" add-ons write) for a
site such as example.com. The file is checked line by line, normalised (header, LF line
endings) and stored as `<data_dir>/cookies/example.com.txt`, readable only by Haul's user.
A job for example.com or any subdomain of it (media.example.com) gets the most specific
file its submitter may use (webapp/services/admin/cookie_access.py); gallery-dl and yt-dlp load it
themselves.
"""
from __future__ import annotations

import ipaddress
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from webapp.errors import Invalid, NotFound

MAX_BYTES = 512 * 1024
HEADER = "# Netscape HTTP Cookie File"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_BOOL = ("TRUE", "FALSE")


@dataclass(frozen=True)
class Cookie:
    domain: str  # without the leading dot and #HttpOnly_ prefix
    name: str
    expires: int  # 0: a session cookie


@dataclass(frozen=True)
class CookieFile:
    site: str
    path: Path
    size: int
    modified: datetime
    cookies: int
    expired: int


def cookies_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "cookies"


def normalise_site(text: str) -> str:
    """A site as typed ("https://www.Example.com/x", "example.com") -> "example.com"; Invalid if not a host."""
    site = (text or "").strip().lower()
    site = re.sub(r"^[a-z][a-z0-9+.-]*://", "", site)
    site = site.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if site.startswith("[") and "]" in site:  # [IPv6]:port
        site = site[1:site.index("]")]
    elif site.count(":") == 1:
        site = site.split(":", 1)[0]
    site = site.strip(".")
    if site.startswith("www."):
        site = site[4:]
    if not site:
        raise Invalid("Enter the site the cookies are for, e.g. example.com", error_code="invalid_site")
    try:
        return str(ipaddress.ip_address(site))
    except ValueError:
        pass
    try:
        site = site.encode("idna").decode("ascii")
    except UnicodeError:
        raise Invalid(f"{text!r} is not a site name", error_code="invalid_site") from None
    labels = site.split(".")
    if len(site) > 253 or not all(_LABEL.match(label) for label in labels):
        raise Invalid(f"{text!r} is not a site name", error_code="invalid_site")
    if len(labels) < 2 and site != "localhost":
        raise Invalid(f"{text!r} is a top-level domain; enter a site such as example.com", error_code="invalid_site")
    return site


def parse(text: str) -> list[Cookie]:
    """The cookies of a Netscape cookies.txt; Invalid naming the first bad line."""
    cookies = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip("\r\n")
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_"):]
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) == 6:  # an empty value at the end of the line is sometimes cut off
            fields.append("")
        if len(fields) != 7:
            raise Invalid(
                f"Line {number} is not a Netscape cookie line (7 fields separated by tabs; found {len(fields)})",
                error_code="invalid_cookies",
            )
        domain, flag, path, secure, expires, name, _value = fields
        if not domain.strip(".") or flag.upper() not in _BOOL or secure.upper() not in _BOOL:
            raise Invalid(f"Line {number}: expected domain, TRUE/FALSE, path, TRUE/FALSE, expiry, name, value",
                          error_code="invalid_cookies")
        if not path.startswith("/"):
            raise Invalid(f"Line {number}: the path must start with /", error_code="invalid_cookies")
        try:
            expiry = int(expires or 0)
        except ValueError:
            raise Invalid(f"Line {number}: the expiry must be a whole number (seconds since 1970), got {expires!r}",
                          error_code="invalid_cookies") from None
        if not name:
            raise Invalid(f"Line {number}: the cookie has no name", error_code="invalid_cookies")
        cookies.append(Cookie(domain=domain.lower().lstrip("."), name=name, expires=expiry))
    if not cookies:
        raise Invalid("The file holds no cookies (is it a Netscape cookies.txt?)", error_code="invalid_cookies")
    return cookies


def _matches(cookie_domain: str, site: str) -> bool:
    """A cookie for the site, a parent of it (.example.com) or one of its subdomains."""
    return (cookie_domain == site or site.endswith("." + cookie_domain)
            or cookie_domain.endswith("." + site))


def guess_site(cookies: list[Cookie]) -> str | None:
    """The site every cookie in the file belongs to, when there is exactly one."""
    domains = {c.domain[4:] if c.domain.startswith("www.") else c.domain for c in cookies}
    shortest = min(domains, key=len)
    if all(_matches(d, shortest) for d in domains):
        try:
            return normalise_site(shortest)
        except Invalid:
            return None
    return None


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise Invalid(f"Cookie files are at most {MAX_BYTES // 1024} KB", error_code="invalid_cookies")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not text (a cookies.txt is UTF-8 text)", error_code="invalid_cookies") from None


def store(data_dir: Path, data: bytes, site: str | None = None) -> CookieFile:
    """Check an uploaded cookies.txt and keep it for `site` (guessed from the cookies if empty).

    Replaces the site's earlier file. Refused when no cookie in it is for that site.
    """
    text = _decode(data)
    cookies = parse(text)
    if site and site.strip():
        site = normalise_site(site)
    else:
        site = guess_site(cookies)
        if site is None:
            raise Invalid("The cookies are for several sites: enter which site this file is for",
                          error_code="invalid_site")
    if not any(_matches(c.domain, site) for c in cookies):
        found = ", ".join(sorted({c.domain for c in cookies})[:5])
        raise Invalid(f"None of the cookies are for {site} (they are for {found})", error_code="invalid_cookies")
    lines = [line.rstrip("\r") for line in text.splitlines()]
    if not any(line.startswith(("# Netscape HTTP Cookie File", "# HTTP Cookie File")) for line in lines[:3]):
        lines.insert(0, HEADER)
    folder = cookies_dir(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"{site}.txt"
    temporary = folder / f".{site}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(temporary, target)  # a job starting now reads the old file or the new one, whole
    return describe(target)


def describe(path: Path) -> CookieFile:
    stat = path.stat()
    now = time.time()
    try:
        cookies = parse(path.read_text(encoding="utf-8"))
    except (Invalid, OSError, UnicodeDecodeError):
        cookies = []
    return CookieFile(
        site=path.name.removesuffix(".txt"),
        path=path,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc),
        cookies=len(cookies),
        expired=sum(1 for c in cookies if c.expires and c.expires < now),
    )


def list_files(data_dir: Path) -> list[CookieFile]:
    """Every stored cookie file, by site name."""
    folder = cookies_dir(data_dir)
    if not folder.is_dir():
        return []
    return [describe(p) for p in sorted(folder.glob("*.txt")) if not p.name.startswith(".")]


def delete(data_dir: Path, site: str) -> None:
    """Remove the cookie file of `site`."""
    site = normalise_site(site)
    path = cookies_dir(data_dir) / f"{site}.txt"
    try:
        path.unlink()
    except FileNotFoundError:
        raise NotFound(f"There is no cookie file for {site}", error_code="cookies_not_found") from None


def files_for(data_dir: Path, domain: str | None) -> list[Path]:
    """Every cookie file that covers a job's domain, the nearest first (its own, then its parents')."""
    if not domain:
        return []
    folder = cookies_dir(data_dir)
    host = domain.lower().strip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        ipaddress.ip_address(host)
        candidates = [host]
    except ValueError:
        labels = host.split(".")
        candidates = [".".join(labels[i:]) for i in range(len(labels))]
    found = []
    for candidate in candidates:
        if not candidate or candidate.startswith("."):
            continue
        path = folder / f"{candidate}.txt"
        if path.is_file():
            found.append(path)
    return found
