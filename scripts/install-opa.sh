#!/usr/bin/env bash
# Makes a pinned OPA 1.x available at .cache/bin/opa: the `opa` on PATH if its version fits, else a build of the
# pinned version with `go install` (Go's module proxy). Prints the path. Re-runs are instant.
set -euo pipefail
OPA_VERSION="${OPA_VERSION:-1.22.3}"
MIN_MINOR=20   # any OPA 1.x from 1.20 on runs these policies (Rego v1, rego.metadata, --ignore)
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
mkdir -p "$bin"

fits() {  # fits PATH_TO_OPA
  local v
  v="$("$1" version 2>/dev/null | awk '/^Version:/ {print $2}')" || return 1
  [[ "$v" =~ ^1\.([0-9]+)\. ]] && (( BASH_REMATCH[1] >= MIN_MINOR ))
}

if [[ -x "$bin/opa" ]] && fits "$bin/opa"; then echo "$bin/opa"; exit 0; fi

if path_opa="$(command -v opa 2>/dev/null)" && [[ "$path_opa" != "$bin/opa" ]] && fits "$path_opa"; then
  ln -sf "$path_opa" "$bin/opa"
  echo "using $path_opa ($("$path_opa" version | head -1))" >&2
  echo "$bin/opa"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: OPA ${OPA_VERSION} is needed and neither a fitting 'opa' (1.${MIN_MINOR}+) nor Go is installed." >&2
  echo "Install one of them: OPA from https://www.openpolicyagent.org/docs/#running-opa, or Go 1.24+ (then re-run)." >&2
  exit 3
fi

echo "building OPA ${OPA_VERSION} with $(go version | awk '{print $3}') (about two minutes, once)…" >&2
export GOPATH="$root/.cache/go" GOMODCACHE="$root/.cache/go/mod" GOCACHE="$root/.cache/go/build"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@v${OPA_VERSION}" >&2
echo "$bin/opa"
