"""Monthly cost estimates from the shipped pricing catalog (gateway/pricing/aws_on_demand.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Catalog:
    data: dict[str, Any]

    @property
    def currency(self) -> str:
        return str(self.data["currency"])

    def _region(self, region: str) -> dict[str, Any]:
        try:
            return dict(self.data["regions"][region])
        except KeyError:
            raise KeyError(f"the pricing catalog has no region {region!r}") from None

    def monthly(self, rtype: str, region: str, props: dict[str, Any]) -> float:
        """Monthly list price of one resource as described by its (Terraform-named) properties."""
        if not region:
            return 0.0
        prices = self._region(region)
        hours = float(self.data["hours_per_month"])
        defaults = self.data["defaults"]
        if rtype == "aws_instance":
            itype = props.get("instance_type")
            total = float(prices["aws_instance"].get(itype, 0.0)) * hours if itype else 0.0
            root = (props.get("root_block_device") or [{}])[0]
            size = root.get("volume_size", defaults["root_volume_size"])
            total += size * prices["ebs_gb_month"][root.get("volume_type", defaults["root_volume_type"])]
            for vol in props.get("ebs_block_device") or []:
                total += vol["volume_size"] * prices["ebs_gb_month"][vol.get("volume_type", "gp3")]
            return round(total, 2)
        if rtype == "aws_db_instance":
            klass = props.get("instance_class")
            copies = 2 if props.get("multi_az") else 1
            total = float(prices["aws_db_instance"].get(klass, 0.0)) * hours if klass else 0.0
            storage = (
                props.get("allocated_storage", 20)
                * prices["rds_storage_gb_month"][props.get("storage_type", defaults["db_storage_type"])]
            )
            return round((total + storage) * copies, 2)
        # S3 buckets and security groups cost nothing until used; usage is not estimated.
        return 0.0


@cache
def default_catalog() -> Catalog:
    text = resources.files("gateway.pricing").joinpath("aws_on_demand.json").read_text()
    return Catalog(json.loads(text))
