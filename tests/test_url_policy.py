"""The network policy's address rules (webapp/core/url_policy.py), as the submit-time check
and the worker's connection guard (jobs/net_guard.py) both apply them, and who the policy binds."""
from __future__ import annotations

import pytest

from webapp.core.url_policy import (
    check_known_addresses,
    check_public_url,
    known_private_reason,
    non_public_reason,
    private_addresses_allowed,
)
from webapp.errors import Forbidden, Invalid

NON_PUBLIC = [
    ("127.0.0.1", "a loopback address"),
    ("127.8.9.10", "a loopback address"),
    ("::1", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped: the IPv4 address decides
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fd00::1", "a private address"),
    ("169.254.169.254", "a link-local address"),  # cloud metadata services
    ("fe80::1%lo", "a link-local address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("198.18.0.1", "a private address"),  # benchmarking
]

# Ranges Python's ipaddress calls global (or "reserved" only by where they happen to lie) that
# do not lead to a public host: a translator or a tunnel turns them into an address inside them.
SPECIAL = [
    ("64:ff9b::7f00:1", "a NAT64 address"),  # 127.0.0.1 through a NAT64 gateway
    ("64:ff9b::a9fe:a9fe", "a NAT64 address"),  # 169.254.169.254, the metadata service
    ("64:ff9b:1::a00:1", "a local-use NAT64 address"),
    ("2002:7f00:1::1", "a 6to4 address"),  # 127.0.0.1 inside
    ("2002:808:808::1", "a 6to4 address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address"),
    ("::127.0.0.1", "an IPv4-compatible address"),
    ("fec0::1", "a site-local address"),
    ("192.88.99.1", "a 6to4 relay address"),
    ("192.31.196.1", "a special-purpose address"),
    ("192.52.193.1", "a special-purpose address"),
    ("192.175.48.1", "a special-purpose address"),
    ("2001:3::1", "a special-purpose address"),
    ("2001:4:112::1", "a special-purpose address"),
    ("2620:4f:8000::1", "a special-purpose address"),
    ("5f00::1", "a special-purpose address"),
    ("3fff::1", "a documentation address"),
]


@pytest.mark.parametrize("address,reason", SPECIAL)
def test_special_ranges_python_calls_global_are_not_public(address, reason):
    assert non_public_reason(address) == reason


@pytest.mark.parametrize("address,reason", NON_PUBLIC)
def test_non_public_addresses_are_named(address, reason):
    assert non_public_reason(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert non_public_reason(address) is None


def test_a_host_name_is_not_an_address():
    assert non_public_reason("example.com") == "not an IP address"


@pytest.mark.parametrize("url,shown", [
    ("http://127.0.0.1:8080/x.png", "127.0.0.1"),
    ("http://10.0.0.1/", "10.0.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("http://[::1]:5000/", "::1"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ("http://224.0.0.1/", "224.0.0.1"),
    ("http://0.0.0.0:8000/", "0.0.0.0"),
    ("http://100.64.0.1/", "100.64.0.1"),
])
def test_check_public_url_refuses_non_public_literals(url, shown):
    with pytest.raises(Forbidden) as refused:
        check_public_url(url)
    assert refused.value.error_code == "private_address"
    assert refused.value.status == 403
    assert f"Links to {shown} are not allowed here" in refused.value.detail


def test_check_public_url_resolves_host_names():
    """`localhost` is refused for what it resolves to (/etc/hosts, a real lookup), not its name."""
    with pytest.raises(Forbidden) as refused:
        check_public_url("http://localhost:9/video")
    assert refused.value.error_code == "private_address"
    assert "localhost (127.0.0.1)" in refused.value.detail
    assert "a loopback address" in refused.value.detail


def test_check_public_url_allows_a_public_literal():
    assert check_public_url("https://93.184.216.34/photo.jpg") is None


def test_check_public_url_refuses_a_host_that_does_not_resolve():
    with pytest.raises(Forbidden) as refused:
        check_public_url("http://no-such-host.invalid/")
    assert refused.value.error_code == "unresolvable_host"


@pytest.mark.parametrize("url,reason", [
    ("http://127.0.0.1:8080/x.png", "a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "a NAT64 address"),
    ("http://localhost:2375/containers/json", "this server itself"),
    ("http://LOCALHOST./", "this server itself"),
    ("http://api.localhost/", "this server itself"),
    ("http://10.1.2.3/admin", "a private address"),
])
def test_known_private_reason_needs_no_lookup(url, reason):
    assert known_private_reason(url) == reason


@pytest.mark.parametrize("url", ["https://93.184.216.34/a.jpg", "https://example.com/video", "http://router.lan/"])
def test_known_private_reason_leaves_names_to_the_worker(url):
    """A name is not looked up when sent (the worker checks where it really connects)."""
    assert known_private_reason(url) is None


def test_check_known_addresses_names_every_refused_url():
    with pytest.raises(Invalid) as refused:
        check_known_addresses(["https://example.com/a", "http://127.0.0.1/b", "http://[::1]/c"])
    assert refused.value.status == 422 and refused.value.error_code == "private_address"
    assert [item["url"] for item in refused.value.extra["private_urls"]] == ["http://127.0.0.1/b", "http://[::1]/c"]
    assert "Only an admin may send links to private addresses" in refused.value.detail


@pytest.mark.parametrize("trust,invite_allows,users_allowed,allowed", [
    ("admin", False, False, True),
    ("user", False, False, False),
    ("user", True, False, False),  # an invite's choice is its guests', not a user's
    ("user", False, True, True),
    ("guest", False, False, False),
    ("guest", False, True, False),  # the users' setting does not reach guests
    ("guest", True, False, True),
])
def test_who_may_reach_private_addresses(trust, invite_allows, users_allowed, allowed):
    assert private_addresses_allowed(trust, invite_allows=invite_allows, users_allowed=users_allowed) is allowed
