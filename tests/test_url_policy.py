"""The guest URL policy's address rules (webapp/services/url_policy.py), as the submit-time check
and the worker's connection guard (jobs/net_guard.py) both apply them."""
from __future__ import annotations

import pytest

from webapp.errors import Forbidden
from webapp.services.url_policy import check_public_url, non_public_reason

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
    ("100.64.0.1", "a reserved or non-public address"),  # carrier-grade NAT
]


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
