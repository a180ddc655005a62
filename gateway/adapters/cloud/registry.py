"""Resource type -> driver module."""

from __future__ import annotations

from types import ModuleType

from gateway.adapters.cloud import aws_db_instance, aws_instance, aws_s3_bucket, aws_security_group
from gateway.errors import InvalidRequest

DRIVERS: dict[str, ModuleType] = {
    m.TYPE: m for m in (aws_instance, aws_s3_bucket, aws_security_group, aws_db_instance)
}


def driver_for(rtype: str) -> ModuleType:
    try:
        return DRIVERS[rtype]
    except KeyError:
        raise InvalidRequest(f"no cloud driver for resource type {rtype!r}") from None
