# METADATA
# title: Security policy set
# description: >-
#   Hard-mandatory security guardrails for the four supported AWS resource types:
#   network exposure, S3 encryption and public access, EC2 IMDSv2 and volume
#   encryption, RDS encryption and public access. deny / warn / require_approval
#   follow the gateway's output contract (see policies/lib).
# scope: package
package gateway.security

# This set never asks for approvals: its violations are rejected outright.
require_approval := set()
