"""What every /api/v1 module shares: documented error responses, id bounds, pagination headers."""
from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import request

from webapp.api import bp
from webapp.api.schemas import ApiErrorSchema
from webapp.errors import Invalid
from webapp.models.base import MAX_ROW_ID

MAX_ID = MAX_ROW_ID  # a larger id in the URL is not there: 404
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200


def document_errors(*statuses):
    """Add Haul's error shape to the OpenAPI document for each of these statuses."""
    def decorator(view):
        for status in statuses:
            view = bp.alt_response(status, schema=ApiErrorSchema, description="Error")(view)
        return view
    return decorator


@dataclass(frozen=True)
class Page:
    """One page of a list: which rows to read, and the headers that tell a client where it is."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def headers(self, total: int) -> dict[str, str]:
        """X-Total-Count and an RFC 8288 Link header with first/prev/next/last."""
        last = max(1, math.ceil(total / self.per_page))
        links = {"first": 1, "last": last}
        if self.page > 1:
            links["prev"] = min(self.page - 1, last)
        if self.page < last:
            links["next"] = self.page + 1
        args = request.args.to_dict(flat=False)
        args.pop("token", None)  # a token sent in the query string must not be echoed into links

        def url(number: int) -> str:
            args["page"], args["per_page"] = [str(number)], [str(self.per_page)]
            return f"{request.path}?{urlencode(args, doseq=True)}"

        link = ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in links.items())
        return {"X-Total-Count": str(total), "Link": link}

    def body(self, items: list, total: int) -> dict:
        """The envelope every list answers: the items and where this page is."""
        return {"items": items, "total": total, "page": self.page, "per_page": self.per_page,
                "pages": max(1, math.ceil(total / self.per_page))}


def page_from_args(args=None) -> Page:
    """`page` (from 1) and `per_page` (1–200, default 50) from the query string; 422 when off."""
    args = request.args if args is None else args
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", DEFAULT_PER_PAGE))
    except (TypeError, ValueError):
        raise Invalid("page and per_page must be whole numbers", error_code="invalid_pagination") from None
    if page < 1 or page > 10**9:
        raise Invalid("page starts at 1", error_code="invalid_pagination")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise Invalid(f"per_page must be between 1 and {MAX_PER_PAGE}", error_code="invalid_pagination")
    return Page(page, per_page)
