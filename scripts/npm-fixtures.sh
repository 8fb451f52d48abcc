#!/usr/bin/env bash
# npm packages the tests read as data, installed into .services/npm (git-ignored):
#   @octokit/webhooks-examples  real GitHub webhook payloads (plugins/github tests)
# Does nothing when the pinned versions are already there, so it works offline after one run.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=.services/npm
packages=("@octokit/webhooks-examples@7.6.1")

missing=()
for spec in "${packages[@]}"; do
    name=${spec%@*} version=${spec##*@}
    manifest=$dest/node_modules/$name/package.json
    grep -qs "\"version\": \"$version\"" "$manifest" || missing+=("$spec")
done
((${#missing[@]})) || exit 0

command -v npm >/dev/null || bash scripts/apt-install.sh npm
mkdir -p "$dest"
echo "npm-fixtures: installing ${missing[*]}"
npm install --prefix "$dest" --no-audit --no-fund --ignore-scripts --prefer-offline \
    --loglevel=error "${missing[@]}" >/dev/null
