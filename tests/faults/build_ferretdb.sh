#!/usr/bin/env bash
# Build FerretDB's own command (v1.24.2, SQLite backend) once per machine and print its path. The
# store tests embed FerretDB as a library, which cannot enforce authentication; the command can
# (--test-enable-new-auth with --setup-username), so the fault matrix can refuse credentials.
# `go install ...@v1.24.2` panics on a version file the release leaves to its own build, so the
# module is copied from the module cache (checked against the checksum database) and the file
# written. Cached by version and by this script's content.
set -euo pipefail
version=v1.24.2
cache="${XDG_CACHE_HOME:-$HOME/.cache}/observed-service-tools"  # shared by every service made from this template
key="$(sha256sum "$0" | cut -c1-12)"
bin="$cache/ferretdb-$version-$key"
if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "go is not installed" >&2; exit 3; }
    mkdir -p "$cache"
    work="$(mktemp -d "$cache/ferretdb-build.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "building FerretDB $version (first run on this machine takes a few minutes)" >&2
    dir="$(cd "$work" && go mod download -json "github.com/FerretDB/FerretDB@$version" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$dir" ] || { echo "go mod download did not give a directory" >&2; exit 1; }
    cp -R "$dir" "$work/src"
    chmod -R u+w "$work/src"
    echo "$version" > "$work/src/build/version/version.txt"
    (cd "$work/src" && go build -trimpath -buildvcs=false -o "$bin.tmp" ./cmd/ferretdb)
    mv "$bin.tmp" "$bin"
fi
echo "$bin"
