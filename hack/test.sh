#!/usr/bin/env bash
# The test command: `make test` runs every stage; `hack/test.sh STAGE...` runs some.
# Stages: lint sanity unit integration molecule. Each prints its wall time; the first failure stops the run.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hack/bootstrap.sh

export PATH=$top/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$top/.build/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=true
collection=$top/.build/collections/ansible_collections/meshbridge/istio_vm

stage_lint() {
  ansible-lint --strict
  antsibull-changelog lint
}

stage_sanity() {
  # ansible-test must run from inside ansible_collections/NAMESPACE/NAME and only tests files git knows.
  (cd "$collection" && ansible-test sanity --python 3.11 --color no)
}

stage_unit() {
  pytest -q -p no:cacheprovider tests/unit
}

stage_integration() {
  pytest -q -p no:cacheprovider tests/integration
}

stage_molecule() {
  if [[ -d molecule/default ]]; then
    molecule test --scenario-name default
  else
    echo "molecule: no default scenario yet"
  fi
}

stages=("$@")
((${#stages[@]})) || stages=(lint sanity unit integration molecule)
for stage in "${stages[@]}"; do
  start=$SECONDS
  echo "=== $stage"
  "stage_$stage"
  echo "=== $stage passed in $((SECONDS - start)) s"
done
