#!/usr/bin/env bash
# Performance figures (printed, never asserted). Called by `make bench`.
# Results are also written as JSON under bench/results/ for comparing runs.
#
# The PostgreSQL scenarios use LMSCORE_BENCH_DATABASE_URL (a superuser URL: each scenario
# creates its own database); without it this script re-runs itself inside
# scripts/services.sh, which starts a throwaway PostgreSQL and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${LMSCORE_BENCH_DATABASE_URL:-} ]]; then
    if [[ -z ${LMSCORE_SERVICES_PG_URL:-} ]]; then
        exec bash scripts/services.sh run bash "$0" "$@"
    fi
    export LMSCORE_BENCH_DATABASE_URL=$LMSCORE_SERVICES_PG_URL
fi
mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "== one hook call through the plugin manager"
.venv/bin/python bench/hook_call.py --json "bench/results/hook_call-$stamp.json"
echo
echo "== GET /api/v1/users/me: every installed plugin enabled vs none"
.venv/bin/python bench/users_me.py --json "bench/results/users_me-$stamp.json"
echo
echo "== question-bank import: bulk vs naive (first 10,000 items), SQLite and PostgreSQL"
.venv/bin/python bench/bank_import.py --naive-items 10000 \
    --json "bench/results/bank_import-$stamp.json"
echo
echo "== track and project pages (the configured database; needs \`lms content sync\` first)"
.venv/bin/python bench/tracks_pages.py || echo "(skipped)"
echo
echo "== GET /api/v1/reviews/next: 1M card states, then 10M (PostgreSQL, gunicorn)"
.venv/bin/python bench/reviews_next.py --json "bench/results/reviews_next-$stamp.json"
echo
echo "== quiz start burst (3,000 in 10 s) and autosave (50/s for 60 s) (PostgreSQL, gunicorn)"
.venv/bin/python bench/quiz_load.py --json "bench/results/quiz_load-$stamp.json"
