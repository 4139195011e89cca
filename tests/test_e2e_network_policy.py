"""End to end: the network policy for users' links, through every way a user sends one, against a
live stack (gunicorn + the real worker and tools).

A user's links may reach public addresses only: a link whose host is known to be private is
refused when sent (422 `private_address`), one whose name leads to a private address is refused by
the worker as it connects — the local site never sees a request either way. An admin's links reach
the LAN; the admin's setting lets users through. "Public" is a second media site on 93.184.216.34,
an address the tests give to the loopback interface (conftest.public_address; needs root)."""
from __future__ import annotations

import hashlib
import socket

import pytest
import requests
from support.live_clients import signed_in_browser
from support.media_site import MediaSite
from support.stack import ROOT
from support.web import CSRF_META

REFUSAL = "refused by Haul's network policy: 127.0.0.1 is a loopback address"


@pytest.fixture(scope="module")
def public_site(public_address):
    with MediaSite(ROOT / "tests" / ".assets", host=public_address) as site:
        yield site


@pytest.fixture(scope="module")
def ivy(stack):
    """A user of the live stack: her token (every scope a user has) and a signed-in browser."""
    made = stack.session.post(stack.base_url + "/api/v1/users", json={"username": "ivy", "password": "ivy-password-1"},
                              timeout=10)
    assert made.status_code == 201, made.text
    browser = signed_in_browser(stack.base_url, "ivy", "ivy-password-1")
    pair = requests.post(stack.base_url + "/api/v1/auth/login", json={"username": "ivy", "password": "ivy-password-1"},
                         timeout=10).json()
    made = requests.post(stack.base_url + "/api/v1/tokens", json={"name": "script", "scopes": ["submit", "read"]},
                         headers={"Authorization": f"Bearer {pair['access_token']}"}, timeout=10)
    assert made.status_code == 201, made.text
    return {"headers": {"Authorization": f"Bearer {made.json()['token']}"}, "browser": browser}


def queue_as(stack, headers, url) -> requests.Response:
    return requests.post(stack.base_url + "/api/v1/queue", json={"url": url}, headers=headers, timeout=10)


def jobs_of(stack, headers) -> int:
    return requests.get(stack.base_url + "/api/v1/queue", headers=headers, timeout=10).json()["total"]


@pytest.mark.parametrize("url", [
    "/img/9401.png",  # the media site on 127.0.0.1
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:2375/containers/json",
    "http://localhost:2375/containers/json",
    "http://[64:ff9b::7f00:1]/",
])
def test_a_users_link_to_a_known_private_address_is_refused_by_every_entry_point(stack, ivy, media_site, url):
    """The attack: a user (or any of her tokens, her bookmarklet, her phone) queues the metadata
    service, the Docker API or the LAN, to read the answer back from the library."""
    url = media_site.url(url) if url.startswith("/") else url
    before = jobs_of(stack, ivy["headers"])
    answers = {
        "api": queue_as(stack, ivy["headers"], url),
        "seed": requests.post(stack.base_url + "/downloads", json={"urls": [url]}, headers=ivy["headers"], timeout=10),
        "shortcut": requests.post(stack.base_url + "/api/v1/upload/url", json={"url": url}, headers=ivy["headers"],
                                  timeout=10),
    }
    for entry, answer in answers.items():
        assert answer.status_code == 422, (entry, answer.text)
        body = answer.json()
        assert body["error_code"] == "private_address" and "Only an admin" in body["detail"], entry
    browser = ivy["browser"]
    csrf = CSRF_META.search(browser.get(stack.base_url + "/account", timeout=10).text).group(1)
    popup = browser.post(stack.base_url + "/send", data={"csrf_token": csrf, "url": url}, timeout=10)
    assert popup.status_code == 422 and "Only an admin may send links to private addresses" in popup.text
    form = browser.post(stack.base_url + "/queue/add", data={"csrf_token": csrf, "urls": url}, timeout=10,
                        headers={"HX-Request": "true"})
    assert form.status_code == 422 and "Only an admin may send links to private addresses" in form.text
    assert jobs_of(stack, ivy["headers"]) == before
    assert media_site.count("/img/9401.png") == 0


def test_a_users_link_by_a_name_that_leads_here_is_refused_by_the_worker(stack, ivy, media_site):
    """A host name is not looked up when sent: the worker refuses the connection it would make,
    and the local site never sees the request."""
    name = socket.gethostname()
    assert socket.gethostbyname(name) == "127.0.0.1", "this test needs the machine's own name to lead to 127.0.0.1"
    url = f"http://{name}:{media_site.port}/img/9402.png"
    queued = queue_as(stack, ivy["headers"], url)
    assert queued.status_code == 201, queued.text
    job = stack.wait_for_job(queued.json()["jobs"][0]["id"], timeout=60)
    assert job["status"] == "failed" and job["attempts"] == 1, job
    # The tool looked the name up itself and connected to what it found: that address is refused.
    assert job["error"] == f"Connection to 127.0.0.1 port {media_site.port} {REFUSAL}"
    assert job["files"] == []
    assert media_site.count("/img/9402.png") == 0


@pytest.mark.parametrize("path,expected", [
    ("/img/9403.png", lambda site: site.png_bytes(9403)),
    ("/media/clip9404.mp4", lambda site: site.clip_bytes(9404)),
])
def test_a_users_public_link_downloads(stack, ivy, public_site, path, expected):
    queued = queue_as(stack, ivy["headers"], public_site.url(path))
    assert queued.status_code == 201, queued.text
    job = stack.wait_for_job(queued.json()["jobs"][0]["id"], timeout=60)
    assert job["status"] == "completed", job
    [record] = job["files"]
    assert record["sha256"] == hashlib.sha256(expected(public_site)).hexdigest()


@pytest.fixture
def users_may_reach_private_addresses(stack):
    with stack.users_may_reach_private_addresses():
        assert stack.session.get(stack.base_url + "/api/v1/settings", timeout=10).json()[
            "settings"]["users_private_addresses"]["value"] is True
        yield


def test_the_admins_setting_lets_users_reach_the_lan(stack, ivy, media_site, users_may_reach_private_addresses):
    queued = queue_as(stack, ivy["headers"], media_site.url("/img/9405.png"))
    assert queued.status_code == 201, queued.text
    job = stack.wait_for_job(queued.json()["jobs"][0]["id"], timeout=60)
    assert job["status"] == "completed", job
    assert media_site.count("/img/9405.png") == 1


def test_an_admins_lan_link_downloads(stack, media_site):
    job_id = stack.submit([media_site.url("/img/9406.png")])["jobs"][0]["id"]
    assert stack.wait_for_job(job_id)["status"] == "completed"
    assert media_site.count("/img/9406.png") == 1
