"""Request-scoped helpers: the services, the authenticated principal, role checks, request bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import yaml
from fastapi import Request

from gateway.domain.identity import TOKEN_PREFIX, Principal, Role
from gateway.errors import Forbidden, InvalidRequest, Unauthenticated
from gateway.pipeline import tokens

if TYPE_CHECKING:
    from gateway.services import Services

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def services(request: Request) -> Services:
    return request.app.state.services


def principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "send `Authorization: Bearer <token>` (create one with `govgate tokens create`)"
        )
    token = token.strip()
    svc = services(request)
    # Local tokens carry a recognisable prefix; anything else is a JWT when OIDC is configured.
    if token.startswith(TOKEN_PREFIX) or svc.oidc is None:
        return tokens.authenticate(svc.db, token)
    return svc.oidc.verify(token)


def require(p: Principal, roles: frozenset[Role], action: str) -> None:
    if p.role not in roles:
        allowed = ", ".join(sorted(str(r) for r in roles))
        raise Forbidden(f"role '{p.role}' cannot {action}; allowed: {allowed}")


async def body(request: Request) -> Any:
    """JSON or YAML, chosen by Content-Type; a parse error is a 422 like any other invalid input."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not raw.strip():
        raise InvalidRequest(
            "the body is empty", errors=[{"pointer": "", "detail": "a request body is required"}]
        )
    try:
        if ctype in YAML_TYPES:
            return yaml.safe_load(raw)
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "YAML" if ctype in YAML_TYPES else "JSON"
        raise InvalidRequest(
            f"the body is not valid {kind}", errors=[{"pointer": "", "detail": str(exc).splitlines()[0]}]
        ) from exc
