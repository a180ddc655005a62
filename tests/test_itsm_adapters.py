"""ITSM adapters (ServiceNow Table API, signed webhooks) and the ServiceNow record <-> envelope mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
from standardwebhooks import Webhook

from gateway.adapters.itsm.delivery import classify
from gateway.adapters.itsm.servicenow import ServiceNowClient
from gateway.adapters.itsm.webhooks import WebhookSender, new_secret
from gateway.domain.servicenow import change_update, map_errors, record_pointer, to_envelope
from gateway.domain.states import State
from gateway.errors import InvalidRequest
from gateway.pipeline.validate import Validator
from gateway.settings import PROJECT_ROOT

SN = "https://acme.service-now.com"
SYS_ID = "a9e30c7dc61122760116894de7bcc7bd"
CHANGE_URL = f"{SN}/api/now/table/change_request/{SYS_ID}"
HOOK = "https://hooks.example.com/gateway"

WEB_1: dict[str, Any] = {
    "action": "create",
    "type": "aws_instance",
    "name": "web-1",
    "region": "eu-west-1",
    "properties": {
        "instance_type": "t3.small",
        "ami": "ami-0abcdef1234567890",
        "tags": {"cost-center": "cc-42", "owner": "payments"},
        "metadata_options": [{"http_tokens": "required"}],
        "root_block_device": [{"volume_size": 20, "encrypted": True}],
    },
}


def record(**overrides: Any) -> dict[str, Any]:
    """A change_request as the Table API returns it with sysparm_display_value=all, plus the gateway's fields."""
    rec: dict[str, Any] = {
        "sys_id": {"value": SYS_ID, "display_value": SYS_ID},
        "number": {"value": "CHG0031337", "display_value": "CHG0031337"},
        "short_description": "Payments web tier",
        "description": "One more web node for the payments tier.",
        "type": {"value": "normal", "display_value": "Normal"},
        "risk": {"value": "3", "display_value": "Moderate"},
        "impact": "2",
        "start_date": {"value": "2026-12-01 22:00:00", "display_value": "2026-12-01 23:00:00"},
        "end_date": "2026-12-02T02:00:00Z",
        "assignment_group": {
            "value": "8a4dde73c6112278017a6a4baf547aa7",
            "display_value": "Payments Engineering",
            "link": f"{SN}/api/now/table/sys_user_group/8a4dde73c6112278017a6a4baf547aa7",
        },
        # The REST message dot-walks requested_by.user_name: the login the gateway knows the person by.
        "requested_by": {
            "value": "6816f79cc0a8016401c5a33be04be441",
            "display_value": "Fred Luddy",
            "user_name": "fred",
        },
        "justification": "Black Friday capacity",
        "implementation_plan": "Submitted through the governance gateway.",
        "backout_plan": "Delete web-1.",
        "u_environment": {"value": "prod", "display_value": "Prod"},
        "u_cloud_resources": json.dumps([WEB_1]),
    }
    rec.update(overrides)
    return rec


GROUPS = {"Payments Engineering": "payments"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as client:
        yield client


# --- webhooks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [datetime.now(UTC), datetime.now(timezone(timedelta(hours=-5)))],  # the library mis-signs non-UTC zones
    ids=["utc", "other-zone"],
)
@respx.mock
def test_webhook_signature_verifies_with_standardwebhooks(http: httpx.Client, stamp: datetime) -> None:
    route = respx.post(HOOK).respond(204)
    secret = new_secret()
    body = json.dumps({"type": "request.approved", "request_id": "r-1"}).encode()

    delivery = WebhookSender(http).send(url=HOOK, secret=secret, msg_id="evt_1", timestamp=stamp, body=body)

    assert delivery.ok and delivery.status == 204 and not delivery.retryable
    sent = route.calls.last.request
    assert sent.content == body
    assert sent.headers["webhook-id"] == "evt_1"
    assert sent.headers["webhook-timestamp"] == str(int(stamp.timestamp()))
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"] == "governance-gateway"
    assert Webhook(secret).verify(sent.content, dict(sent.headers)) == {
        "type": "request.approved",
        "request_id": "r-1",
    }


