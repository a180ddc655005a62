"""A small HTTP client for the gateway's API, used by the CLI and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gateway.errors import GatewayError


class ApiError(GatewayError):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(
            str(problem.get("detail") or problem.get("title") or status), errors=problem.get("errors")
        )
        self.status = status
        self.problem = problem


class GatewayClient:
    def __init__(self, url: str, token: str | None, *, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._http.request(method, path, **kw)
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"detail": resp.text}
            raise ApiError(resp.status_code, problem)
        return resp.json()

    def submit_file(self, path: Path) -> Any:
        yaml_file = path.suffix.lower() in (".yaml", ".yml")
        ctype = "application/yaml" if yaml_file else "application/json"
        return self.call("POST", "/v1/requests", content=path.read_bytes(), headers={"Content-Type": ctype})

    def submit(self, doc: dict[str, Any]) -> Any:
        return self.call("POST", "/v1/requests", json=doc)

    def get(self, request_id: str) -> Any:
        return self.call("GET", f"/v1/requests/{request_id}")

    def list(self, **filters: Any) -> Any:
        return self.call("GET", "/v1/requests", params={k: v for k, v in filters.items() if v is not None})

    def vote(
        self, request_id: str, verdict: str, comment: str = "", group: str | None = None,
        content_hash: str | None = None, approval_round: int | None = None,
    ) -> Any:  # fmt: skip
        body: dict[str, Any] = {"verdict": verdict, "comment": comment}
        if group:
            body["group"] = group
        if content_hash:
            body["content_hash"] = content_hash
        if approval_round is not None:
            body["approval_round"] = approval_round
        return self.call("POST", f"/v1/requests/{request_id}/approvals", json=body)

    def amend_file(self, request_id: str, path: Path) -> Any:
        yaml_file = path.suffix.lower() in (".yaml", ".yml")
        ctype = "application/yaml" if yaml_file else "application/json"
        return self.call(
            "PUT", f"/v1/requests/{request_id}", content=path.read_bytes(), headers={"Content-Type": ctype}
        )

    def cancel(self, request_id: str) -> Any:
        return self.call("POST", f"/v1/requests/{request_id}/cancel")

    def review(self, request_id: str, comment: str) -> Any:
        return self.call("POST", f"/v1/requests/{request_id}/review", json={"comment": comment})

    def verify(self) -> Any:
        return self.call("GET", "/v1/audit/verify")

    def close(self) -> None:
        self._http.close()
