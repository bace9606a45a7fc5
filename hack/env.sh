# shellcheck shell=bash
# Source this for a shell that runs the collection from this checkout: `. hack/env.sh`.
# hack/bootstrap.sh must have run once.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH=$top/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$top/.build/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=true
export PYTHONPATH=$top:$top/.build/collections${PYTHONPATH:+:$PYTHONPATH}
