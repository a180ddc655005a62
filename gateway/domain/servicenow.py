"""ServiceNow change_request records in, the gateway's request envelope out; gateway states back as fields.

Record fields and where they go (design section 4 for the envelope):

| record field             | envelope / link                       | notes                                          |
|--------------------------|---------------------------------------|------------------------------------------------|
| sys_id (required)        | link.sys_id                           | the record the gateway writes back to          |
| number                   | change.ticket, link.number            |                                                |
| short_description        | title                                 |                                                |
| type                     | change.type                           | case-insensitive; absent -> normal (SN default)|
| start_date, end_date     | change.window                         | "YYYY-MM-DD HH:MM:SS" (UTC) or RFC 3339        |
| assignment_group         | team                                  | via the assignment_groups map, else lowercased |
| justification            | justification                         | falls back to description                      |
| u_cloud_resources        | resources (+ environment, lease)      | JSON: a list, or {environment, lease, resources}|
| u_environment            | environment                           | when u_cloud_resources does not name one       |
| requested_by (required)  | link.requested_by -> on_behalf_of     | a login, or mapped via itsm.servicenow.users   |
| risk, impact, plans, ... | link.extra                            | the envelope's `change` allows no extra keys   |

Any field may come as a reference or choice object ({"value", "display_value"}), as the Table API returns them
with sysparm_display_value=all. Errors point into the record, not the envelope, so the ITSM user can find them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.errors import InvalidRequest

CHANGE_TYPES = ("standard", "normal", "emergency")
JUSTIFICATION_MAX = 4000  # the envelope schema's limit
_REFERENCE_KEYS = frozenset({"value", "display_value", "link", "name"})
_OBJECT_KEYS = frozenset({"environment", "lease", "resources"})
_SN_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_SYS_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_EXTRA_FIELDS = ("risk", "impact", "implementation_plan", "backout_plan")


@dataclass(frozen=True)
class ServiceNowLink:
    """What the gateway keeps about the record a request came from, to write back to it."""

    sys_id: str
    number: str | None
    requested_by: str | None
    extra: dict[str, Any]


def _is_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and set(value) <= _REFERENCE_KEYS


def _raw(value: Any) -> Any:
    """The stored value of a field: choices and dates as ServiceNow keeps them (dates in UTC). '' is absent."""
    if _is_reference(value):
        value = value.get("value") if value.get("value") not in (None, "") else value.get("display_value")
    return None if value in (None, "") else value


def _name(value: Any) -> str | None:
    """A person's or group's human name: the display value of a reference, else its stored value."""
    if _is_reference(value):
        for key in ("display_value", "name", "value"):
            if value.get(key) not in (None, ""):
                return str(value[key]).strip()
        return None
    return None if value in (None, "") else str(value).strip()


def _text(value: Any) -> str | None:
    raw = _raw(value)
    return None if raw is None else str(raw).strip() or None


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, pointer: str, detail: str) -> None:
        self.items.append({"pointer": pointer, "detail": detail})

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidRequest(
                f"the ServiceNow record has {len(self.items)} error(s)",
                errors=sorted(self.items, key=lambda e: e["pointer"]),
            )


def _instant(value: Any, pointer: str, errors: _Errors) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        if _SN_DATETIME.match(text):
            # ServiceNow's stored (and API) form carries no zone: it is UTC.
            when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if when.tzinfo is None:
                raise ValueError("no time zone")
    except ValueError:
        errors.add(pointer, f"'{text}' is not a date-time: use 'YYYY-MM-DD HH:MM:SS' (UTC) or RFC 3339")
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(record: Mapping[str, Any], errors: _Errors) -> dict[str, str] | None:
    start = _instant(record.get("start_date"), "/start_date", errors)
    end = _instant(record.get("end_date"), "/end_date", errors)
    given = {k for k in ("start_date", "end_date") if _text(record.get(k)) is not None}
    if len(given) == 1:
        missing = ({"start_date", "end_date"} - given).pop()
        errors.add(f"/{missing}", "a change window needs both start_date and end_date, or neither")
        return None
    return {"start": start, "end": end} if start and end else None


def _change_type(value: Any, errors: _Errors) -> str:
    text = _text(value)
    if text is None:
        return "normal"  # ServiceNow's own default, and the one that asks for the most review
    if text.lower() not in CHANGE_TYPES:
        errors.add("/type", f"'{text}' is not a change type: use one of {', '.join(CHANGE_TYPES)}")
    return text.lower()


def _team(value: Any, groups: Mapping[str, str]) -> str | None:
    name = _name(value)
    if name is None:
        return None
    if name in groups:
        return groups[name]
    # A group's sys_id never changes when it is renamed, so the map may be keyed by it as well.
    sys_id = _text(value.get("value")) if _is_reference(value) else None
    if sys_id is not None and sys_id in groups:
        return groups[sys_id]
    return name.lower()


def _cloud_resources(value: Any, errors: _Errors) -> tuple[Any, bool]:
    """(parsed u_cloud_resources, whether it is the object form). The envelope schema checks the content."""
    ptr = "/u_cloud_resources"
    raw = _raw(value)
    if raw is None:
        errors.add(
            ptr, "u_cloud_resources is required: a JSON list of resources, or an object with resources"
        )
        return None, False
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.add(ptr, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
            return None, False
    if isinstance(raw, list):
        return raw, False
    if isinstance(raw, dict):
        for key in sorted(set(raw) - _OBJECT_KEYS):
            errors.add(
                f"{ptr}/{_escape(key)}", f"'{key}' is not allowed here: use environment, lease, resources"
            )
        return raw, True
    errors.add(ptr, "must be a JSON list of resources, or an object with environment, lease and resources")
    return None, False


def _requester(value: Any, users: Mapping[str, str], errors: _Errors) -> str | None:
    """The gateway principal who raised the change: barred from approving it, so it must be resolvable. A plain
    string or a `user_name` is the login (the IdP subject); a reference resolves through `users` (sys_id, login
    or display name to principal), never by display name alone, which no principal is called."""
    if value in (None, "") or (isinstance(value, Mapping) and not any(value.values())):
        errors.add(
            "/requested_by", "requested_by is required: the person who raised the change may not approve it"
        )
        return None
    if isinstance(value, Mapping):
        keys = [value.get(k) for k in ("user_name", "value", "display_value")]
        for key in (str(k).strip() for k in keys if k not in (None, "")):
            if key in users:
                return users[key]
        if value.get("user_name") not in (None, ""):
            return _login(str(value["user_name"]), errors)
        errors.add(
            "/requested_by",
            "cannot tell which gateway principal this user is: send requested_by.user_name, or map the user in "
            "policies/data/itsm.json (itsm.servicenow.users)",
        )
        return None
    name = str(value).strip()
    if name in users:
        return users[name]
    return _login(name, errors)


def _login(name: str, errors: _Errors) -> str | None:
    """A login, or an error: a sys_id (what `current.requested_by` sends) or a display name names no principal."""
    name = name.strip()
    if _SYS_ID.match(name) or any(c.isspace() for c in name):
        errors.add(
            "/requested_by",
            f"'{name}' looks like a sys_id or a display name, not a login: send requested_by.user_name, or map the "
            "user in policies/data/itsm.json (itsm.servicenow.users)",
        )
        return None
    return name


def to_envelope(
    record: dict[str, Any],
    *,
    assignment_groups: dict[str, str] | None = None,
    users: dict[str, str] | None = None,
) -> tuple[dict[str, Any], ServiceNowLink]:
    """The request envelope for a change_request record, and the link back to it.

    Only what cannot be expressed in the envelope is checked here (JSON, dates, type, sys_id); the caller runs
    the envelope through the schema validator and maps its pointers back with map_errors().
    """
    errors = _Errors()
    if not isinstance(record, Mapping):
        errors.add("", "a ServiceNow change_request record must be a JSON object")
        errors.raise_if_any()
    sys_id = _text(record.get("sys_id"))
    if sys_id is None:
        errors.add("/sys_id", "sys_id is required: the gateway reports back to this record")
    number = _text(record.get("number"))
    change: dict[str, Any] = {"type": _change_type(record.get("type"), errors)}
    if number is not None:
        change["ticket"] = number
    window = _window(record, errors)
    if window is not None:
        change["window"] = window

    parsed, in_object = _cloud_resources(record.get("u_cloud_resources"), errors)
    section = parsed if in_object else {"resources": parsed}
    requested_by = _requester(record.get("requested_by"), users or {}, errors)
    environment = _text(record.get("u_environment"))
    inner_env = _text(section.get("environment")) if in_object else None
    if environment and inner_env and environment.lower() != inner_env.lower():
        # Silently picking one could send a prod change through dev rules.
        errors.add(
            "/u_environment", f"'{environment}' disagrees with u_cloud_resources environment '{inner_env}'"
        )
    errors.raise_if_any()

    description = _text(record.get("description"))
    justification = _text(record.get("justification"))
    if justification is None and description is not None:
        justification = description[:JUSTIFICATION_MAX]
    envelope: dict[str, Any] = {
        "title": _text(record.get("short_description")),
        "team": _team(record.get("assignment_group"), assignment_groups or {}),
        # Lowercased: ServiceNow choice labels are capitalised ("Prod"); the schema checks the value.
        "environment": (inner_env or environment or "").lower() or None,
        "justification": justification,
        "change": change,
        "lease": section.get("lease"),
        "resources": section.get("resources"),
    }
    envelope = {k: v for k, v in envelope.items() if v is not None}

    extra = {f: _raw(record.get(f)) for f in _EXTRA_FIELDS if _raw(record.get(f)) is not None}
    if description is not None and description != justification:
        extra["description"] = description
    link = ServiceNowLink(sys_id=str(sys_id), number=number, requested_by=requested_by, extra=extra)
    return envelope, link


# Envelope pointer prefixes and the record fields they came from.
_FIELD_OF = {
    "/title": "/short_description",
    "/team": "/assignment_group",
    "/justification": "/justification",
    "/change/type": "/type",
    "/change/ticket": "/number",
    "/change/window/start": "/start_date",
    "/change/window/end": "/end_date",
    "/change/window": "/start_date",  # after its members: the first matching prefix wins
}


def record_pointer(
    envelope_pointer: str, resources_in_object: bool, *, environment_in_object: bool = False
) -> str:
    """The record field a schema error on the envelope points at; unknown pointers come back unchanged."""
    inside = "/u_cloud_resources/resources" if resources_in_object else "/u_cloud_resources"
    prefixes = {
        **_FIELD_OF,
        "/resources": inside,
        "/lease": "/u_cloud_resources/lease",
        "/environment": "/u_cloud_resources/environment" if environment_in_object else "/u_environment",
    }
    for prefix, target in prefixes.items():
        if envelope_pointer == prefix or envelope_pointer.startswith(prefix + "/"):
            return target + envelope_pointer[len(prefix) :]
    return envelope_pointer


def map_errors(errors: Iterable[Mapping[str, str]], record: Mapping[str, Any]) -> list[dict[str, str]]:
    """Validator errors on the envelope built from `record`, re-pointed at the record's fields."""
    parsed, in_object = _cloud_resources(record.get("u_cloud_resources"), _Errors())
    env_inside = in_object and _text(parsed.get("environment")) is not None
    return [
        {**e, "pointer": record_pointer(e["pointer"], in_object, environment_in_object=env_inside)}
        for e in errors
    ]


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


