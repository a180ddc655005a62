"""/v1/requests and /v1/evaluate."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from gateway.adapters.store import repositories as repo
from gateway.api.deps import body, principal, require, services
from gateway.api.errors import PROBLEM_JSON, problem_body
from gateway.api.views import request_view
from gateway.domain.identity import SUBMITTERS, Principal, visibility
from gateway.domain.states import State
from gateway.errors import Conflict, GatewayError, NotFound
from gateway.pipeline.idempotency import fingerprint, parse_key
from gateway.services import Services

log = logging.getLogger("gateway.api")
router = APIRouter(prefix="/v1", tags=["requests"])


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["approve", "reject"]
    comment: str = ""
    # The required group this vote is for, when the approver belongs to several.
    group: str | None = None
    # The content and the approval round the approver looked at: refused if either has changed since.
    content_hash: str | None = None
    approval_round: int | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str


def view(svc: Services, request_id: str, who: Principal) -> dict[str, Any]:
    """The request as `who` may see it; one it may not see does not exist for it."""
    with svc.db.read() as s:
        req = repo.get_request(s, request_id=request_id)
        if not visibility(who).allows(team=req.team, requester=req.requester):
            raise NotFound(f"no request with id {request_id}")
        votes = repo.votes(s, request=req)
    return request_view(req, votes, now=svc.clock.now(), vote_expiry=svc.approvals.vote_expiry)


def go_on(svc: Services, request_id: str) -> None:
    """After a state change that may allow execution: run it now if it can. The change is committed whatever
    happens here; the background loop finishes what cannot run now (OPA down) or what another got to first."""
    try:
        svc.runner.execute(request_id)
    except Conflict:
        pass
    except GatewayError as exc:
        log.warning("request %s approved; execution deferred: %s", request_id, exc.detail)


@router.post("/requests", status_code=201)
def submit(
    request: Request, response: Response, doc: Any = Depends(body), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:  # fmt: skip
    require(who, SUBMITTERS, "submit requests")
    header = request.headers.get("idempotency-key")
    if header is None:
        rid = svc.runner.submit(doc, who)
        response.headers["Location"] = f"/v1/requests/{rid}"
        return view(svc, rid, who)
    key = parse_key(header)
    record = svc.idempotency.begin(principal=who.id, key=key, fingerprint=fingerprint(doc))
    if record is not None:
        return _replay(svc, who, key, record.response_status, record.response_body or {}, record.request_id)

    def bind(s: Any, rid: str) -> None:
        svc.idempotency.bind(s, principal=who.id, key=key, request_id=rid)

    try:
        rid = svc.runner.submit(doc, who, on_stored=bind)
    except GatewayError as exc:
        if exc.status < 500:  # refused for good: the same answer again
            body_ = problem_body(request.url.path, exc)
            svc.idempotency.finish(principal=who.id, key=key, status=exc.status, body=body_, request_id=None)
        else:  # not stored, or stored and bound to the key: a retry runs anew, or resumes it
            svc.idempotency.abandon(principal=who.id, key=key)
        raise
    except Exception:
        svc.idempotency.abandon(principal=who.id, key=key)
        raise
    out = view(svc, rid, who)
    svc.idempotency.finish(principal=who.id, key=key, status=201, body=out, request_id=rid)
    response.headers["Location"] = f"/v1/requests/{rid}"
    return out


def _replay(
    svc: Services,
    who: Principal,
    key: str,
    status: int | None,
    stored: dict[str, Any],
    request_id: str | None,
) -> JSONResponse:
    """The first response again. If the first attempt stored the request but never answered it with a final
    response (OPA was down: 503; or it died), the retry resumes that request instead."""
    headers = {"Idempotent-Replayed": "true"}
    if request_id:
        headers["Location"] = f"/v1/requests/{request_id}"
    if request_id and (status is None or status >= 500):
        with contextlib.suppress(Conflict):  # evaluated meanwhile (background retry)
            svc.runner.evaluate_received(request_id)
        out = view(svc, request_id, who)
        svc.idempotency.finish(principal=who.id, key=key, status=201, body=out, request_id=request_id)
        return JSONResponse(out, status_code=201, headers=headers)
    media = PROBLEM_JSON if status and status >= 400 else "application/json"
    return JSONResponse(stored, status_code=status or 500, headers=headers, media_type=media)


@router.post("/evaluate")
def evaluate(
    cloud_dry_run: bool = False, doc: Any = Depends(body), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """The decision, and with cloud_dry_run=true whether the cloud would accept each call (nothing changes)."""
    require(who, SUBMITTERS, "evaluate requests")
    decision, cloud = svc.runner.dry_run(doc, who, cloud_check=cloud_dry_run)
    out = decision.model_dump()
    if cloud is not None:
        out["cloud_dry_run"] = cloud
    return out


@router.get("/requests")
def list_requests(
    state: State | None = None,
    team: str | None = None,
    since: datetime | None = None,
    review: Literal["pending", "done"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    now, expiry = svc.clock.now(), svc.approvals.vote_expiry
    with svc.db.read() as s:
        rows = repo.list_requests(s, visible=visibility(who), state=state, team=team, since=since, review=review,
                                  limit=limit, offset=offset)  # fmt: skip
        items = [request_view(r, repo.votes(s, request=r), now=now, vote_expiry=expiry) for r in rows]
    return {"items": items, "limit": limit, "offset": offset}


@router.get("/requests/{request_id}")
def read_request(
    request_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    return view(svc, request_id, who)


@router.put("/requests/{request_id}")
def amend(
    request_id: str, doc: Any = Depends(body), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """Replaces the request's content before it is approved; earlier votes stop counting."""
    view(svc, request_id, who)  # 404 for what the caller cannot see
    require(who, SUBMITTERS, "amend requests")
    svc.runner.amend(request_id, doc, who)
    return view(svc, request_id, who)


@router.post("/requests/{request_id}/approvals", status_code=201)
def vote(
    request_id: str, vote: VoteIn, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    view(svc, request_id, who)  # 404 for what the caller may not see, before anything about its state
    state = svc.approvals.vote(
        request_id=request_id, principal=who, verdict=vote.verdict, comment=vote.comment, group=vote.group,
        content_hash=vote.content_hash, approval_round=vote.approval_round,
    )  # fmt: skip
    if state == State.APPROVED:
        go_on(svc, request_id)
    return view(svc, request_id, who)


@router.post("/requests/{request_id}/cancel")
def cancel(request_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    view(svc, request_id, who)
    svc.approvals.cancel(request_id=request_id, principal=who)
    return view(svc, request_id, who)


@router.post("/requests/{request_id}/review")
def review(
    request_id: str, body_: ReviewIn, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    """The post-implementation review of an emergency change."""
    view(svc, request_id, who)
    svc.approvals.review(request_id=request_id, principal=who, comment=body_.comment)
    return view(svc, request_id, who)


@router.post("/requests/{request_id}/evaluate")
def retry_evaluation(
    request_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Evaluates a request that was accepted while the policy engine was down."""
    require(who, SUBMITTERS, "evaluate requests")
    view(svc, request_id, who)
    svc.runner.evaluate_received(request_id)
    return view(svc, request_id, who)
