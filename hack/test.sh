#!/usr/bin/env bash
# The test command: `make test` runs every stage; `hack/test.sh STAGE...` runs some.
# Stages: lint sanity unit matrix lab integration molecule, and lab-integration (both at once, as `make test` runs them).
# Each prints its wall time; the first failure stops the run.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hack/bootstrap.sh

# shellcheck source=hack/env.sh
. hack/env.sh

stage_lint() {
  # ansible-lint searches ANSIBLE_HOME's collections (~/.ansible) before the checkout's, and molecule installs the
  # collection there: a copy from an earlier run would be linted instead of this one. A home of this run's own.
  rm -rf .build/lint-home
  ANSIBLE_HOME=$top/.build/lint-home ansible-lint --strict
  antsibull-changelog lint
  # Plugin, role and docsite markup and references; rstcheck is left to sphinx-build -W in hack/docs.sh, which
  # builds the same pages.
  antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck --check-extra-docs-refs \
    .build/collections/ansible_collections/meshbridge/istio_vm
  hack/docs.sh
  hack/ee-context.sh
}

stage_sanity() {
  # ansible-test must run from a real (not symlinked) ansible_collections/NAMESPACE/NAME directory and tests the
  # files git knows there: a fresh copy of exactly the files git tracks or would track, in a throwaway repo.
  local copy=$top/.build/sanity/ansible_collections/meshbridge/istio_vm
  rm -rf "$copy" && mkdir -p "$copy"
  git ls-files -z --cached --others --exclude-standard |
    rsync -a --from0 --files-from=- ./ "$copy/"
  (cd "$copy" && git init -q && git add -A && ansible-test sanity --python 3.13 --color no)
}

# Per-test time limits (pytest-timeout): a unit test never waits on anything real; a lab or integration test may
# boot VMs and control planes, with module-scoped fixtures counted in the first test that uses them.
stage_unit() {
  pytest -q -p no:cacheprovider --timeout 60 tests/unit
}

# Sanity, unit tests and the collection artifact test on the other supported ansible-core releases (Python 3.13).
stage_matrix() {
  hack/matrix.sh
}

# The lab and integration tests mostly wait (VMs booting, operations at the lab's GCP latencies), so they run in
# MESHBRIDGE_TEST_WORKERS processes (default 4, on 2 cores). A test file stays on one worker: several files bring
# up one lab VM or cluster for all their tests, in file order.
parallel_pytest() {
  # --durations: the slowest tests in the log, where the suite's time goes (its budget: README, "Testing").
  pytest -q -p no:cacheprovider --timeout 900 --durations 15 -n "${MESHBRIDGE_TEST_WORKERS:-4}" --dist loadfile "$@"
}

stage_lab() {
  # The stand-ins' own tests: each checks that a stand-in refuses what the real service refuses.
  parallel_pytest tests/lab
}

stage_integration() {
  parallel_pytest tests/integration
}

stage_lab-integration() {
  parallel_pytest tests/lab tests/integration
}

stage_molecule() {
  hack/molecule.sh default
  hack/molecule.sh gcp
  if [[ -z ${MESHBRIDGE_GCP_PROJECT:-} ]]; then
    stage_note="scenario default only; scenario gcp not run: MESHBRIDGE_GCP_PROJECT is not set"
  fi
}

stages=("$@")
((${#stages[@]})) || stages=(lint sanity unit matrix lab-integration molecule)
for stage in "${stages[@]}"; do
  start=$SECONDS
  stage_note=
  echo "=== $stage"
  "stage_$stage"
  echo "=== $stage passed in $((SECONDS - start)) s${stage_note:+ ($stage_note)}"
done
