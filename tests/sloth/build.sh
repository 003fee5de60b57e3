#!/usr/bin/env bash
# Build Sloth's CLI (the SLO generator whose spec slo/sloth.yml is written in; the tests run its
# `validate` and `generate` on that file) once per machine and print its path. Cached under a
# name derived from this script, which pins the version: a second run builds nothing, and
# changing the version builds afresh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=v0.16.0
key="$(sha256sum "$here/build.sh" | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/observed-service-tools"  # shared by every service made from this template
bin="$cache/sloth-$version-$key"
if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "go is not installed" >&2; exit 3; }
    mkdir -p "$cache"
    work="$(mktemp -d "$cache/sloth-build.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "building Sloth $version (first run on this machine takes a minute or two)" >&2
    # Modules in the machine's module cache (checked against the checksum database), the binary
    # in a scratch GOBIN, then moved into place whole.
    GOBIN="$work/bin" GOFLAGS=-modcacherw go install -trimpath \
        "github.com/slok/sloth/cmd/sloth@$version"
    mv "$work/bin/sloth" "$bin"
fi
echo "$bin"
