#!/usr/bin/env bash
# A venv with pinned packages, made once per content and shared by every checkout on the machine, outside them:
# ~/.cache/meshbridge-lab/venvs/NAME-KEY, KEY from the Python program and the two pin files. A clean clone then
# reuses the venv instead of spending a minute or more per venv on pip. Venvs are never changed once made (nothing
# installs into them afterwards), so checkouts can share them; a lock serialises making one, and a stamp written
# last marks a finished one. Older venvs of the same NAME are removed.
# Usage: hack/cached-venv.sh NAME PYTHON REQUIREMENTS CONSTRAINTS; prints the venv's path on stdout.
set -euo pipefail

name=$1 python=$2 requirements=$3 constraints=$4
venvs=${MESHBRIDGE_VENV_CACHE:-$HOME/.cache/meshbridge-lab/venvs}
key=$(cat "$requirements" "$constraints" <(command -v "$python") | sha256sum | cut -c1-16)
venv=$venvs/$name-$key

mkdir -p "$venvs"
exec 9>"$venvs/$name.lock"
flock 9
if [[ ! -e $venv/.installed ]]; then
  echo "venv: creating $venv from $requirements" >&2
  find "$venvs" -maxdepth 1 -name "$name-*" -type d -exec rm -rf {} +
  "$python" -m venv "$venv"
  # The machine's pip.conf adds local file indexes that are often empty; pip warns per package about them.
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" -c "$constraints" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) >&2
  touch "$venv/.installed"
fi
echo "$venv"
