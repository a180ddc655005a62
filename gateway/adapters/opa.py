"""The only module that speaks OPA's REST API.

Why httpx and not opa-python-client (which the users asked for): its 3.0 async client is built on aiohttp and
retries 502/503/504 and connection errors itself with sleeps, which would hide an unavailable policy engine behind
seconds of waiting instead of failing closed at once; it raises aiohttp's generic errors without OPA's error body,
and it would pull aiohttp, aiofiles and requests into a service that already uses httpx. One pooled httpx.Client
per process gives connection reuse, one timeout for the whole call, and errors we map to PolicyUnavailable.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from gateway.errors import PolicyUnavailable


class OpaClient:
    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            headers={"Content-Type": "application/json"},
        )

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise PolicyUnavailable(
                f"the policy engine at {self.url} did not answer: {type(exc).__name__}"
            ) from exc

    def query(self, data_path: str, input_doc: dict[str, Any]) -> tuple[Any, str | None]:
        """Evaluates `data.<data_path>` for this input; returns (result, OPA decision_id). Fails closed."""
        resp = self._send("POST", f"/v1/data/{data_path}", content=orjson.dumps({"input": input_doc}))
        if resp.status_code != 200:
            raise PolicyUnavailable(
                f"the policy engine answered {resp.status_code} for data.{data_path.replace('/', '.')}: "
                f"{resp.text[:300]}"
            )
        body = orjson.loads(resp.content)
        if "result" not in body:
            raise PolicyUnavailable(
                f"policy data.{data_path.replace('/', '.')} is not loaded in the policy engine"
            )
        return body["result"], body.get("decision_id")

    def revisions(self) -> dict[str, str] | None:
        """Revision of every bundle OPA has activated, by bundle name; None when OPA does not answer."""
        try:
            resp = self._http.get("/v1/data/system/bundles")
            if resp.status_code != 200:
                return None
            bundles = resp.json().get("result") or {}
        except (httpx.HTTPError, ValueError):
            return None
        return {name: str(b.get("manifest", {}).get("revision", "")) for name, b in bundles.items()}

    def close(self) -> None:
        self._http.close()
