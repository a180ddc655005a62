"""Stage 1: JSON Schema validation of the envelope and each resource's properties."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from gateway.adapters.cloud.registry import driver_for
from gateway.domain.windows import parse
from gateway.errors import InvalidRequest

BASE = "https://governance-gateway.local/schemas/"


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _describe(err: ValidationError) -> dict[str, str]:
    path = list(err.absolute_path)
    # Point at the member that is missing or unexpected, not at the object that holds it.
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        return {"pointer": _pointer([*path, missing]), "detail": f"'{missing}' is required"}
    if err.validator == "additionalProperties" and "'" in err.message:
        extra = err.message.split("'")[1]
        return {"pointer": _pointer([*path, extra]), "detail": f"'{extra}' is not an allowed property here"}
    return {"pointer": _pointer(path), "detail": err.message}


class Validator:
    def __init__(self, schema_dir: Path) -> None:
        resources = []
        for f in sorted(schema_dir.rglob("*.schema.json")):
            doc = json.loads(f.read_text())
            resources.append((doc["$id"], Resource.from_contents(doc)))
        registry: Registry[Any] = Registry().with_resources(resources)
        root = registry.contents(BASE + "change-request.schema.json")
        Draft202012Validator.check_schema(root)
        self._validator = Draft202012Validator(
            root, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def errors(self, doc: Any) -> list[dict[str, str]]:
        found = [_describe(e) for e in self._validator.iter_errors(doc)]
        if not found:
            found = _semantic_errors(doc)
        return sorted(found, key=lambda e: e["pointer"])

    def validate(self, doc: Any) -> dict[str, Any]:
        errors = self.errors(doc)
        if errors:
            raise InvalidRequest(f"the request has {len(errors)} error(s)", errors=errors)
        out = dict(doc)
        window = out["change"].get("window")
        if window:
            # RFC 3339 allows lower-case t and z; policies parse times with Go, which wants them upper-case.
            out["change"] = {**out["change"], "window": {k: v.upper() for k, v in window.items()}}
        return out


def _semantic_errors(doc: dict[str, Any]) -> list[dict[str, str]]:
    """What JSON Schema cannot say: addresses are unique, an update changes only what its driver can change in
    place (anything else would succeed and change nothing), a change window ends after it starts."""
    errors = []
    seen: dict[str, int] = {}
    for i, res in enumerate(doc["resources"]):
        addr = f"{res['type']}.{res['name']}"
        if addr in seen:
            errors.append(
                {"pointer": f"/resources/{i}/name", "detail": f"{addr} is also resource {seen[addr]}"}
            )
        seen.setdefault(addr, i)
        if res["action"] == "update":
            updatable = driver_for(res["type"]).UPDATABLE
            for key in res.get("properties") or {}:
                if key not in updatable:
                    errors.append({
                        "pointer": f"/resources/{i}/properties/{key}",
                        "detail": f"{key} of {res['type']} cannot be changed in place (it can be: "
                                  f"{', '.join(sorted(updatable))}); replace the resource instead",
                    })  # fmt: skip
    errors += _name_and_lease_errors(doc)
    window = doc["change"].get("window")
    if window and parse(window["end"]) <= parse(window["start"]):
        errors.append({"pointer": "/change/window/end", "detail": "the window must end after it starts"})
    return errors


# The properties that name a resource in the cloud, where the request may choose the name.
_NAMES = {"aws_s3_bucket": "bucket", "aws_db_instance": "identifier"}


def _name_and_lease_errors(doc: dict[str, Any]) -> list[dict[str, str]]:
    """Two resources of one request must not name one cloud resource; a lease cannot end what is protected from
    deletion (its retirement would fail every time)."""
    errors = []
    named: dict[tuple[str, str], int] = {}
    for i, res in enumerate(doc["resources"]):
        props = res.get("properties") or {}
        key = _NAMES.get(res["type"])
        if res["action"] == "create" and key and props.get(key):
            first = named.setdefault((res["type"], props[key]), i)
            if first != i:
                errors.append({"pointer": f"/resources/{i}/properties/{key}",
                               "detail": f"{props[key]} is also the {key} of resource {first}"})  # fmt: skip
        if doc.get("lease") and props.get("deletion_protection"):
            errors.append({"pointer": f"/resources/{i}/properties/deletion_protection",
                           "detail": "a resource protected from deletion cannot have a lease: its end could not "
                                     "retire it; drop the lease or the protection"})  # fmt: skip
    return errors
