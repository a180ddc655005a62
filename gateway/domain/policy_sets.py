"""The policy-set contract (policies/policy-sets.yaml, design section 6), parsed and checked."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Enforcement = Literal["advisory", "soft-mandatory", "hard-mandatory"]
ENFORCEMENTS: tuple[str, ...] = ("advisory", "soft-mandatory", "hard-mandatory")


class PolicySet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    bundle: str
    query: str = Field(pattern=r"^data(\.[A-Za-z_][A-Za-z0-9_]*)+$")
    enforcement: Enforcement = "hard-mandatory"
    profile: Literal["native", "terraform", "scalr", "spacelift", "hcp"] = "native"
    rego_version: Literal["v0", "v1"] = "v1"
    override_group: str | None = None

    @field_validator("bundle")
    @classmethod
    def _relative(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/"):
            raise ValueError("bundle must be a directory under the policy directory")
        return v

    @property
    def data_path(self) -> str:
        """The query as a path under OPA's /v1/data API."""
        return "/".join(self.query.split(".")[1:])


class PolicySets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sets: list[PolicySet] = Field(min_length=1)


def parse_policy_sets(doc: Any) -> list[PolicySet]:
    return PolicySets.model_validate(doc).sets
