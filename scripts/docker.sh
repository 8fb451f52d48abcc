#!/usr/bin/env bash
# A throwaway Docker Engine for the workspace and sandbox tests: Debian's docker.io installed
# when absent, dockerd started by hand with everything (data, state, socket) under
# .services/docker/, and a local test image built without any registry pull.
#
#   scripts/docker.sh run CMD...   start dockerd, run CMD with the exports below, stop it
#   scripts/docker.sh up           start one and keep it (prints the exports to eval); when one
#                                  is already up, prints its exports again
#   scripts/docker.sh down         remove lmscore containers, stop what `up` started
#
# Exported: LMSCORE_TEST_DOCKER_HOST (unix://… socket of that engine) and
# LMSCORE_TEST_DOCKER_IMAGE (the local test image: an empty rootfs whose /usr is the host's,
# bind-mounted read-only at run time, so python3 runs inside; user 1000, /sbin for init).
#
# Networking: no default bridge, no iptables rules, no masquerading and no IP forwarding, so
# the engine changes nothing on the host. Each workspace gets its own bridge network; with
# forwarding off, one network cannot route to another (see docs/workspaces.md).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.services/docker"
TEST_IMAGE=lmscore-test/workspace:latest
# Every container and network lmscore creates carries this label (docs/workspaces.md).
MANAGED_LABEL=lmscore.managed=true

install_missing() {
    command -v dockerd >/dev/null && return 0
    bash "$ROOT/scripts/apt-install.sh" docker.io >&2
}

docker_cli() {
    local dir=$1
    shift
    DOCKER_HOST="unix://$dir/docker.sock" docker "$@"
}

build_test_image() {
    local dir=$1 rootfs
    rootfs="$dir/rootfs"
    mkdir -p "$rootfs"/{sbin,tmp,etc,usr,workspace,home/learner,proc,dev,sys}
    # Debian's merged /usr: the host's /usr mounted over the image's brings /bin, /lib along.
    ln -s usr/bin "$rootfs/bin"
    ln -s usr/lib "$rootfs/lib"
    ln -s usr/lib64 "$rootfs/lib64"
    printf 'root:x:0:0:root:/root:/bin/sh\nlearner:x:1000:1000:learner:/home/learner:/bin/sh\n' \
        >"$rootfs/etc/passwd"
    printf 'root:x:0:\nlearner:x:1000:\n' >"$rootfs/etc/group"
    chown 1000:1000 "$rootfs/workspace" "$rootfs/home/learner"
    chmod 1777 "$rootfs/tmp"
    tar -C "$rootfs" -c . | docker_cli "$dir" import -c 'USER 1000:1000' \
        -c 'WORKDIR /workspace' -c 'ENV HOME=/home/learner' - "$TEST_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

start_dockerd() {
    local dir=$1
    mkdir -p "$dir"
    dockerd --iptables=false --ip-masq=false --ip-forward=false --bridge=none \
        --pidfile "$dir/dockerd.pid" --data-root "$dir/data" --exec-root "$dir/exec" \
        --host "unix://$dir/docker.sock" >"$dir/dockerd.log" 2>&1 &
    for _ in $(seq 200); do
        docker_cli "$dir" version >/dev/null 2>&1 && break
        kill -0 $! 2>/dev/null || { cat "$dir/dockerd.log" >&2; return 1; }
        sleep 0.05
    done
    docker_cli "$dir" version >/dev/null
    build_test_image "$dir"
    {
        echo "export LMSCORE_TEST_DOCKER_HOST=unix://$dir/docker.sock"
        echo "export LMSCORE_TEST_DOCKER_IMAGE=$TEST_IMAGE"
    } >"$dir/env"
}

stop_dockerd() {
    local dir=$1 pid ids
    if [[ -f $dir/dockerd.pid ]]; then
        pid="$(cat "$dir/dockerd.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            ids="$(docker_cli "$dir" ps -aq --filter "label=$MANAGED_LABEL" 2>/dev/null || true)"
            [[ -z $ids ]] || docker_cli "$dir" rm -f $ids >/dev/null 2>&1 || true
            ids="$(docker_cli "$dir" network ls -q --filter "label=$MANAGED_LABEL" 2>/dev/null || true)"
            [[ -z $ids ]] || docker_cli "$dir" network rm $ids >/dev/null 2>&1 || true
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        fi
    fi
    # A daemon killed hard leaves its overlay and shm mounts behind: unmount before removing.
    grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
}

STOP=stop_dockerd
# shellcheck source=scripts/run-dirs.sh
source "$ROOT/scripts/run-dirs.sh"

case "${1:-}" in
    run)
        shift
        (($#)) || { echo "usage: $0 run CMD..." >&2; exit 2; }
        dir="$(new_run_dir $$)"
        trap 'stop_dockerd "$dir"' EXIT
        trap 'exit 130' INT TERM
        start_dockerd "$dir"
        # shellcheck disable=SC1091
        source "$dir/env"
        set +e
        "$@"
        exit $?
        ;;
    up)
        if [[ -L $STATE/current ]]; then
            current="$(readlink "$STATE/current")"
            if docker_cli "$current" version >/dev/null 2>&1; then
                cat "$current/env"
                exit 0
            fi
            # The engine it names died (killed, machine restarted): clear it, start anew.
            stop_dockerd "$current"
            rm -f "$STATE/current"
        fi
        # Owned by the init process: never an orphan for stop_orphans.
        dir="$(new_run_dir 1)"
        ln -s "$dir" "$STATE/current"
        start_dockerd "$dir"
        cat "$dir/env"
        ;;
    down)
        [[ -L $STATE/current ]] || { echo "not up" >&2; exit 0; }
        stop_dockerd "$(readlink "$STATE/current")"
        rm -f "$STATE/current"
        ;;
    *)
        echo "usage: $0 run CMD... | up | down" >&2
        exit 2
        ;;
esac