def test_new_secret_is_24_random_bytes_in_whsec_form() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 24


@respx.mock
def test_webhook_failure_is_a_delivery_not_an_exception(http: httpx.Client) -> None:
    respx.post(HOOK).mock(side_effect=httpx.ConnectError("refused"))
    d = WebhookSender(http).send(
        url=HOOK, secret=new_secret(), msg_id="e", timestamp=datetime.now(UTC), body=b"{}"
    )
    assert (
        not d.ok
        and d.retryable
        and d.status is None
        and "could not reach the webhook receiver" in (d.error or "")
    )


# --- ServiceNow Table API ---------------------------------------------------------------------------------


@respx.mock
def test_update_change_patches_the_record_with_basic_auth(http: httpx.Client) -> None:
    route = respx.patch(CHANGE_URL, params={"sysparm_exclude_reference_link": "true"}).respond(
        200, json={"result": {"sys_id": SYS_ID, "state": "-3"}}
    )
    client = ServiceNowClient(base_url=SN + "/", http=http, user="gateway", password="s3cret")

    d = client.update_change(SYS_ID, {"state": "-3", "approval": "requested"})

    assert d.ok and d.status == 200 and d.error is None and d.duration_ms >= 0
    assert '"sys_id"' in d.response_excerpt
    sent = route.calls.last.request
    assert sent.method == "PATCH"
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"gateway:s3cret").decode()
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"state": "-3", "approval": "requested"}


@respx.mock
def test_update_change_with_a_bearer_token(http: httpx.Client) -> None:
    route = respx.patch(CHANGE_URL).respond(200, json={"result": {}})
    ServiceNowClient(base_url=SN, http=http, token="tok-123").update_change(SYS_ID, {"state": "-1"})
    assert route.calls.last.request.headers["authorization"] == "Bearer tok-123"


def test_servicenow_client_needs_exactly_one_kind_of_credentials(http: httpx.Client) -> None:
    with pytest.raises(ValueError):
        ServiceNowClient(base_url=SN, http=http)
    with pytest.raises(ValueError):
        ServiceNowClient(base_url=SN, http=http, user="u", password="p", token="t")


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.ConnectError("refused"), True),
    ],
)
@respx.mock
def test_failures_are_classified(http: httpx.Client, answer: int | Exception, retryable: bool) -> None:
    route = respx.patch(CHANGE_URL)
    if isinstance(answer, int):
        route.respond(answer, json={"error": {"message": "nope"}, "status": "failure"})
    else:
        route.mock(side_effect=answer)

    d = ServiceNowClient(base_url=SN, http=http, token="t").update_change(SYS_ID, {"state": "3"})

    assert not d.ok and d.retryable is retryable and d.error
    assert d.status == (answer if isinstance(answer, int) else None)


def test_credential_refusals_say_so() -> None:
    assert classify(401, peer="ServiceNow").error == "ServiceNow refused the credentials (401)"
    assert classify(403, peer="ServiceNow").error == "ServiceNow refused the credentials (403)"


def test_a_misconfigured_url_is_not_retried() -> None:
    d = classify(None, httpx.UnsupportedProtocol("ftp"), peer="ServiceNow")
    assert not d.ok and not d.retryable


# --- record -> envelope -----------------------------------------------------------------------------------


