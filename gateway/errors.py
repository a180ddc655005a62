"""One exception tree. The API maps each class to an RFC 9457 problem; the CLI prints its title and detail."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status = 500
    title = "Gateway error"
    type_slug = "gateway-error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class InvalidRequest(GatewayError):
    status = 422
    title = "The request is invalid"
    type_slug = "invalid-request"


class Unauthenticated(GatewayError):
    status = 401
    title = "Authentication required"
    type_slug = "unauthenticated"


class Forbidden(GatewayError):
    status = 403
    title = "Not allowed"
    type_slug = "forbidden"


class NotFound(GatewayError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(GatewayError):
    status = 409
    title = "Conflict with the request's current state"
    type_slug = "conflict"


class Unavailable(GatewayError):
    """A dependency is down. The gateway fails closed: nothing is approved or executed; the client retries."""

    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"


class PolicyUnavailable(Unavailable):
    title = "Policy engine unavailable"
    type_slug = "policy-unavailable"


class DatabaseUnavailable(Unavailable):
    title = "Database unavailable"
    type_slug = "database-unavailable"


class CloudError(GatewayError):
    status = 502
    title = "Cloud call failed"
    type_slug = "cloud-error"


class CloudUnavailable(Unavailable):
    """The cloud kept throttling or failing (5xx, no answer) beyond every retry; the step is tried again later."""

    title = "Cloud unavailable"
    type_slug = "cloud-unavailable"
