"""Drift: how a live resource differs from what the gateway's inventory says it made. Pure data, no I/O.

A property is compared only when the inventory declares it and the cloud reader returns it: what was never
declared is the cloud's business, not drift. Nested blocks (Terraform's one-element lists of objects, such as
`versioning` or `metadata_options`) are compared key by key on the keys both sides have; tags and security group
rules are compared whole, after normalising their order.
"""

from __future__ import annotations

from typing import Any

# The gateway's own tags on what it makes; never part of what a team declares.
GATEWAY_TAG_PREFIX = "govgate:"
# Maps compared whole: an added or removed key is drift.
MAPS = frozenset({"tags"})
# Security group rule lists: compared as sets of (protocol, ports, source).
RULES = frozenset({"ingress", "egress"})
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
_SOURCES = ("cidr_blocks", "ipv6_cidr_blocks", "security_groups")

# What the drivers apply when a property is not declared: that is what the gateway made, so it is expected.
# (aws_s3_bucket: absent a public access block, every flag is set, as AWS does for new buckets.)
_APPLIED_DEFAULTS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "aws_s3_bucket": {
        "public_access_block": [
            {
                "block_public_acls": True,
                "ignore_public_acls": True,
                "block_public_policy": True,
                "restrict_public_buckets": True,
            }
        ]
    }
}


def user_tags(pairs: list[dict[str, Any]] | None) -> dict[str, str]:
    """AWS's [{"Key", "Value"}] tag list as a dict, without the gateway's own tags."""
    return {
        str(t["Key"]): str(t.get("Value", ""))
        for t in pairs or []
        if not str(t["Key"]).startswith(GATEWAY_TAG_PREFIX)
    }


def expected_properties(rtype: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The inventory's properties plus what the driver applied for the ones left out."""
    out = dict(properties)
    for key, default in _APPLIED_DEFAULTS.get(rtype, {}).items():
        declared = out.get(key) or [{}]
        out[key] = [{**default[0], **declared[0]}, *declared[1:]]
    return out


def differences(rtype: str, declared: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"property", "expected", "actual"}] for each property both sides have that differs, sorted by name."""
    expected_all = expected_properties(rtype, declared)
    out = []
    for key in sorted(set(expected_all) & set(live)):
        expected, actual = _normalise(key, expected_all[key]), _normalise(key, live[key])
        if key not in MAPS and key not in RULES:
            expected, actual = _common(expected, actual)
        if expected != actual:
            out.append({"property": key, "expected": expected, "actual": actual})
    return out


def _normalise(key: str, value: Any) -> Any:
    if key in MAPS:
        return {
            str(k): str(v)
            for k, v in sorted((value or {}).items())
            if not str(k).startswith(GATEWAY_TAG_PREFIX)
        }
    if key in RULES:
        return normalise_rules(value or [])
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return sorted(value)  # id lists such as vpc_security_group_ids: order carries no meaning
    return value


def _common(expected: Any, actual: Any) -> tuple[Any, Any]:
    """Both sides cut down to the keys both have, recursively through blocks (lists of objects)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = sorted(set(expected) & set(actual))
        pairs = [_common(expected[k], actual[k]) for k in keys]
        return {k: e for k, (e, _) in zip(keys, pairs, strict=True)}, {
            k: a for k, (_, a) in zip(keys, pairs, strict=True)
        }
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = [_common(e, a) for e, a in zip(expected, actual, strict=True)]
        return [e for e, _ in pairs], [a for _, a in pairs]
    return expected, actual


def normalise_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Security group rules in one canonical form: AWS merges the sources of rules with the same protocol and
    ports into one permission, Terraform lists them as declared; both become one rule per (protocol, ports) with
    sorted sources. Descriptions are not compared."""
    merged: dict[tuple[str, int, int], dict[str, set[str]]] = {}
    for r in rules:
        proto = str(r.get("protocol", "-1")).lower()
        proto = _PROTOCOLS.get(proto, proto)
        ports = (0, 0) if proto == "-1" else (int(r.get("from_port", 0)), int(r.get("to_port", 0)))
        sources = merged.setdefault((proto, *ports), {s: set() for s in _SOURCES})
        for s in _SOURCES:
            sources[s].update(str(v) for v in r.get(s) or [])
    out = []
    for (proto, from_port, to_port), sources in sorted(merged.items()):
        rule: dict[str, Any] = {"protocol": proto, "from_port": from_port, "to_port": to_port}
        rule.update({s: sorted(v) for s, v in sources.items() if v})
        out.append(rule)
    return out
