#!/usr/bin/env bash
# Performance figures (printed, never asserted). Called by `make bench`.
# Results are also written as JSON under bench/results/ for comparing runs.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)

echo "== one hook call through the plugin manager"
.venv/bin/python bench/hook_call.py --json "bench/results/hook_call-$stamp.json"
echo
echo "== GET /api/v1/users/me: every installed plugin enabled vs none"
.venv/bin/python bench/users_me.py --json "bench/results/users_me-$stamp.json"
