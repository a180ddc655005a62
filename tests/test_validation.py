"""Stage 1: schema errors come back as problem+json listing every error with its JSON pointer."""

from __future__ import annotations

import json

import yaml

from tests.factories import bucket, instance, request


def test_every_schema_error_is_listed_with_its_pointer(gateway, alice):
    body = request(instance(itype="x9.huge"), bucket())
    del body["team"]
    body["resources"][1]["properties"]["colour"] = "blue"
    body["resources"][0]["region"] = "mars-1"

    r = gateway.submit(body, alice)

    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    pointers = {e["pointer"] for e in problem["errors"]}
    assert pointers == {
        "/team",
        "/resources/0/properties/instance_type",
        "/resources/0/region",
        "/resources/1/properties/colour",
    }
    assert problem["status"] == 422 and problem["type"].endswith("/invalid-request")


def test_invalid_request_stores_nothing_but_an_audit_event(gateway, alice, auditor):
    gateway.submit(request(instance(ami="not-an-ami")), alice)

    assert gateway.client.get("/v1/requests", headers=alice).json()["items"] == []
    events = gateway.client.get("/v1/audit/events", headers=auditor).json()["items"]
    invalid = [e for e in events if e["type"] == "request.invalid"]
    assert invalid and invalid[0]["data"]["errors"][0]["pointer"] == "/resources/0/properties/ami"


def test_yaml_body_is_accepted(gateway, alice):
    text = yaml.safe_dump(request(instance()))
    r = gateway.client.post(
        "/v1/requests", content=text, headers={**alice, "Content-Type": "application/yaml"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "succeeded"


def test_malformed_json_is_a_422_not_a_500(gateway, alice):
    r = gateway.client.post(
        "/v1/requests", content=b'{"title": ', headers={**alice, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == ""


def test_duplicate_addresses_and_backwards_windows_are_rejected(gateway, alice):
    body = request(instance("web-1"), instance("web-1"))
    body["change"]["window"] = {"start": "2026-12-02T02:00:00Z", "end": "2026-12-01T22:00:00Z"}
    r = gateway.submit(body, alice)
    # JSON Schema passes; the semantic checks report after it.
    assert r.status_code == 422
    assert {e["pointer"] for e in r.json()["errors"]} == {"/resources/1/name", "/change/window/end"}


def test_update_of_an_unmanaged_resource_points_at_its_id(gateway, alice):
    body = request({"action": "delete", "type": "aws_s3_bucket", "name": "old", "id": "not-ours"})
    r = gateway.submit(body, alice)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"pointer": "/resources/0/id", "detail": "aws_s3_bucket not-ours is not in the gateway's inventory"}
    ]


def test_missing_token_is_401_problem(gateway):
    r = gateway.client.post("/v1/requests", content=json.dumps(request()))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"


def test_change_window_is_compared_as_instants_not_text(gateway, alice):
    body = request(instance())
    # 01:00 at +05:00 is 20:00Z, two hours before the start: as text it would sort after it.
    body["change"]["window"] = {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T01:00:00+05:00"}
    r = gateway.submit(body, alice)
    assert r.status_code == 422
    assert [e["pointer"] for e in r.json()["errors"]] == ["/change/window/end"]
