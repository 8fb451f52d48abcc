#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), driven by Playwright through
# executable_path: never `playwright install`, whose downloads are not reachable here.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ -x /usr/bin/chromium ]] || bash scripts/apt-install.sh chromium
