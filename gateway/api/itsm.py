"""/v1/itsm: change records from ITSM tools in, gateway requests out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from gateway.adapters.store import messaging
from gateway.api.deps import body, principal, services
from gateway.api.requests import view
from gateway.domain.identity import Principal
from gateway.pipeline.itsm import accept_servicenow
from gateway.pipeline.outbox import SERVICENOW
from gateway.services import Services

router = APIRouter(prefix="/v1/itsm", tags=["itsm"])


@router.post("/servicenow/change_request", status_code=201)
def servicenow_change_request(
    response: Response, record: Any = Depends(body), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """201 with the new request; 200 with the existing one when the record was sent before (amended if changed)."""
    rid, created = accept_servicenow(svc.runner, record, who)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/requests/{rid}"
    out = view(svc, rid, who)
    with svc.db.read() as s:
        link = messaging.link_for_request(s, request_id=rid)
    if link is not None:
        out["itsm"] = {"system": SERVICENOW, "sys_id": link.external_id, "number": link.number,
                       "requested_by": link.requested_by, **link.extra}  # fmt: skip
    return out
