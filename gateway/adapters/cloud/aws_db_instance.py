"""RDS database instances. The master password is never handled here: RDS manages it in Secrets Manager."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.cloud.driver import REQUEST_TAG, RESOURCE_TAG, Target, error_of, is_not_found, tag_list
from gateway.domain.drift import user_tags

TYPE = "aws_db_instance"
SCHEMA_ID = "resources/aws_db_instance.schema.json"
IAM_ACTIONS = (
    "rds:DescribeDBInstances",
    "rds:CreateDBInstance",
    "rds:ModifyDBInstance",
    "rds:AddTagsToResource",
    "rds:RemoveTagsFromResource",
    "rds:DeleteDBInstance",
    # Used by RDS on the gateway's behalf: the master password it manages in Secrets Manager, and storage
    # encrypted with a customer-managed KMS key.
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "kms:CreateGrant",
    "kms:DescribeKey",
)
GONE = ("deleting", "deleted")
_MODIFIABLE = (
    ("instance_class", "DBInstanceClass"),
    ("allocated_storage", "AllocatedStorage"),
    ("storage_type", "StorageType"),
    ("multi_az", "MultiAZ"),
    ("publicly_accessible", "PubliclyAccessible"),
    ("backup_retention_period", "BackupRetentionPeriod"),
    ("deletion_protection", "DeletionProtection"),
)

# What a read returns: the modifiable properties, and some fixed at creation. Not the engine version (minor
# upgrades apply themselves, and "16" declares any 16.x) nor the KMS key (read back as an ARN, declared as any id).
_READ = (*_MODIFIABLE, ("engine", "Engine"), ("storage_encrypted", "StorageEncrypted"))

# What an update can change in place; validation refuses anything else.
# manage_master_user_password is always on, skip_final_snapshot matters only at deletion: declaring them (as
# a policy may ask) changes nothing in the cloud.
UPDATABLE = frozenset(
    {k for k, _ in _MODIFIABLE} | {"tags", "manage_master_user_password", "skip_final_snapshot"}
)
_ARGS = (
    ("engine_version", "EngineVersion"),
    ("storage_type", "StorageType"),
    ("storage_encrypted", "StorageEncrypted"),
    ("kms_key_id", "KmsKeyId"),
    ("multi_az", "MultiAZ"),
    ("publicly_accessible", "PubliclyAccessible"),
    ("backup_retention_period", "BackupRetentionPeriod"),
    ("deletion_protection", "DeletionProtection"),
)


def identifier(t: Target) -> str:
    return str(
        t.properties.get("identifier") or f"{t.team}-{t.name}-{t.request_id[:8]}".lower().replace("_", "-")
    )


def _ours(rds: Any, ident: str, t: Target) -> bool:
    try:
        db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "DBInstanceNotFound":
            raise
        return False
    tags = {x["Key"]: x["Value"] for x in db.get("TagList", [])}
    return tags.get(REQUEST_TAG) == t.request_id and tags.get(RESOURCE_TAG) == t.address


def find(cloud: Cloud, t: Target) -> str | None:
    ident = identifier(t)
    return ident if _ours(cloud.client("rds", t.region), ident, t) else None


def create(cloud: Cloud, t: Target) -> str:
    rds = cloud.client("rds", t.region)
    ident = identifier(t)
    if _ours(rds, ident, t):  # tagged as it was created: made by an attempt cut off by a crash
        return ident
    p = t.properties
    args: dict[str, Any] = {
        "DBInstanceIdentifier": ident,
        "DBInstanceClass": p["instance_class"],
        "Engine": p.get("engine", "postgres"),
        "AllocatedStorage": p.get("allocated_storage", 20),
        "MasterUsername": p.get("username", "govgate"),
        "ManageMasterUserPassword": True,
        "Tags": tag_list(t.tags),
    }
    args.update({k2: p[k1] for k1, k2 in _ARGS if k1 in p})
    rds.create_db_instance(**args)
    return ident


def update(cloud: Cloud, t: Target) -> None:
    assert t.resource_id
    rds = cloud.client("rds", t.region)
    args = {k2: t.changes[k1] for k1, k2 in _MODIFIABLE if k1 in t.changes}
    if args:
        rds.modify_db_instance(DBInstanceIdentifier=t.resource_id, ApplyImmediately=True, **args)
    if "tags" in t.changes:
        arn = rds.describe_db_instances(DBInstanceIdentifier=t.resource_id)["DBInstances"][0]["DBInstanceArn"]
        rds.add_tags_to_resource(ResourceName=arn, Tags=tag_list(t.tags))
        if t.removed_tags:
            rds.remove_tags_from_resource(ResourceName=arn, TagKeys=t.removed_tags)


def delete(cloud: Cloud, t: Target) -> None:
    """Idempotent: an instance gone, or already being deleted (a resumed step), is done. Removing what this request
    just created lifts the deletion protection it asked for first; a delete request does not."""
    assert t.resource_id
    rds = cloud.client("rds", t.region)
    try:
        if t.rolling_back and t.properties.get("deletion_protection"):
            # An instance still being created refuses changes: wait until it can take this one.
            rds.get_waiter("db_instance_available").wait(
                DBInstanceIdentifier=t.resource_id, WaiterConfig={"Delay": 15, "MaxAttempts": 80}
            )
            rds.modify_db_instance(
                DBInstanceIdentifier=t.resource_id, DeletionProtection=False, ApplyImmediately=True
            )
        rds.delete_db_instance(DBInstanceIdentifier=t.resource_id, SkipFinalSnapshot=True)
    except ClientError as exc:
        if is_not_found(exc, "DBInstanceNotFound"):
            return
        err = exc.response.get("Error", {})
        if err.get("Code") == "InvalidDBInstanceState" and "already being deleted" in str(err.get("Message")):
            return
        raise


def preflight(cloud: Cloud, t: Target, action: str) -> str | None:
    """RDS has no dry run: the identifier must be free to create, and the instance must be there to change it."""
    rds = cloud.client("rds", t.region)
    ident = identifier(t) if action == "create" else str(t.resource_id)
    try:
        rds.describe_db_instances(DBInstanceIdentifier=ident)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            return None if action == "create" else f"DB instance {ident} does not exist"
        return f"DB instance {ident}: {error_of(exc)}"
    return f"DB instance identifier {ident} is taken" if action == "create" else None


def read(cloud: Cloud, region: str, resource_id: str) -> dict[str, Any] | None:
    """The live DB instance's comparable properties (Terraform names), or None once it is gone or going."""
    try:
        found = cloud.client("rds", region).describe_db_instances(DBInstanceIdentifier=resource_id)[
            "DBInstances"
        ]
    except ClientError as exc:
        if is_not_found(exc, "DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise
    if not found or found[0].get("DBInstanceStatus") in GONE:
        return None
    # A change the gateway made is pending until RDS applies it: what it is becoming is what it is declared to be.
    db = {**found[0], **(found[0].get("PendingModifiedValues") or {})}
    live = {k1: db[k2] for k1, k2 in _READ if db.get(k2) is not None}
    live["tags"] = user_tags(db.get("TagList"))
    return live
