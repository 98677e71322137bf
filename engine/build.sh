#!/usr/bin/env bash
# Build the Pulumi CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) and this project's Python language
# host from Go modules pinned in engine/go.mod, into a cache outside the repository:
#
#   ${TAXCALC_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/taxcalc-consent/engine}/<VERSION>/bin
#       pulumi  pulumi-language-python  pulumi-language-python-exec  pulumi-resource-pulumi-python
#
# The version comes from engine/VERSION and must match the pkg/v3 version pinned in engine/go.mod.
# Idempotent: when the bin dir is complete, built from the same inputs (stamp) and `pulumi version`
# prints VERSION, it returns at once without running go. The build goes to a temporary directory that
# is renamed into place, so an interrupted build never leaves a half-filled cache.
# Logs go to stderr; the last line on stdout is the bin directory.
#
# Usage: engine/build.sh [--force]     e.g.  export PATH="$(engine/build.sh | tail -n1):$PATH"
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(tr -d '[:space:]' < "$here/VERSION")"
cache_root="${TAXCALC_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/taxcalc-consent/engine}"
dest="$cache_root/$version"
bin="$dest/bin"
tools=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python)
force=0
[[ "${1:-}" == "--force" ]] && force=1

log() { printf '[engine/build.sh] %s\n' "$*" >&2; }

# Everything that decides what lands in bin/: a change to any of these rebuilds.
stamp_of_inputs() {
  (cd "$here" && cat VERSION go.mod go.sum build.sh $(find cmd -type f -name '*.go' ! -name '*_test.go' | LC_ALL=C sort)) \
    | sha256sum | cut -d' ' -f1
}

up_to_date() {
  local t
  for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || return 1; done
  [[ -f "$dest/stamp" && "$(cat "$dest/stamp")" == "$(stamp_of_inputs)" ]] || return 1
  [[ "$("$bin/pulumi" version 2>/dev/null)" == "$version" ]] || return 1
}

if [[ $force == 0 ]] && up_to_date; then
  log "up to date: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
# One build at a time per cache; a second caller waits and then finds the cache up to date.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_root/.lock"
  flock 9
  if [[ $force == 0 ]] && up_to_date; then
    log "up to date (built by a concurrent run): $bin"
    echo "$bin"
    exit 0
  fi
  # Leftovers of builds that were killed before their trap could run.
  rm -rf "$cache_root/.build-$version."* "$cache_root/.old-$version."*
fi

command -v go >/dev/null 2>&1 || { log "go is not on PATH (Go >= 1.26.6 needed)"; exit 1; }
cd "$here"
export GOWORK=off CGO_ENABLED=0

pinned="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)"
if [[ "$pinned" != "$version" ]]; then
  log "engine/VERSION says $version but engine/go.mod pins github.com/pulumi/pulumi/pkg/v3 $pinned"
  log "to move: edit VERSION, then in engine/: go get -tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@\$(cat VERSION) && go get github.com/pulumi/pulumi/sdk/v3@\$(cat VERSION)"
  exit 1
fi

tmp="$(mktemp -d "$cache_root/.build-$version.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp"
mkdir -p "$tmp/bin"

start=$SECONDS
log "building pulumi $version and pulumi-language-python (CGO_ENABLED=0; a cold build takes ~8 min on 2 cores)..."
go build -trimpath -buildvcs=false \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
  -o "$tmp/bin/" tool

# The exec shim the language host runs with Python ships inside the sdk/v3 module, and so does the plugin
# that serves Python dynamic providers (pulumi.dynamic; the tool's consent settings resources): Pulumi's
# release archives carry both beside `pulumi`, where the engine looks for bundled plugins first.
go mod download github.com/pulumi/pulumi/sdk/v3
sdkdir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$tmp/bin/pulumi-language-python-exec"
install -m 0755 "$sdkdir/python/dist/pulumi-resource-pulumi-python" "$tmp/bin/pulumi-resource-pulumi-python"

got="$("$tmp/bin/pulumi" version)"
[[ "$got" == "$version" ]] || { log "built pulumi reports '$got', expected $version"; exit 1; }
stamp_of_inputs > "$tmp/stamp"

# Swap into place: the old tree (if any) is moved aside first, then removed.
if [[ -e "$dest" ]]; then
  old="$(mktemp -d "$cache_root/.old-$version.XXXXXX")"
  mv "$dest" "$old/"
  mv "$tmp" "$dest"
  rm -rf "$old"
else
  mv "$tmp" "$dest"
fi
trap - EXIT
log "built in $((SECONDS - start))s: $bin"
echo "$bin"
