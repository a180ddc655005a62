"""/v1/requests and /v1/evaluate."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict

from gateway.adapters.store import repositories as repo
from gateway.api.deps import body, principal, require, services
from gateway.api.views import request_view
from gateway.domain.identity import SUBMITTERS, Principal
from gateway.domain.states import State
from gateway.errors import Conflict, GatewayError
from gateway.pipeline import approve
from gateway.services import Services

log = logging.getLogger("gateway.api")
router = APIRouter(prefix="/v1", tags=["requests"])


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["approve", "reject"]
    comment: str = ""


def _view(svc: Services, request_id: str) -> dict[str, Any]:
    with svc.db.read() as s:
        req = repo.get_request(s, request_id=request_id)
        votes = repo.votes(s, request_id=request_id, content_hash=req.content_hash)
    return request_view(req, votes)


@router.post("/requests", status_code=201)
def submit(
    response: Response, doc: Any = Depends(body), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    require(who, SUBMITTERS, "submit requests")
    rid = svc.runner.submit(doc, who)
    response.headers["Location"] = f"/v1/requests/{rid}"
    return _view(svc, rid)


@router.post("/evaluate")
def evaluate(
    doc: Any = Depends(body), who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require(who, SUBMITTERS, "evaluate requests")
    return svc.runner.dry_run(doc, who).model_dump()


@router.get("/requests")
def list_requests(
    state: State | None = None,
    team: str | None = None,
    since: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with svc.db.read() as s:
        rows = repo.list_requests(s, state=state, team=team, since=since, limit=limit, offset=offset)
        items = [request_view(r, repo.votes(s, request_id=r.id, content_hash=r.content_hash)) for r in rows]
    return {"items": items, "limit": limit, "offset": offset}


@router.get("/requests/{request_id}")
def read_request(
    request_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    return _view(svc, request_id)


@router.post("/requests/{request_id}/approvals", status_code=201)
def vote(
    request_id: str, vote: VoteIn, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    state = approve.vote(
        svc.db, request_id=request_id, principal=who, verdict=vote.verdict, comment=vote.comment
    )
    if state == State.APPROVED:
        # The vote is committed and answered 201 whatever happens next; the background retry finishes
        # execution if it cannot run now (OPA down) or got there first.
        try:
            svc.runner.execute(request_id)
        except Conflict:
            pass
        except GatewayError as exc:
            log.warning("request %s approved; execution deferred: %s", request_id, exc.detail)
    return _view(svc, request_id)


@router.post("/requests/{request_id}/cancel")
def cancel(request_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    approve.cancel(svc.db, request_id=request_id, principal=who)
    return _view(svc, request_id)


@router.post("/requests/{request_id}/evaluate")
def retry_evaluation(
    request_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Evaluates a request that was accepted while the policy engine was down."""
    require(who, SUBMITTERS, "evaluate requests")
    svc.runner.evaluate_received(request_id)
    return _view(svc, request_id)
