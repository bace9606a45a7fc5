#!/usr/bin/env bash
# The execution environment's build context: `ansible-builder create` from meta/execution-environment.yml into
# DIR/context (default .build/ee/context), with its Containerfile. Building the image from it (`ansible-builder
# build`, or podman/docker build in DIR/context) needs a container engine and the network; this machine has neither.
# The definition names requirements.txt and bindep.txt relative to the collection's root, as ansible-builder reads
# it from an installed collection; run on its own, ansible-builder resolves them against the definition's folder, so
# the three files are staged side by side first.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/.build/ee}
rm -rf "$out"
mkdir -p "$out/definition"
cp "$top/meta/execution-environment.yml" "$top/requirements.txt" "$top/bindep.txt" "$out/definition/"
ansible-builder create --file "$out/definition/execution-environment.yml" --context "$out/context" \
  --output-filename Containerfile
