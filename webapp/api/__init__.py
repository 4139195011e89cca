"""The JSON API under /api/v1 for machine clients (bearer tokens), documented by flask-smorest.

The marshmallow schemas in webapp/api/schemas/ (one module per area) validate the requests and describe them in the
OpenAPI 3 document served at /api/v1/openapi.json; /api/docs shows it with the vendored Swagger UI.
"""
from __future__ import annotations

import re

from flask import Flask, current_app
from flask_smorest import Api, Blueprint

from webapp.api.schemas import ApiErrorSchema
from webapp.extensions import csrf


class HaulBlueprint(Blueprint):
    def arguments(self, schema, *args, **kwargs):
        """As smorest's, with the schema instantiated once here: given a class, webargs would
        build a new schema on every request (measured: 4 % of a POST /api/v1/queue)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


bp = HaulBlueprint("api", __name__, description="Haul's machine API")
csrf.exempt(bp)  # bearer tokens only, no cookies: nothing for a forged form to ride on

API_DESCRIPTION = """Haul's machine API. Authenticate with `Authorization: Bearer <token>`: a personal
token (Settings → Account, or POST /api/v1/tokens), an access token from POST /api/v1/auth/login,
or the server's HAUL_API_TOKEN. Errors are JSON `{"detail", "error_code", "request_id"}`."""


class HaulApi(Api):
    _plain_routes_documented = False

    @property
    def ERROR_SCHEMA(self):  # noqa: N802  (smorest's name) the default/422 responses in Haul's shape

        return ApiErrorSchema

    def _register_error_handlers(self):
        # webapp/error_pages.py answers every error (JSON with request_id under /api/); smorest's
        # own HTTPException handler would replace it for the whole app.
        pass

    def _openapi_json(self):
        if not self._plain_routes_documented:
            self._document_plain_routes()
            self._plain_routes_documented = True
        return super()._openapi_json()

    def _document_plain_routes(self):
        """Routes under /api/v1 that are not on a smorest blueprint (the SSE stream and the
        WebSocket of webapp/live_api) get a minimal entry, so the document lists every route."""
        documented = self.spec.to_dict().get("paths", {})
        for rule in current_app.url_map.iter_rules():
            if not rule.rule.startswith("/api/v1/") or rule.endpoint.split(".")[0] in ("api", "api-docs"):
                continue
            path = re.sub(r"<(?:([a-z]+):)?([a-z_]+)>", r"{\2}", rule.rule)
            view = current_app.view_functions.get(rule.endpoint)
            doc = (view.__doc__ or "").strip().splitlines() if view else []
            is_ws = rule.rule.endswith("/ws")
            responses = {"401": {"description": "No valid token",
                                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}}
            if is_ws:
                responses["101"] = {"description": "Switching to the WebSocket protocol"}
            else:
                responses["200"] = {"description": "A text/event-stream of events",
                                    "content": {"text/event-stream": {"schema": {"type": "string"}}}}
            operations = {}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method.lower() in documented.get(path, {}):
                    continue
                operations[method.lower()] = {
                    "summary": doc[0] if doc else rule.endpoint,
                    "tags": ["live"],
                    "security": [{"bearer": []}],
                    "parameters": [{"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                                   for arg in sorted(rule.arguments)],
                    "responses": responses,
                }
            if operations:
                self.spec.path(rule=rule, operations=operations)


def init_api(app: Flask) -> HaulApi:
    # The resource modules put their routes on `bp`, which they import from this module: they
    # can only be imported once it is complete (Flask's usual blueprint pattern).
    from webapp.api import (  # noqa: F401  (routes on bp)
        auth,
        backups,
        downloads,
        invites,
        library,
        logs,
        notifications,
        presets,
        queue,
        queue_run,
        scheduler,
        settings,
        shortcuts,
        stats,
        subscriptions,
        system,
        tokens,
        users,
    )

    app.config.setdefault("API_TITLE", "Haul")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = HaulApi(app, spec_kwargs={
        "info": {"description": API_DESCRIPTION},
        "servers": [{"url": "/"}],
    })
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "A Haul token"})
    api.register_blueprint(bp, url_prefix="/api/v1")
    app.register_blueprint(docs_bp)
    return api


from flask import Blueprint as FlaskBlueprint  # noqa: E402
from flask import render_template

docs_bp = FlaskBlueprint("api_docs", __name__)


@docs_bp.get("/api/docs")
def api_docs():
    """The browsable API reference; it only fetches /api/v1/openapi.json (no cookies needed)."""
    return render_template("api/docs.html")
