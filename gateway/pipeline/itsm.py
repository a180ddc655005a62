"""ServiceNow change_request records in: a gateway request out, linked to the record it reports back to.

The same record sent again (ServiceNow business rules retry) is the same request; a record whose content changed
amends the request while it waits for approval, which voids earlier votes like any amendment."""

from __future__ import annotations

from typing import Any

import rfc8785
from sqlalchemy.exc import IntegrityError

from gateway.adapters.store import messaging
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.models import ItsmLink
from gateway.domain.identity import Principal, Role
from gateway.domain.servicenow import map_errors, to_envelope
from gateway.errors import Conflict, Forbidden, InvalidRequest
from gateway.pipeline.outbox import SERVICENOW
from gateway.pipeline.recording import content_hash
from gateway.pipeline.runner import Runner

INTEGRATORS = frozenset({Role.INTEGRATION, Role.ADMIN})


def accept_servicenow(runner: Runner, record: Any, principal: Principal) -> tuple[str, bool]:
    """Returns the request id and whether it was created now."""
    if principal.role not in INTEGRATORS:
        raise Forbidden(f"role '{principal.role}' cannot submit ServiceNow records; an integration token can")
    envelope, link = to_envelope(record, assignment_groups=runner.source().assignment_groups)
    try:
        envelope = runner.validated(envelope, principal)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, errors=map_errors(exc.errors, record)) from None
    with runner.db.read() as s:
        existing = messaging.link_by_external_id(s, system=SERVICENOW, external_id=link.sys_id)
        current = repo.get_request(s, request_id=existing.request_id) if existing else None
    if existing is not None and current is not None:
        if current.content_hash != content_hash(envelope):
            runner.amend(existing.request_id, envelope, principal)
        return existing.request_id, False
    row = ItsmLink(
        request_id="", system=SERVICENOW, external_id=link.sys_id, number=link.number,
        requested_by=link.requested_by, extra=link.extra, record_hash=_record_hash(record),
    )  # fmt: skip
    try:
        rid = runner.submit(None, principal, on_behalf_of=link.requested_by, link=row, envelope=envelope)
    except IntegrityError:
        raise Conflict(f"ServiceNow record {link.sys_id} is being submitted by another call; retry") from None
    return rid, True


def _record_hash(record: dict[str, Any]) -> str:
    try:
        return content_hash(record)
    except rfc8785.CanonicalizationError:
        return ""
