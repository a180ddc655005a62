#!/usr/bin/env bash
# Installs Debian's Chromium if it is missing: the audit report's test renders and prints the report with it.
set -euo pipefail
if [[ ! -x /usr/bin/chromium ]]; then
  echo "› installing Chromium from Debian's packages (for the audit report's rendering test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
