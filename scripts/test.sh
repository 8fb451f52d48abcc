#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL, with Redis for the worker tests. Called by
# `make test` (and so by .ci/run); extra arguments go to pytest. PostgreSQL and Redis come from
# scripts/services.sh unless LMSCORE_SERVICES_PG_URL and LMSCORE_TEST_REDIS_URL are set.
# A Docker Engine comes from scripts/docker.sh unless LMSCORE_TEST_DOCKER_HOST is set.
#   LMSCORE_TEST_BACKENDS="sqlite postgresql"  which passes to run
#   LMSCORE_TEST_PARALLEL=1                    passes run side by side (one per core), their
#                                              output kept in test-artifacts/ and shown after;
#                                              0 runs them one after the other, output live
#   LMSCORE_TEST_TIMEOUT=1080                  seconds a pass may take before it is stopped
set -euo pipefail
cd "$(dirname "$0")/.."

# A real Docker Engine for the workspace and sandbox tests (scripts/docker.sh), unless one is
# given in LMSCORE_TEST_DOCKER_HOST.
if [[ -z ${LMSCORE_TEST_DOCKER_HOST:-} ]]; then
    exec bash scripts/docker.sh run bash scripts/test.sh "$@"
fi
if [[ -z ${LMSCORE_SERVICES_PG_URL:-} || -z ${LMSCORE_TEST_REDIS_URL:-} ]]; then
    exec bash scripts/services.sh run bash scripts/test.sh "$@"
fi

backends=(${LMSCORE_TEST_BACKENDS:-sqlite postgresql})
parallel=${LMSCORE_TEST_PARALLEL:-1}
((${#backends[@]} > 1)) || parallel=0
redis_base=${LMSCORE_TEST_REDIS_URL%/*}
mkdir -p test-artifacts
bash scripts/browser.sh  # Debian chromium for tests/browser
bash scripts/npm-fixtures.sh  # npm packages read as test data (GitHub webhook examples)

# One pass; each gets its own Redis database so their workers never take each other's jobs.
pass() {
    local backend=$1 index=$2
    shift 2
    case $backend in
        sqlite) set -- -u LMSCORE_TEST_DATABASE_URL "$@" ;;
        postgresql) set -- LMSCORE_TEST_DATABASE_URL="$LMSCORE_SERVICES_PG_URL" "$@" ;;
        *) echo "unknown backend $backend" >&2; return 2 ;;
    esac
    # The browser tests serve their own SQLite app whatever the backend: run them once.
    local only_once=()
    [[ $backend == sqlite ]] || only_once=(--ignore=tests/browser)
    # A hung test must fail the run, not stall CI.
    local rc=0
    timeout --kill-after=30 "${LMSCORE_TEST_TIMEOUT:-1080}" \
        env "$@" LMSCORE_TEST_REDIS_URL="$redis_base/$index" .venv/bin/python -m pytest -q \
        "${only_once[@]}" "${args[@]}" || rc=$?
    ((rc != 124)) || echo "== $backend: stopped after ${LMSCORE_TEST_TIMEOUT:-1080} s"
    return $rc
}

args=("$@")
status=0
started=$SECONDS
if ((parallel)); then
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
    for i in "${!backends[@]}"; do
        echo "== ${backends[i]}: running (test-artifacts/pytest-${backends[i]}.log)"
        pass "${backends[i]}" "$i" >"test-artifacts/pytest-${backends[i]}.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!backends[@]}"; do
        wait "${pids[i]}" || status=1
        echo "== ${backends[i]}"
        cat "test-artifacts/pytest-${backends[i]}.log"
    done
else
    for i in "${!backends[@]}"; do
        echo "== ${backends[i]}"
        pass "${backends[i]}" "$i" || status=1
    done
fi
echo "== ${backends[*]}: $((SECONDS - started)) s, $( ((status)) && echo FAILED || echo passed)"
exit $status
