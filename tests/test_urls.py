"""URL checking and normalisation: what dedupe and the library's <domain> folder rely on."""
from __future__ import annotations

import pytest

from webapp.core.urls import MAX_URL_LENGTH, UrlProblem, domain_of, normalise_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # scheme and host lower-cased, the path's case kept
        ("HTTP://Example.COM/Some/Path", "http://example.com/Some/Path"),
        ("HTTPS://WWW.EXAMPLE.COM/a", "https://www.example.com/a"),
        # default ports dropped, other ports kept
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),  # 80 is not https's default
        ("http://example.com:443/a", "http://example.com:443/a"),
        # fragment dropped
        ("http://example.com/a#frag", "http://example.com/a"),
        ("HTTP://Example.COM:80/a#frag", "http://example.com/a"),
        # utm_* dropped (any case), other parameters kept in order
        ("http://example.com/a?b=2&utm_source=x&a=1", "http://example.com/a?b=2&a=1"),
        ("http://example.com/a?utm_medium=m&UTM_Campaign=c", "http://example.com/a"),
        ("http://example.com/a?z=1&y=2&x=3", "http://example.com/a?z=1&y=2&x=3"),
        ("http://example.com/a?utmost=1", "http://example.com/a?utmost=1"),  # not a utm_ parameter
        ("http://example.com/p?x=&y=1", "http://example.com/p?x=&y=1"),  # blank values kept
        # the rest of the query is kept byte for byte: no "=" added, no re-encoding
        ("http://example.com/a.jpg?1234", "http://example.com/a.jpg?1234"),
        ("http://example.com/go?next=/a/b&utm_id=1", "http://example.com/go?next=/a/b"),
        ("http://example.com/s?q=caf%C3%A9+x", "http://example.com/s?q=caf%C3%A9+x"),
        # empty path becomes "/"
        ("http://example.com", "http://example.com/"),
        ("https://Example.com:443", "https://example.com/"),
        ("http://example.com?q=1", "http://example.com/?q=1"),
        # IPv6 literals stay in brackets
        ("http://[2001:DB8::1]:8080/p", "http://[2001:db8::1]:8080/p"),
        ("http://[::1]/", "http://[::1]/"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        # surrounding whitespace trimmed
        ("  http://example.com/a  ", "http://example.com/a"),
        # IPv4 and a local port as the tests' media site uses
        ("http://127.0.0.1:8123/img/1.png", "http://127.0.0.1:8123/img/1.png"),
    ],
)
def test_normalise_url(raw, expected):
    """A URL is reduced to its canonical form so the same link sent twice dedupes."""
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://example.com/a",
        "https://example.com:8443/x?b=2&a=1",
        "http://[::1]:8080/p",
    ],
)
def test_normalise_url_is_idempotent(raw):
    """Normalising a normalised URL changes nothing."""
    once = normalise_url(raw)
    assert normalise_url(once) == once


def test_normalise_url_length_limit_is_inclusive():
    """A URL of exactly the maximum length is accepted; one character more is refused."""
    prefix = "http://example.com/"
    exact = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    assert len(exact) == MAX_URL_LENGTH
    assert normalise_url(exact) == exact
    with pytest.raises(UrlProblem, match="longer than"):
        normalise_url(exact + "a")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ftp://example.com/file", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("example.com/no-scheme", "only http and https"),
        ("http:///path-only", "no host"),
        ("http://", "no host"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, "longer than"),
        ("http://exa mple.com/", "spaces or control"),
        ("http://example.com/a b", "spaces or control"),
        ("http://example.com/\ttab", "spaces or control"),
        ("http://example.com/\x00nul", "spaces or control"),
        ("http://example.com/\x1besc", "spaces or control"),
        ("http://example.com/a\nb", "spaces or control"),
        ("http://example.com/a\x7fb", "spaces or control"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http://example.com:99999/", "malformed"),
        ("http://example.com:port/", "malformed"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_normalise_url_refusals(raw, reason):
    """Unsafe or unusable URLs are refused with a reason a person can read."""
    with pytest.raises(UrlProblem, match=reason):
        normalise_url(raw)


@pytest.mark.parametrize("raw", [None, 5, b"http://example.com/", ["http://example.com/"], {"url": "x"}])
def test_normalise_url_refuses_non_strings(raw):
    """Only strings are URLs (JSON bodies can carry anything)."""
    with pytest.raises(UrlProblem, match="not a string"):
        normalise_url(raw)


def test_url_problem_is_a_value_error():
    """Callers that catch ValueError also catch a refused URL."""
    assert issubclass(UrlProblem, ValueError)


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.example.com/a", "example.com"),
        ("https://WWW.Example.COM/a", "example.com"),
        ("https://www.example.com:8080/a", "example.com"),
        ("http://example.com:8080/a", "example.com"),
        ("http://sub.example.com/", "sub.example.com"),
        ("http://www2.example.com/", "www2.example.com"),
        ("http://wwwexample.com/", "wwwexample.com"),  # only a "www." label is dropped
        ("http://127.0.0.1:8123/img/1.png", "127.0.0.1"),
        ("http://[::1]:8080/p", "::1"),
    ],
)
def test_domain_of(url, domain):
    """The library's <domain> folder: host lower-cased, without www. and without the port."""
    assert domain_of(url) == domain
