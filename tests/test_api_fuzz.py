"""Schemathesis against the in-process app: every /api/v1 resource (auth, tokens, queue,
downloads, settings, users, platforms, stats) answers no 5xx and conforms to the OpenAPI
document for generated requests (bounded: 30 examples an operation).

Driven through Hypothesis directly: schemathesis' pytest plugin does not work with pytest 9.
The live streams (/api/v1/events, /api/v1/ws) are left out: a generated request would hold
an endless stream open; tests/test_e2e_api_live.py covers them against a live server. So is
POST /api/v1/subscriptions/preview: it runs the tools' listing of the generated URL, which
would reach the network (tests/test_api_v1_subscriptions.py checks its answers and refusals
with the listing replaced, the e2e tests the real listing)."""
from __future__ import annotations

import re

import pytest

schemathesis = pytest.importorskip("schemathesis")
from conftest import API_TOKEN  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

FUZZED = re.compile(r"^/api/v1/(auth|tokens|queue|downloads|settings|users|platforms|stats|invites|upload|"
                    r"supported-platforms|subscriptions|scheduler|presets|notifications|logs)")
NOT_FUZZED = {("POST", "/api/v1/subscriptions/preview")}
# Rules the document cannot state: a tool's own switch parser, the concurrency ceiling of this
# install, cookies.txt syntax, a schedule's minimum interval, a filter pattern's syntax and a
# preset's fields (a template's text, lossless codecs without a bitrate, names taken), a preset
# named in a submission that does not exist (presets are rows admins add: no enum can list them),
# a range of the downloads' filters given backwards (shortest above longest, from after to), a notification
# target's URL (Apprise decides; a user's must be public) and targets owned by a user (not the static token),
# hourly stats over more than a month (group_by=hour with period year or all). A request that
# matches the schema can rightly get a 422 there, so "a valid request was rejected" is not checked
# for these operations (everything else is).
CHECKED_IN_SERVICES = re.compile(r"^/api/v1/(settings|users|invites|upload/base64|subscriptions|scheduler|presets|"
                                 r"queue$|downloads$|notifications|stats/timeline$|downloads/stats$)")


@pytest.mark.timeout(280)
def test_api_conforms(app, client):
    # `client` (not only `app`): it clears `g` after each request, so one request's principal
    # is never reused by the next, as in production.
    from webapp.extensions import limiter

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations
                  if FUZZED.match(op.path) and (op.method.upper(), op.path) not in NOT_FUZZED]
    assert len(operations) >= 49, [op.path for op in operations]
    limiter.enabled = False  # the login limit has its own test; here it would hide the answers
    try:
        for operation in operations:
            excluded = [positive_data_acceptance] if CHECKED_IN_SERVICES.match(operation.path) else []

            @given(case=operation.as_strategy())
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"}, excluded_checks=excluded)

            check()
    finally:
        limiter.enabled = True
