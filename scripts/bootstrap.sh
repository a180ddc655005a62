#!/usr/bin/env bash
# Installs whatever is missing into project-local, git-ignored folders: .venv (Python deps, pinned by
# constraints.txt) and .cache/bin/opa. Quick when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed as '$py' (set PYTHON=/path/to/python3.11)" >&2; exit 3
fi
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "› installing Python dependencies into .venv" >&2
  [[ -x .venv/bin/python ]] || "$py" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  PIP_CACHE_DIR="$root/.cache/pip" .venv/bin/python -m pip install --quiet --progress-bar on \
    -c constraints.txt -e '.[dev]' >&2
  rm -f .venv/.installed-*; touch "$stamp"
fi
scripts/install-opa.sh >/dev/null
