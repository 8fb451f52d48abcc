#!/usr/bin/env bash
# Performance figures (printed, never asserted). Called by `make bench`; arguments go to
# bench/run.py (e.g. --smoke for tiny sizes, --only quiz_load, --workers 4).
#
# A production-like stack on 127.0.0.1: scripts/services.sh starts a throwaway PostgreSQL
# and Redis (unless LMSCORE_BENCH_DATABASE_URL, a superuser URL, names a server: each
# scenario creates its own database); the HTTP scenarios add gunicorn and `lms worker`.
# bench/run.py finds every scenario in bench/, runs it, prints one table with each
# scenario's same-run baseline and writes the figures as JSON under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
# A Docker Engine for the workspace and docker-sandbox scenarios (scripts/docker.sh).
if [[ -z ${LMSCORE_TEST_DOCKER_HOST:-} ]]; then
    exec bash scripts/docker.sh run bash "$0" "$@"
fi
if [[ -z ${LMSCORE_BENCH_DATABASE_URL:-} ]]; then
    if [[ -z ${LMSCORE_SERVICES_PG_URL:-} ]]; then
        exec bash scripts/services.sh run bash "$0" "$@"
    fi
    export LMSCORE_BENCH_DATABASE_URL=$LMSCORE_SERVICES_PG_URL
fi
exec .venv/bin/python bench/run.py "$@"
