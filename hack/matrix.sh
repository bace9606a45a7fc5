#!/usr/bin/env bash
# The supported ansible-core releases besides the main venv's: for each tests/matrix/ansible-core-MINOR.txt (or the
# MINOR versions given as arguments), a venv on hack/python.sh's Python 3.13 with that file's pins, and in it
# ansible-test sanity, the collection's unit tests and the collection artifact test (ansible-galaxy builds and installs
# the collection, ansible-playbook runs its playbooks by FQCN and its validation stage with a good and a bad
# inventory).
# The venvs live in .build/matrix, one per pin set, made once. hack/test.sh's matrix stage runs this.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

python=$(hack/python.sh)
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
  key=$(cat "$requirements" "$constraints" <(echo "$python") | sha256sum | cut -c1-16)
  venv=$top/.build/matrix/ansible-core-$minor-$key
  if [[ ! -e $venv/.installed ]]; then
    echo "matrix: creating the ansible-core $minor venv ($venv)"
    rm -rf "$top/.build/matrix/ansible-core-$minor-"*
    "$python" -m venv "$venv"
    # The machine's pip.conf adds local file indexes that are often empty; pip warns per package about them.
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" -c "$constraints" \
      2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
    touch "$venv/.installed"
  fi
  version=$("$venv/bin/python" -c 'import ansible.release; print(ansible.release.__version__)')

  # ansible-test bootstraps pip in each sanity venv with a get-pip script it downloads from a host this machine
  # cannot reach; hack/bootstrap.sh serves it from a local wheel for .venv's ansible-test, and so for this one,
  # whose pip version may differ.
  pip_version=$("$venv/bin/python" -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.13"))["pip"])')
  cache=$HOME/.ansible/test/cache
  if ! ls "$cache/pip-wheels/pip-$pip_version-"*.whl >/dev/null 2>&1; then
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$cache/pip-wheels" "pip==$pip_version"
  fi
  install -m 0644 hack/get_pip_offline.py "$cache/get_pip_${pip_version//./_}.py"

  (
    export PATH=$venv/bin:$PATH
    start=$SECONDS
    echo "--- ansible-core $version: sanity"
    # As hack/test.sh's sanity stage: a fresh copy of the files git tracks or would track, in a throwaway repo.
    copy=$top/.build/matrix/sanity-$minor/ansible_collections/meshbridge/istio_vm
    rm -rf "$copy" && mkdir -p "$copy"
    git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$copy/"
    (cd "$copy" && git init -q && git add -A && ansible-test sanity --python 3.13 --color no)
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
