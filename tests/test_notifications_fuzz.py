"""Schemathesis against /api/v1/notifications with a user's token (the shared fuzz test uses the
static token, which owns no targets): no 5xx, and answers that conform to the OpenAPI document.

"A valid request was rejected" is not checked: whether a URL is one Apprise understands, whether
a user's URL leads to public addresses and who may pick which event are the service's rules."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402


@pytest.mark.timeout(200)
def test_the_notifications_api_conforms_for_a_user(app, client, api_callers):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith("/api/v1/notifications")]
    assert len(operations) == 7, [op.path for op in operations]
    for headers in (api_callers["user"], api_callers["admin"]):
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case):
                case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

            check()
