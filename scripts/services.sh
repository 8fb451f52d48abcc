#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis for the test suite: installed from Debian when absent, each
# run in its own directory under .services/, listening on 127.0.0.1 only, on free ports.
#
#   scripts/services.sh run CMD...   start both, run CMD with the URLs below exported, stop both
#   scripts/services.sh up           start both and keep them (prints the exports to eval)
#   scripts/services.sh down         stop what `up` started
#
# Exported: LMSCORE_SERVICES_PG_URL (an empty database `lmscore_test`, superuser `postgres`)
# and LMSCORE_TEST_REDIS_URL.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.services"

# The server refuses to run as root: as root, run the cluster as Debian's `postgres` user.
if [[ $EUID -eq 0 ]]; then as_pg=(runuser -u postgres --); else as_pg=(); fi

pg_bin() {
    local bin
    bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
    [[ -n $bin && -x $bin/initdb ]] && echo "$bin"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_missing() {
    local packages=()
    pg_bin >/dev/null || packages+=(postgresql)
    command -v redis-server >/dev/null || packages+=(redis-server)
    # The `local` code-grading sandbox (tests/test_sandbox_local.py, tests/test_code_grading.py).
    command -v bwrap >/dev/null || packages+=(bubblewrap)
    ((${#packages[@]})) || return 0
    bash "$ROOT/scripts/apt-install.sh" "${packages[@]}" >&2
}

start_postgres() {
    local dir=$1 bin port
    bin="$(pg_bin)"
    port="$(free_port)"
    mkdir -p "$dir/pg"
    [[ $EUID -ne 0 ]] || chown postgres: "$dir/pg"
    "${as_pg[@]}" "$bin/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 --locale=C \
        --no-sync >"$dir/pg/initdb.log"
    # Durability is pointless for a throwaway cluster; fsync off makes DDL-heavy tests fast.
    # A connection a broken test leaves idle in a transaction would block the next test's
    # writes forever: the timeout ends it, so the suite fails instead of hanging.
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 -s start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pg -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
            -c idle_in_transaction_session_timeout=60s"
    "${as_pg[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres lmscore_test
    echo "export LMSCORE_SERVICES_PG_URL=postgresql://postgres@127.0.0.1:$port/lmscore_test" \
        >>"$dir/env"
}

start_redis() {
    local dir=$1 port
    port="$(free_port)"
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" --dir "$dir" --save "" --appendonly no
    for _ in $(seq 100); do
        redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null
    echo "export LMSCORE_TEST_REDIS_URL=redis://127.0.0.1:$port/0" >>"$dir/env"
}

stop_all() {
    local dir=$1 bin pid
    if [[ -f $dir/pg/data/postmaster.pid ]]; then
        bin="$(pg_bin)"
        "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/pg/data" -m fast -w -s stop || true
    fi
    if [[ -f $dir/redis.pid ]]; then
        pid="$(cat "$dir/redis.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -rf "$dir"
}

STOP=stop_all
# shellcheck source=scripts/run-dirs.sh
source "$ROOT/scripts/run-dirs.sh"

case "${1:-}" in
    run)
        shift
        (($#)) || { echo "usage: $0 run CMD..." >&2; exit 2; }
        dir="$(new_run_dir $$)"
        trap 'stop_all "$dir"' EXIT
        trap 'exit 130' INT TERM
        start_postgres "$dir"
        start_redis "$dir"
        # shellcheck disable=SC1091
        source "$dir/env"
        set +e
        "$@"
        exit $?
        ;;
    up)
        [[ ! -e $STATE/current ]] || { echo "already up: $0 down first" >&2; exit 1; }
        # Owned by the init process: never an orphan for stop_orphans.
        dir="$(new_run_dir 1)"
        ln -s "$dir" "$STATE/current"
        start_postgres "$dir"
        start_redis "$dir"
        cat "$dir/env"
        ;;
    down)
        [[ -L $STATE/current ]] || { echo "not up" >&2; exit 0; }
        stop_all "$(readlink "$STATE/current")"
        rm -f "$STATE/current"
        ;;
    *)
        echo "usage: $0 run CMD... | up | down" >&2
        exit 2
        ;;
esac
