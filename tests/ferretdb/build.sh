#!/usr/bin/env bash
# Build the FerretDB test server once per machine and print its path. The binary is cached under
# a name derived from go.sum and main.go, so a second run (and CI after it) builds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
key="$(cat "$here/go.sum" "$here/go.mod" "$here/main.go" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/observed-service-tools"  # shared by every service made from this template
bin="$cache/ferretdb-test-server-$key"
if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "go is not installed" >&2; exit 3; }
    mkdir -p "$cache"
    echo "building FerretDB test server (first run on this machine takes a few minutes)" >&2
    (cd "$here" && go build -trimpath -o "$bin.tmp" .)
    mv "$bin.tmp" "$bin"
fi
echo "$bin"