# Gateway state -> (ServiceNow change state, approval). None leaves the record's approval as it is.
#
# | gateway state    | state           | approval      | also                                   |
# |------------------|-----------------|---------------|----------------------------------------|
# | received         | -4 Assess       | not requested | (policy not evaluated yet)             |
# | pending_approval | -3 Authorize    | requested     |                                        |
# | approved         | -2 Scheduled    | approved      |                                        |
# | scheduled        | -2 Scheduled    | approved      | (waiting for its change window)        |
# | executing        | -1 Implement    | approved      |                                        |
# | succeeded        | 3 Closed        | approved      | close_code successful, close_notes     |
# | failed           | 3 Closed        | approved      | close_code unsuccessful, close_notes   |
# | rejected         | -5 New          | rejected      |                                        |
# | expired          | 4 Canceled      | unchanged     |                                        |
# | cancelled        | 4 Canceled      | unchanged     |                                        |
# | retired          | 3 Closed        | approved      | (resources removed by a later request) |
#
# Rejected goes back to New, not Canceled: that is what ServiceNow itself does when a change's approval is
# rejected, so the requester can revise the record and submit it again (a new gateway request), and the record
# keeps the rejection visible instead of reading as withdrawn. Canceled is kept for what nobody decided against:
# the requester withdrew it, or the approval window ran out. Those leave `approval` alone, since a cancel may
# follow an approval. Closing sets close_code and close_notes because ServiceNow requires both to close a change.
STATE_MAP: dict[str, tuple[str, str | None]] = {
    "received": ("-4", "not requested"),
    "pending_approval": ("-3", "requested"),
    "approved": ("-2", "approved"),
    "scheduled": ("-2", "approved"),
    "executing": ("-1", "approved"),
    "succeeded": ("3", "approved"),
    "failed": ("3", "approved"),
    "rejected": ("-5", "rejected"),
    "expired": ("4", None),
    "cancelled": ("4", None),
    "retired": ("3", "approved"),
}


