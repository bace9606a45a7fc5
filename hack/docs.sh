#!/usr/bin/env bash
# The collection's HTML docsite (`make docs`): antsibull-docs sphinx-init lays out a Sphinx project in DIR (default
# .build/docs), its build.sh renders the plugins, roles and docs/docsite of the collection on ANSIBLE_COLLECTIONS_PATH
# (this checkout, through hack/env.sh) and runs sphinx-build -W, so any warning fails. Open DIR/build/html/index.html.
set -euo pipefail

out=$(realpath -m "${1:-$(dirname "$0")/../.build/docs}")
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[[ -x .venv/bin/antsibull-docs ]] || { echo "docs: no .venv here yet: run hack/bootstrap.sh (make bootstrap) first" >&2; exit 1; }
# shellcheck source=hack/env.sh
. hack/env.sh
rm -rf "$out"
mkdir -p "$(dirname "$out")"
# antsibull-docs wants its destination owned by the caller and writable by no one else.
mkdir -m 0755 "$out"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$out" \
  --project meshbridge.istio_vm --copyright 'meshbridge maintainers' --title 'meshbridge.istio_vm' \
  meshbridge.istio_vm >/dev/null
# The generated conf.py fetches other sites' intersphinx inventories (Python, Jinja, Ansible), which cannot be reached
# here and would fail -W; hack/sphinx_offline_refs.py links the pages of Ansible's docsite by address instead.
cat >>"$out/conf.py" <<CONF

# Added by hack/docs.sh: build offline.
import sys
sys.path.insert(0, '$top/hack')
extensions.append('sphinx_offline_refs')
intersphinx_mapping = {}
CONF
# NO_COLOR: Sphinx colours its log under CI=true, which would hide its last line from grep.
NO_COLOR=1 "$out/build.sh" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
grep -E '^build succeeded' "$out/build.log"