def test_a_realistic_record_becomes_a_valid_envelope() -> None:
    envelope, link = to_envelope(record(), assignment_groups=GROUPS, users={"Fred Luddy": "fred"})

    Validator(PROJECT_ROOT / "schemas").validate(envelope)
    assert envelope == {
        "title": "Payments web tier",
        "team": "payments",
        "environment": "prod",
        "justification": "Black Friday capacity",
        "change": {
            "type": "normal",
            "ticket": "CHG0031337",
            "window": {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T02:00:00Z"},
        },
        "resources": [WEB_1],
    }
    assert link.sys_id == SYS_ID and link.number == "CHG0031337" and link.requested_by == "fred"
    assert link.extra == {
        "risk": "3",
        "impact": "2",
        "implementation_plan": "Submitted through the governance gateway.",
        "backout_plan": "Delete web-1.",
        "description": "One more web node for the payments tier.",
    }


def test_object_form_carries_environment_and_lease() -> None:
    blob = {"environment": "dev", "lease": {"days": 7}, "resources": [WEB_1]}
    rec = record(
        u_cloud_resources=json.dumps(blob),
        u_environment="",
        justification="",
        type="EMERGENCY",
        start_date="",
        end_date="",
        assignment_group="Platform",
    )

    envelope, _ = to_envelope(rec)

    Validator(PROJECT_ROOT / "schemas").validate(envelope)
    assert envelope["environment"] == "dev" and envelope["lease"] == {"days": 7}
    assert envelope["change"] == {"type": "emergency", "ticket": "CHG0031337"}
    assert envelope["team"] == "platform"
    assert envelope["justification"] == "One more web node for the payments tier."


def test_groups_may_be_mapped_by_sys_id() -> None:
    envelope, _ = to_envelope(record(), assignment_groups={"8a4dde73c6112278017a6a4baf547aa7": "payments"})
    assert envelope["team"] == "payments"


def _pointers(rec: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        to_envelope(rec, assignment_groups=GROUPS)
    return {e["pointer"]: e["detail"] for e in caught.value.errors}


def test_bad_json_points_at_u_cloud_resources() -> None:
    errors = _pointers(record(u_cloud_resources='[{"action": "create",'))
    assert list(errors) == ["/u_cloud_resources"] and "not valid JSON" in errors["/u_cloud_resources"]


def test_record_errors_are_reported_together_with_record_pointers() -> None:
    rec = record(start_date="next tuesday", type="risky", u_cloud_resources='{"resources": [], "team": "x"}')
    del rec["sys_id"]
    assert set(_pointers(rec)) == {"/sys_id", "/start_date", "/type", "/u_cloud_resources/team"}


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"end_date": ""}, "/end_date"),
        ({"end_date": "2026-12-02T02:00:00"}, "/end_date"),  # RFC 3339 needs a zone
        ({"u_cloud_resources": None}, "/u_cloud_resources"),
        ({"u_cloud_resources": "42"}, "/u_cloud_resources"),
        ({"u_cloud_resources": json.dumps({"environment": "dev", "resources": [WEB_1]})}, "/u_environment"),
    ],
)
def test_record_level_errors(overrides: dict[str, Any], pointer: str) -> None:
    assert list(_pointers(record(**overrides))) == [pointer]


def test_schema_errors_map_back_to_record_fields() -> None:
    bad = {**WEB_1, "properties": {**WEB_1["properties"], "instance_type": "x9.huge"}}
    blob = {"environment": "qa", "resources": [bad]}
    rec = record(u_cloud_resources=json.dumps(blob), u_environment=None, short_description="x")
    envelope, _ = to_envelope(rec, assignment_groups=GROUPS)

    errors = Validator(PROJECT_ROOT / "schemas").errors(envelope)

    assert {e["pointer"] for e in map_errors(errors, rec)} == {
        "/short_description",
        "/u_cloud_resources/environment",
        "/u_cloud_resources/resources/0/properties/instance_type",
    }


@pytest.mark.parametrize(
    ("envelope_pointer", "in_object", "expected"),
    [
        ("/resources/0/properties/x", False, "/u_cloud_resources/0/properties/x"),
        ("/resources/0/properties/x", True, "/u_cloud_resources/resources/0/properties/x"),
        ("/resources", False, "/u_cloud_resources"),
        ("/lease/days", True, "/u_cloud_resources/lease/days"),
        ("/title", False, "/short_description"),
        ("/change/ticket", False, "/number"),
        ("/change/type", False, "/type"),
        ("/change/window/start", False, "/start_date"),
        ("/change/window/end", False, "/end_date"),
        ("/team", False, "/assignment_group"),
        ("/environment", False, "/u_environment"),
        ("/justification", False, "/justification"),
        ("/resourcesX", False, "/resourcesX"),
        ("/somewhere/else", True, "/somewhere/else"),
        ("", False, ""),
    ],
)
def test_record_pointer(envelope_pointer: str, in_object: bool, expected: str) -> None:
    assert record_pointer(envelope_pointer, in_object) == expected


