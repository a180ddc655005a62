"""Settings from the environment (prefix GATEWAY_) and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

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
    # Serve policy bundles at host:port for an external OPA (GATEWAY_OPA_URL); the local OPA always gets its own.
    bundle_addr: str | None = None
    # How long a decision waits for OPA to activate an edited policy before failing closed.
    policy_reload_timeout_seconds: float = 10.0
    exemption_max_days: int = 90
    # Threads that run request handlers (sync code: database, OPA client, boto3).
    worker_threads: int = 8

    # Approvals: a vote counts for this long; a request still waiting this long becomes `expired`.
    approval_expiry_hours: float = 72.0
    pending_expiry_hours: float = 168.0
    # Idempotency-Key records are kept this long (the IETF draft suggests 24 hours).
    idempotency_key_hours: float = 24.0
    # How often the background loops run due work: requests still `received` (OPA was down), change windows,
    # expiries, and outbox deliveries.
    tick_seconds: float = 2.0

    # Execution: approved requests wait in a queue in the database for a worker (every `govgate serve` runs one;
    # `govgate worker` runs more). With execute_inline the worker of the replica that approved a request runs it
    # at once, so the response shows the outcome; turn it off to answer approvals without waiting for the cloud.
    execute_inline: bool = True
    # A worker's claim on a request lasts this long unless renewed (after every step); a dead worker's request is
    # resumed by another once it runs out.
    execution_lease_seconds: float = 300.0
    # Claims of one request before a cloud that keeps throttling or failing fails it (and rolls back).
    execution_max_attempts: int = 6
    # botocore's attempts per call (standard retry mode), then the gateway's own retries of the whole step.
    cloud_max_attempts: int = 4
    cloud_retry_attempts: int = 4
    cloud_retry_base_seconds: float = 1.0
    cloud_retry_max_seconds: float = 30.0
    # Leases: subscribers get `lease.expiring` this long before a lease ends.
    lease_warning_hours: float = 72.0
    # A retirement that ends without success (expired, cancelled, failed, rejected by policy) is filed again this
    # long after; one an approver rejects keeps the resources, without a lease.
    lease_retry_hours: float = 24.0

    # The audit ledger: the Ed25519 key that signs checkpoints and export trailers (a PEM file, or the base64 of
    # the raw private key; the sandbox makes one in DATA_DIR), and how often the head is signed.
    ledger_signing_key: str | None = None
    ledger_checkpoint_events: int = 1000
    ledger_checkpoint_seconds: float = 60.0
    # Where `govgate audit archive` moves old events (an S3 bucket; the sandbox's in the sandbox).
    ledger_archive_bucket: str = "govgate-ledger-archive"
    ledger_archive_region: str = "eu-west-1"

    # OIDC: JWT bearer tokens checked against a JWKS (a file path or an http(s) URL).
    oidc_jwks: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_subject_claim: str = "sub"
    oidc_groups_claim: str = "groups"
    # The claim holding the gateway role; without it (or the claim) a principal gets oidc_default_role.
    oidc_role_claim: str = "gateway_role"
    oidc_default_role: str = "requester"
    oidc_leeway_seconds: int = 30

    # ServiceNow: the instance whose change_request records the gateway updates (Table API).
    servicenow_url: str | None = None
    servicenow_user: str | None = None
    servicenow_password: str | None = None
    servicenow_token: str | None = None
    # Outbox deliveries (webhooks, ServiceNow): attempts before giving up, and the backoff between them.
    outbox_max_attempts: int = 8
    outbox_backoff_seconds: float = 5.0
    outbox_backoff_max_seconds: float = 3600.0
    outbox_timeout_seconds: float = 10.0

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.cloud == "aws" and not self.database_url:
            raise ValueError(
                "GATEWAY_CLOUD=aws needs an explicit GATEWAY_DATABASE_URL: the embedded SQLite file is for the sandbox"
            )
        if self.cloud == "aws" and not self.ledger_signing_key:
            raise ValueError(
                "GATEWAY_CLOUD=aws needs GATEWAY_LEDGER_SIGNING_KEY (an Ed25519 private key, PEM file): a key made "
                "on the spot would sign checkpoints nobody can check later"
            )
        if self.oidc_jwks:
            # Without both, any token the identity provider signs for any application would get in.
            if not (self.oidc_issuer and self.oidc_audience):
                raise ValueError("GATEWAY_OIDC_JWKS needs GATEWAY_OIDC_ISSUER and GATEWAY_OIDC_AUDIENCE too")
            url = urlsplit(self.oidc_jwks)
            if url.scheme == "http" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(
                    "GATEWAY_OIDC_JWKS must be https (keys fetched over plain http can be swapped)"
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
