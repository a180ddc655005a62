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

    def query(self, data_path: str, input_doc: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
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
        result = body["result"]
        if not isinstance(result, dict):
            raise PolicyUnavailable(
                f"data.{data_path.replace('/', '.')} is not a package (got {type(result).__name__})"
            )
        return result, body.get("decision_id")

    def put_policy(self, policy_id: str, module: str) -> None:
        resp = self._send(
            "PUT", f"/v1/policies/{policy_id}", content=module, headers={"Content-Type": "text/plain"}
        )
        if resp.status_code != 200:
            raise PolicyUnavailable(
                f"the policy engine refused the gateway's entry policy: {resp.text[:300]}"
            )

    def loaded(self, data_paths: list[str]) -> bool:
        """True when OPA is up and every policy set's package is defined."""
        try:
            for path in data_paths:
                resp = self._http.get(f"/v1/data/{path}")
                if resp.status_code != 200 or "result" not in resp.json():
                    return False
        except httpx.HTTPError:
            return False
        return True

    def close(self) -> None:
        self._http.close()
