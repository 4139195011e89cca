"""Domain errors. Services raise them; the API turns them into JSON, pages into messages."""
from __future__ import annotations


class HaulError(Exception):
    status = 400
    error_code = "bad_request"

    def __init__(self, detail: str, *, error_code: str | None = None, status: int | None = None, extra=None):
        super().__init__(detail)
        self.detail = detail
        if error_code:
            self.error_code = error_code
        if status:
            self.status = status
        self.extra = extra or {}

    def to_dict(self) -> dict:
        return {"detail": self.detail, "error_code": self.error_code, **self.extra}


class BadRequest(HaulError):
    status, error_code = 400, "bad_request"


class Unauthorized(HaulError):
    status, error_code = 401, "unauthorized"


class Forbidden(HaulError):
    status, error_code = 403, "forbidden"


class NotFound(HaulError):
    status, error_code = 404, "not_found"


class Conflict(HaulError):
    status, error_code = 409, "conflict"


class Invalid(HaulError):
    status, error_code = 422, "validation_error"


class TooManyRequests(HaulError):
    """A rate limit was reached; `retry_after` is how many seconds until the next try counts."""

    status, error_code = 429, "rate_limited"

    def __init__(self, detail: str, *, retry_after: int = 60, error_code: str | None = None, extra=None):
        super().__init__(detail, error_code=error_code, extra={"retry_after": retry_after, **(extra or {})})
        self.retry_after = retry_after
