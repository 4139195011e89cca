"""Schemathesis against the in-process app: the /api/v1 auth, token and queue endpoints answer no
5xx and conform to the OpenAPI document for generated requests (bounded: ~40 examples each).

Driven through Hypothesis directly: schemathesis' pytest plugin does not work with pytest 9."""
from __future__ import annotations

import re

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from conftest import API_TOKEN  # noqa: E402

FUZZED = re.compile(r"^/api/v1/(auth|tokens|queue)")


@pytest.mark.timeout(120)
def test_api_conforms(app):
    from webapp.extensions import limiter

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if FUZZED.match(op.path)]
    assert len(operations) >= 9
    limiter.enabled = False  # the login limit has its own test; here it would hide the answers
    try:
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"})

            check()
    finally:
        limiter.enabled = True
