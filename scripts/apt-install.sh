#!/usr/bin/env bash
# Install the given Debian packages, only those not installed yet (one `apt-get update`).
# Services are not started by the install: scripts/services.sh runs its own throwaway ones.
set -euo pipefail

missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

if [[ $EUID -ne 0 ]]; then
    echo "apt-install: missing ${missing[*]}; install them (as root) and try again" >&2
    exit 1
fi

echo "apt-install: installing ${missing[*]}"
# Debian starts a service on install unless policy-rc.d says no; ours must not keep running.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -o DPkg::Lock::Timeout=600)
"${apt[@]}" update >/dev/null
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
