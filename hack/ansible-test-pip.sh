#!/usr/bin/env bash
# ansible-test sanity creates a venv per test and bootstraps pip in it with a get-pip script it downloads from a
# host this machine cannot reach. Serve that script from a local wheel of the pip version the given venv's
# ansible-test asks for (it differs between ansible-core releases). Usage: hack/ansible-test-pip.sh VENV
set -euo pipefail

venv=$1
top=$(cd "$(dirname "$0")/.." && pwd)
pip_version=$("$venv/bin/python" -c 'import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])')
cache=$HOME/.ansible/test/cache
if ! ls "$cache/pip-wheels/pip-$pip_version-"*.whl >/dev/null 2>&1; then
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$cache/pip-wheels" "pip==$pip_version"
fi
install -m 0644 "$top/hack/get_pip_offline.py" "$cache/get_pip_${pip_version//./_}.py"
