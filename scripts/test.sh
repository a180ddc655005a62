#!/usr/bin/env bash
# Every test: lint and types, the policies' own tests, then the Python suite on SQLite and on PostgreSQL.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
opa="$(scripts/install-opa.sh)"
export PATH="$root/.venv/bin:$PATH"

echo "== ruff, mypy"
ruff check gateway tests bench
ruff format --check gateway tests bench
mypy

echo "== policies: opa check --strict, opa fmt, opa test with coverage >= 95% (each set in its Rego version)"
export GATEWAY_OPA_BINARY="$opa"
govgate policy test --policies policies --threshold 95
govgate policy test --policies examples/policy-packs --threshold 95

scripts/chromium.sh

echo "== pytest on SQLite"
pytest -q -p no:cacheprovider "$@"

echo "== pytest on PostgreSQL"
pg_url="$(scripts/postgres.sh)"
GATEWAY_TEST_DATABASE_URL="$pg_url" pytest -q -p no:cacheprovider "$@"
