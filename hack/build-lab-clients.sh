#!/usr/bin/env bash
# Build the client programs the lab runs for containers' images (grpcurl) from lab/tools/clients' pins, into a
# cache outside the checkout keyed by its go.mod and go.sum; prints the directory. Apart from build-lab-tools.sh
# so that a client's pin does not rebuild Kubernetes and Istio.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
module=$top/lab/tools/clients
key=$(cat "$module/go.mod" "$module/go.sum" "$0" | sha256sum | cut -c1-16)
bin=${MESHBRIDGE_LAB_BIN_CACHE:-$HOME/.cache/meshbridge-lab/clients}/$key
if [[ -x $bin/grpcurl ]]; then
  echo "$bin"
  exit 0
fi

export GOFLAGS=-trimpath GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0 PATH=$PATH:/usr/local/go/bin
cd "$module"
started=$SECONDS
work=$bin.partial.$$
mkdir -p "$work"
# grpcurl prints this version (-version); its release build sets it the same way.
go build -ldflags "-s -w -X main.version=$(go list -m -f '{{.Version}}' github.com/fullstorydev/grpcurl)" \
  -o "$work/" github.com/fullstorydev/grpcurl/cmd/grpcurl
mv -T "$work" "$bin" 2>/dev/null || rm -rf "$work" # another build got there first
echo "build-lab-clients: grpcurl built in $((SECONDS - started)) s into $bin" >&2
echo "$bin"
