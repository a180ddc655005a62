"""POST /v1/requests with Idempotency-Key (IETF httpapi-idempotency-key-header semantics)."""

from __future__ import annotations

import pytest
import yaml

from gateway.domain.identity import Role
from gateway.pipeline.idempotency import fingerprint
from tests.factories import instance, request


def _post(gw, body, headers, key="k-1", **kw):
    return gw.client.post("/v1/requests", json=body, headers={**headers, "Idempotency-Key": key}, **kw)


def _submitted(gw, auditor) -> int:
    events = gw.client.get("/v1/audit/events", params={"type": "request.submitted"}, headers=auditor).json()
    return len(events["items"])


def test_a_replayed_key_returns_the_first_response_and_creates_nothing(gateway, alice, auditor):
    first = _post(gateway, request(instance()), alice, key='"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    assert first.status_code == 201
    again = _post(gateway, request(instance()), alice, key='"8e03978e-40d5-43e8-bc93-6894a57f9324"')

    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert _submitted(gateway, auditor) == 1
    assert len(gateway.client.get("/v1/requests", headers=alice).json()["items"]) == 1


def test_the_same_body_in_yaml_is_the_same_request(gateway, alice, auditor):
    body = request(instance())
    first = _post(gateway, body, alice)
    again = gateway.client.post(
        "/v1/requests", content=yaml.safe_dump(body),
        headers={**alice, "Idempotency-Key": "k-1", "Content-Type": "application/yaml"},
    )  # fmt: skip
    assert again.json()["id"] == first.json()["id"] and _submitted(gateway, auditor) == 1


def test_the_same_key_with_another_body_is_a_422(gateway, alice, auditor):
    _post(gateway, request(instance()), alice)
    r = _post(gateway, request(instance("web-2")), alice)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["name"] == "Idempotency-Key"
    assert _submitted(gateway, auditor) == 1


def test_a_retry_while_the_first_is_in_flight_is_a_409(gateway, alice, auditor):
    body = request(instance())
    # The first request holds the key (as it does from arrival until its response is stored).
    gateway.services.idempotency.begin(principal="alice", key="k-1", fingerprint=fingerprint(body))
    r = _post(gateway, body, alice)
    assert r.status_code == 409 and "still being processed" in r.json()["detail"]
    assert _submitted(gateway, auditor) == 0


def test_keys_belong_to_their_principal(gateway, alice, auditor):
    erin = gateway.token("erin", Role.REQUESTER, ["payments"])
    a = _post(gateway, request(instance()), alice)
    b = _post(gateway, request(instance()), erin)
    assert a.json()["id"] != b.json()["id"] and _submitted(gateway, auditor) == 2


def test_keys_expire_after_24_hours(gateway, clock, alice, auditor):
    first = _post(gateway, request(instance()), alice)
    clock.advance(hours=23)
    assert _post(gateway, request(instance()), alice).json()["id"] == first.json()["id"]
    clock.advance(hours=2)
    later = _post(gateway, request(instance("web-2")), alice)  # the key is free again, even for another body
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


def test_a_refused_request_is_remembered_too(gateway, alice, auditor):
    bad = request(instance(itype=7))
    first = _post(gateway, bad, alice)
    again = _post(gateway, bad, alice)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


def test_an_unusable_key_is_a_422(gateway, alice):
    r = _post(gateway, request(instance()), alice, key="x" * 300)
    assert r.status_code == 422 and r.json()["errors"][0]["in"] == "header"


def test_a_key_whose_first_attempt_died_after_storing_resumes_that_request(gateway, alice, auditor):
    """The first attempt stored the request and died before answering: a retry must not make a second one."""
    from gateway.domain.identity import Principal

    body, svc = request(instance()), gateway.services
    svc.idempotency.begin(principal="alice", key="k-1", fingerprint=fingerprint(body))
    who = Principal("alice", Role.REQUESTER, ("payments",))
    rid = svc.runner.submit(body, who, on_stored=lambda s, r: svc.idempotency.bind(s, principal="alice", key="k-1",
                                                                                  request_id=r))  # fmt: skip
    again = _post(gateway, body, alice)
    assert again.status_code == 201 and again.json()["id"] == rid
    assert _submitted(gateway, auditor) == 1


def test_a_key_whose_first_attempt_died_before_storing_is_taken_over_after_a_minute(
    gateway, clock, alice, auditor
):
    body = request(instance())
    gateway.services.idempotency.begin(principal="alice", key="k-1", fingerprint=fingerprint(body))
    assert _post(gateway, body, alice).status_code == 409  # it might still be running
    clock.advance(seconds=61)
    r = _post(gateway, body, alice)
    assert r.status_code == 201 and _submitted(gateway, auditor) == 1
    assert _post(gateway, body, alice).json()["id"] == r.json()["id"]


def test_an_attempt_that_stalled_past_the_lease_cannot_store_a_second_request(gateway, clock, alice, auditor):
    """A takes the key and stalls; after the lease B takes it over and stores its request; when A finally stores
    its own, the binding refuses and A's request is rolled back: one key, one request."""
    from gateway.domain.identity import Principal
    from gateway.errors import Conflict

    body, svc = request(instance()), gateway.services
    svc.idempotency.begin(principal="alice", key="k-1", fingerprint=fingerprint(body))  # attempt A
    clock.advance(seconds=61)
    b = _post(gateway, body, alice)  # attempt B takes the key over
    assert b.status_code == 201

    who = Principal("alice", Role.REQUESTER, ("payments",))
    bind = lambda s, rid: svc.idempotency.bind(s, principal="alice", key="k-1", request_id=rid)  # noqa: E731
    with pytest.raises(Conflict):
        svc.runner.submit(body, who, on_stored=bind)  # attempt A wakes up
    assert _submitted(gateway, auditor) == 1
    again = _post(gateway, body, alice)
    assert again.status_code == 201 and again.json()["id"] == b.json()["id"]


def test_an_attempt_that_stalled_while_another_was_answered_cannot_bind_the_key(
    gateway, clock, alice, auditor
):
    """A takes the key and stalls; B takes it over and is refused (422, remembered); A must not then store a
    request under a key whose answer is that 422."""
    from gateway.domain.identity import Principal
    from gateway.errors import Conflict

    body, svc = request(instance()), gateway.services
    svc.idempotency.begin(principal="alice", key="k-1", fingerprint=fingerprint(body))  # attempt A
    clock.advance(seconds=61)
    svc.idempotency.begin(principal="alice", key="k-1", fingerprint=fingerprint(body))  # B takes it over...
    svc.idempotency.finish(principal="alice", key="k-1", status=422, body={"status": 422}, request_id=None)
    who = Principal("alice", Role.REQUESTER, ("payments",))
    bind = lambda s, rid: svc.idempotency.bind(s, principal="alice", key="k-1", request_id=rid)  # noqa: E731
    with pytest.raises(Conflict):
        svc.runner.submit(body, who, on_stored=bind)
    assert _submitted(gateway, auditor) == 0