def change_update(
    *, state: str, request_id: str, decision: dict[str, Any] | None, detail: str | None = None
) -> dict[str, Any]:
    """The change_request fields the gateway PATCHes when a linked request enters `state`."""
    state = str(state)
    if state not in STATE_MAP:
        raise ValueError(f"no ServiceNow mapping for gateway state '{state}'")
    sn_state, approval = STATE_MAP[state]
    fields: dict[str, Any] = {"state": sn_state}
    if approval is not None:
        fields["approval"] = approval
    if state == "succeeded":
        fields["close_code"] = "successful"
        fields["close_notes"] = detail or f"Carried out by the governance gateway (request {request_id})."
    elif state == "failed":
        fields["close_code"] = "unsuccessful"
        fields["close_notes"] = (
            detail or f"The governance gateway could not carry it out (request {request_id})."
        )
    fields["work_notes"] = work_notes(state=state, request_id=request_id, decision=decision, detail=detail)
    return fields


def work_notes(*, state: str, request_id: str, decision: dict[str, Any] | None, detail: str | None) -> str:
    """Plain text for the change's work notes: what the gateway decided and why."""
    lines = [f"Governance gateway: request {request_id} is now {state}."]
    if decision:
        lines.append(f"Outcome: {decision.get('outcome', 'unknown')}")
        violations = decision.get("violations") or []
        if violations:
            lines.append("Violations:")
            lines += [
                f"- {v.get('set')}/{v.get('rule')}: {v.get('msg')} ({v.get('enforcement')})"
                for v in violations
            ]
        approvals = decision.get("required_approvals") or []
        if approvals:
            lines.append("Required approvals:")
            lines += [f"- {a.get('group')} \u00d7{a.get('count', 1)}: {a.get('reason')}" for a in approvals]
        cost = decision.get("cost") or {}
        if cost.get("monthly") is not None:
            lines.append(f"Monthly cost: {float(cost['monthly']):.2f} {cost.get('currency', 'USD')}")
    if detail:
        lines.append(f"Detail: {detail}")
    return "\n".join(lines)
