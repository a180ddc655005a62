"""ServiceNow's Table API: the gateway writes its state back onto the change_request it came from.

PATCH /api/now/table/change_request/{sys_id} updates only the fields sent. `sysparm_exclude_reference_link`
keeps reference fields in the answer as plain values, which keeps the stored response excerpt short.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from gateway.adapters.itsm.delivery import Delivery, deliver

TABLE = "change_request"


class ServiceNowClient:
    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.Client,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        if token and (user or password):
            raise ValueError("ServiceNow: configure either a bearer token or a user and password, not both")
        if not token and not (user and password):
            raise ValueError("ServiceNow needs a bearer token, or a user and a password")
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._headers = {"Accept": "application/json"}
        self._auth: httpx.Auth | None = None
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        else:
            self._auth = httpx.BasicAuth(user or "", password or "")

    def update_change(self, sys_id: str, fields: dict[str, Any]) -> Delivery:
        url = f"{self.base_url}/api/now/table/{TABLE}/{quote(sys_id, safe='')}"
        kwargs: dict[str, Any] = {
            "json": fields,
            "headers": self._headers,
            "params": {"sysparm_exclude_reference_link": "true"},
        }
        if self._auth is not None:
            kwargs["auth"] = self._auth
        return deliver(self._http, "PATCH", url, peer="ServiceNow", **kwargs)
