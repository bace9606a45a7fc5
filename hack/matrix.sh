#!/usr/bin/env bash
# The supported ansible-core releases besides the main venv's: for each tests/matrix/ansible-core-MINOR.txt (or the
# MINOR versions given as arguments), a venv with that file's pins on hack/python.sh's Python 3.13, or on the
# Python a "# controller python: PROGRAM" line in the file names, and in it
# ansible-test sanity, the collection's unit tests and the collection artifact test (ansible-galaxy builds and installs
# the collection, ansible-playbook runs its playbooks by FQCN and its validation stage with a good and a bad
# inventory).
# The venvs are made once per pin set, outside the checkout (hack/cached-venv.sh). hack/test.sh's matrix stage runs this.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

default_python=$(hack/python.sh)
minors=("$@")
if ((${#minors[@]} == 0)); then
  for file in tests/matrix/ansible-core-*.txt; do
    minor=${file##*/ansible-core-}
    minors+=("${minor%.txt}")
  done
fi

# Every package below the requirements file's own pins comes at constraints.txt's version, as in .venv; only the
# Ansible packages differ.
constraints=.build/matrix/constraints.txt
mkdir -p .build/matrix
grep -vE '^(ansible|ansible-core)==' constraints.txt >"$constraints"

# shellcheck source=hack/env.sh
. hack/env.sh

for minor in "${minors[@]}"; do
  requirements=tests/matrix/ansible-core-$minor.txt
  [[ -e $requirements ]] || { echo "matrix: no $requirements" >&2; exit 1; }
  python=$(sed -n 's/^# controller python: //p' "$requirements")
  python=${python:-$default_python}
  venv=$(hack/cached-venv.sh "ansible-core-$minor" "$python" "$requirements" "$constraints")
  version=$("$venv/bin/python" -c 'import ansible.release; print(ansible.release.__version__)')
  python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

  hack/ansible-test-pip.sh "$venv"

  (
    export PATH=$venv/bin:$PATH
    start=$SECONDS
    echo "--- ansible-core $version on Python $python_version: sanity"
    # As hack/test.sh's sanity stage: a fresh copy of the files git tracks or would track, in a throwaway repo.
    copy=$top/.build/matrix/sanity-$minor/ansible_collections/meshbridge/istio_vm
    rm -rf "$copy" && mkdir -p "$copy"
    git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$copy/"
    (cd "$copy" && git init -q && git add -A && ansible-test sanity --python "$python_version" --color no)
    echo "--- ansible-core $version: sanity passed in $((SECONDS - start)) s"

    start=$SECONDS
    echo "--- ansible-core $version: unit tests"
    # The collection's own (tests/unit/plugins and roles), not those of the dev tooling beside them (docs, time limits).
    pytest -q -p no:cacheprovider --timeout 60 tests/unit/plugins tests/unit/roles
    echo "--- ansible-core $version: unit tests passed in $((SECONDS - start)) s"

    start=$SECONDS
    echo "--- ansible-core $version: integration (tests/integration/test_collection_artifact.py)"
    pytest -q -p no:cacheprovider --timeout 900 tests/integration/test_collection_artifact.py
    echo "--- ansible-core $version: integration passed in $((SECONDS - start)) s"
  )
done
