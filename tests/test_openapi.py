"""The OpenAPI document at /api/v1/openapi.json and the /api/docs page."""
from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parent.parent


def test_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_document_lists_every_api_v1_route(app, client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    registered = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs."):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            registered.add((path, method.lower()))
    documented = {(path, method) for path, ops in paths.items() for method in ops
                  if method in ("get", "post", "put", "patch", "delete")}
    assert registered, "no /api/v1 routes?"
    assert registered == documented


def test_every_operation_documents_its_errors_and_auth(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            codes = set(op["responses"])
            assert codes & {"401", "422"}, (path, method, codes)
            if path not in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
                assert op.get("security") == [{"bearer": []}], (path, method)


def test_docs_page_uses_vendored_assets(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/api/v1/openapi.json" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "README.md", "haul-init.js"):
        assert (ROOT / "static" / "vendor" / "swagger-ui" / name).is_file()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_document_needs_no_session_or_csrf(client):
    """The docs page only fetches the JSON: no cookie, no token."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