# --- gateway state -> change fields -----------------------------------------------------------------------

DECISION = {
    "outcome": "pending_approval",
    "violations": [
        {"set": "cost", "rule": "budget", "msg": "over the team budget", "enforcement": "soft-mandatory"}
    ],
    "warnings": [],
    "required_approvals": [{"group": "finance", "count": 2, "reason": "override cost/budget"}],
    "cost": {"monthly": 61.3201, "currency": "USD"},
    "policy_revisions": {},
    "decision_id": "d-1",
}


@pytest.mark.parametrize(
    ("state", "sn_state", "approval", "close_code"),
    [
        ("received", "-4", "not requested", None),
        ("pending_approval", "-3", "requested", None),
        ("approved", "-2", "approved", None),
        ("scheduled", "-2", "approved", None),
        ("executing", "-1", "approved", None),
        ("succeeded", "3", "approved", "successful"),
        ("failed", "3", "approved", "unsuccessful"),
        ("rejected", "-5", "rejected", None),
        ("expired", "4", None, None),
        ("cancelled", "4", None, None),
        ("retired", "3", "approved", None),
    ],
)
def test_change_update_for_each_state(
    state: str, sn_state: str, approval: str | None, close_code: str | None
) -> None:
    fields = change_update(state=state, request_id="r-42", decision=DECISION)

    assert fields["state"] == sn_state
    assert fields.get("approval") == approval
    assert fields.get("close_code") == close_code
    assert ("close_notes" in fields) is (close_code is not None)
    assert f"request r-42 is now {state}" in fields["work_notes"]


def test_work_notes_summarise_the_decision() -> None:
    notes = change_update(state="failed", request_id="r-42", decision=DECISION, detail="RunInstances: quota")
    assert notes["close_notes"] == "RunInstances: quota"
    text = notes["work_notes"]
    for part in (
        "Outcome: pending_approval",
        "- cost/budget: over the team budget (soft-mandatory)",
        "- finance \u00d72: override cost/budget",
        "Monthly cost: 61.32 USD",
        "Detail: RunInstances: quota",
    ):
        assert part in text


def test_unknown_states_are_refused() -> None:
    with pytest.raises(ValueError):
        change_update(state="on_fire", request_id="r", decision=None)


def test_every_gateway_state_has_a_servicenow_mapping() -> None:
    for state in State:
        assert change_update(state=state, request_id="r", decision=None)["state"]


@pytest.mark.parametrize(
    ("value", "users", "expected"),
    [
        ("dana", {}, "dana"),  # a login, as a REST message sends requested_by.user_name
        ({"user_name": "dana", "display_value": "Dana Scully"}, {}, "dana"),
        (
            {"value": "6816f79cc0a8016401c5a33be04be441", "display_value": "Fred Luddy"},
            {"6816f79cc0a8016401c5a33be04be441": "fred"},
            "fred",
        ),
    ],
)
def test_requested_by_resolves_to_a_gateway_principal(value, users, expected):
    _, link = to_envelope(record(requested_by=value), users=users)
    assert link.requested_by == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        {"value": "6816f79cc0a8016401c5a33be04be441", "display_value": "Fred"},
        "6816f79cc0a8016401c5a33be04be441",  # what a business rule sends for current.requested_by
        "Dana Scully",
    ],
)
def test_a_requested_by_that_names_no_principal_is_refused(value):
    """Who raised the change may not approve it: a name no principal has would silently bar nobody."""
    with pytest.raises(InvalidRequest) as err:
        to_envelope(record(requested_by=value))
    assert err.value.errors[0]["pointer"] == "/requested_by"
