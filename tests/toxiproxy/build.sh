#!/usr/bin/env bash
# Build Toxiproxy (the proxy the fault matrix in tests/faults puts between the service and
# FerretDB) once per machine and print its path. Cached by version: a second run builds nothing.
set -euo pipefail
version=v2.5.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/observed-service-tools"  # shared by every service made from this template
bin="$cache/toxiproxy-server-$version"
if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "go is not installed" >&2; exit 3; }
    mkdir -p "$cache"
    work="$(mktemp -d "$cache/toxiproxy-build.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "building Toxiproxy $version (first run on this machine takes about a minute)" >&2
    # Modules in the machine's module cache (checked against the checksum database), the binary
    # in a scratch GOBIN, then moved into place whole.
    GOBIN="$work/bin" GOFLAGS=-modcacherw go install -trimpath \
        "github.com/Shopify/toxiproxy/v2/cmd/server@$version"
    mv "$work/bin/server" "$bin"
fi
echo "$bin"
