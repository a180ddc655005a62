"""Settings from the environment (prefix GATEWAY_) and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str | None = None
    opa_url: str | None = None
    opa_binary: str | None = None
    opa_timeout_seconds: float = 2.0
    policy_dir: Path = Path("policies")
    schema_dir: Path = PROJECT_ROOT / "schemas"
    cloud: Literal["sandbox", "aws"] = "sandbox"
    aws_endpoint_url: str | None = None
    data_dir: Path = Path("var")
    retry_after_seconds: int = 5
    # How often the gateway retries requests that are still `received` (policy engine was down).
    retry_interval_seconds: float = 5.0
    # Serve policy bundles at host:port for an external OPA (GATEWAY_OPA_URL); the local OPA always gets its own.
    bundle_addr: str | None = None
    # How long a decision waits for OPA to activate an edited policy before failing closed.
    policy_reload_timeout_seconds: float = 10.0
    exemption_max_days: int = 90
    # Threads that run request handlers (sync code: database, OPA client, boto3).
    worker_threads: int = 8

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.cloud == "aws" and not self.database_url:
            raise ValueError(
                "GATEWAY_CLOUD=aws needs an explicit GATEWAY_DATABASE_URL: the embedded SQLite file is for the sandbox"
            )
        return self

    @property
    def sandbox(self) -> bool:
        return self.cloud == "sandbox"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"
