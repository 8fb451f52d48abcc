# Sourced by scripts/services.sh and scripts/docker.sh. Each run of throwaway servers lives in
# its own directory under $STATE, owned by a process; the caller defines install_missing and
# names in $STOP the function that stops the servers of one directory.

# A run killed with SIGKILL leaves its servers behind: stop those whose owner is gone.
stop_orphans() {
    local dir owner
    for dir in "$STATE"/run.*; do
        [[ -d $dir && -f $dir/owner ]] || continue
        owner="$(cat "$dir/owner")"
        kill -0 "$owner" 2>/dev/null || "$STOP" "$dir"
    done
}

# A fresh run directory owned by process $1 (1, the init process, for `up`: never an orphan).
new_run_dir() {
    local dir
    install_missing
    mkdir -p "$STATE"
    stop_orphans
    dir="$(mktemp -d "$STATE/run.XXXXXX")"
    chmod 755 "$dir"
    echo "$1" >"$dir/owner"
    echo "$dir"
}
