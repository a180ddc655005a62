"""ServiceNow change_request records in: a gateway request out, linked to the record it reports back to.

The same record sent again (ServiceNow business rules retry) is the same request; a record whose content changed
amends the request while it waits for approval, which voids earlier votes like any amendment. A revised record
whose request was rejected, expired or cancelled makes a new request, and the link moves to it. A record may not
change who requested it (requested_by is barred from approving, so it is part of the request)."""

from __future__ import annotations

from typing import Any

import rfc8785
from sqlalchemy.exc import IntegrityError

from gateway.adapters.store import messaging
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.models import ItsmLink
from gateway.domain.identity import Principal, Role
from gateway.domain.servicenow import ServiceNowLink, map_errors, to_envelope
from gateway.domain.states import State
from gateway.errors import Conflict, Forbidden, InvalidRequest
from gateway.pipeline.outbox import SERVICENOW
from gateway.pipeline.recording import content_hash
from gateway.pipeline.runner import Runner

INTEGRATORS = frozenset({Role.INTEGRATION, Role.ADMIN})
# Closed without running: a revised record sent again becomes a new request (see domain.servicenow.STATE_MAP).
RESUBMITTABLE = frozenset({State.REJECTED, State.EXPIRED, State.CANCELLED})


def accept_servicenow(runner: Runner, record: Any, principal: Principal) -> tuple[str, bool]:
    """Returns the request id and whether it was created now."""
    if principal.role not in INTEGRATORS:
        raise Forbidden(f"role '{principal.role}' cannot submit ServiceNow records; an integration token can")
    source = runner.source()
    envelope, link = to_envelope(
        record, assignment_groups=source.assignment_groups, users=source.servicenow_users
    )
    with runner.db.read() as s:
        existing = messaging.link_by_external_id(s, system=SERVICENOW, external_id=link.sys_id)
        current = repo.get_request(s, request_id=existing.request_id) if existing else None
    if current is not None and current.requester != principal.id and principal.role != Role.ADMIN:
        # Another integration's record: it may neither read, amend nor take over that request.
        raise Forbidden(f"ServiceNow record {link.sys_id} belongs to another integration")
    if existing is not None and current is not None and _hash(envelope) == current.content_hash:
        # The same record again (a retry): the same request, checked when it was first sent. Not checked again,
        # so a retry after the change window has closed still finds it instead of a 422.
        _same_requester(existing, link)
        return existing.request_id, False
    try:
        envelope = runner.validated(envelope, principal)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, errors=map_errors(exc.errors, record)) from None
    if existing is not None and current is not None and current.state not in RESUBMITTABLE:
        _same_requester(existing, link)
        runner.amend(existing.request_id, envelope, principal)
        return existing.request_id, False
    if existing is not None:
        # A revised record after its request was rejected (ServiceNow put it back to New), expired or was
        # cancelled: a new request, and the link moves to it (compare-and-set in messaging.add_link).
        row = existing
        row.number, row.requested_by, row.extra = link.number, link.requested_by, link.extra
        row.record_hash = _record_hash(record)
    else:
        row = ItsmLink(
            request_id="", system=SERVICENOW, external_id=link.sys_id, number=link.number,
            requested_by=link.requested_by, extra=link.extra, record_hash=_record_hash(record),
        )  # fmt: skip
    try:
        rid = runner.submit(None, principal, on_behalf_of=link.requested_by, link=row, envelope=envelope)
    except IntegrityError:
        raise Conflict(f"ServiceNow record {link.sys_id} is being submitted by another call; retry") from None
    return rid, True


def _same_requester(existing: ItsmLink, link: ServiceNowLink) -> None:
    """The request keeps the person it was raised for (separation of duties): a record whose requested_by
    changed would otherwise let the new requested_by approve the change, or the old one stay barred."""
    if existing.requested_by != link.requested_by:
        raise Conflict(
            f"ServiceNow record {link.sys_id} was requested by {existing.requested_by!r} and now names "
            f"{link.requested_by!r}; request {existing.request_id} keeps the person it was raised for, so raise a "
            "new change record for another requester",
            errors=[{"pointer": "/requested_by", "detail": f"must stay {existing.requested_by!r}"}],
            request_id=existing.request_id,
        )


def _record_hash(record: dict[str, Any]) -> str:
    return _hash(record) or ""


def _hash(doc: dict[str, Any]) -> str | None:
    try:
        return content_hash(doc)
    except rfc8785.CanonicalizationError:
        return None
