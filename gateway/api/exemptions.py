"""/v1/exemptions: requested by an admin, approved by a second person, revocable, expiring."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict

from gateway.adapters.store import repositories as repo
from gateway.api.deps import body, principal, services
from gateway.domain.identity import Principal
from gateway.pipeline import exemptions
from gateway.services import Services

router = APIRouter(prefix="/v1/exemptions", tags=["exemptions"])


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["approve", "reject"]
    comment: str = ""


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = ""


def _view(svc: Services, exemption_id: str) -> dict[str, Any]:
    with svc.db.read() as s:
        return exemptions.view(repo.get_exemption(s, exemption_id=exemption_id), svc.clock.now())


@router.post("", status_code=201)
def create(
    response: Response, doc: Any = Depends(body), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    eid = exemptions.create(
        svc.db, body=doc, principal=who, max_days=svc.settings.exemption_max_days, now=svc.clock.now()
    )
    response.headers["Location"] = f"/v1/exemptions/{eid}"
    return _view(svc, eid)


@router.get("")
def list_exemptions(
    team: str | None = None,
    status: Literal["pending", "active", "expired", "rejected", "revoked"] | None = None,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    stored = "active" if status == "expired" else status
    with svc.db.read() as s:
        rows = [
            exemptions.view(e, svc.clock.now()) for e in repo.list_exemptions(s, team=team, status=stored)
        ]
    return {"items": [r for r in rows if status is None or r["status"] == status]}


@router.get("/{exemption_id}")
def read(exemption_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    return _view(svc, exemption_id)


@router.post("/{exemption_id}/approvals")
def decide(
    exemption_id: str,
    vote: DecisionIn,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    exemptions.decide(
        svc.db, exemption_id=exemption_id, principal=who, verdict=vote.verdict, comment=vote.comment,
        now=svc.clock.now(),
    )  # fmt: skip
    return _view(svc, exemption_id)


@router.post("/{exemption_id}/revoke")
def revoke(
    exemption_id: str, why: RevokeIn, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    exemptions.revoke(svc.db, exemption_id=exemption_id, principal=who, comment=why.comment)
    return _view(svc, exemption_id)
