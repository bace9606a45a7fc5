#!/usr/bin/env bash
# Prepare a fresh machine (Debian 12, root) for the test command and the lab:
# Debian packages, a pinned virtualenv in .venv, the collection on an ansible_collections path,
# and ansible-test's pip bootstrap served from a local wheel (its own download host is unreachable here).
# Safe to run again: every step checks before it acts.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

debian_packages=(
  debootstrap systemd-container openssh-server openssh-client nftables iproute2
  rsync shellcheck openssl jq git
)

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
stamp=.venv/.installed-$(cat requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)
if [[ ! -e $stamp ]]; then
  echo "bootstrap: creating .venv with pinned packages"
  rm -rf .venv
  "$python" -m venv .venv
  # The machine's pip.conf adds local file indexes that are often empty; pip warns per package about them.
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  touch "$stamp"
fi

# The collection must live at .../ansible_collections/meshbridge/istio_vm for Ansible to load it.
collections=.build/collections/ansible_collections/meshbridge
mkdir -p "$collections"
ln -sfn "$top" "$collections/istio_vm"

# ansible-test sanity creates a venv per test and bootstraps pip with a script it downloads from a host this
# machine cannot reach. Serve that script from a local pip wheel instead.
cache=$HOME/.ansible/test/cache
wheels=$cache/pip-wheels
if ! ls "$wheels"/pip-24.2-*.whl >/dev/null 2>&1; then
  mkdir -p "$wheels"
  .venv/bin/pip download -q --no-deps -d "$wheels" pip==24.2
fi
install -m 0644 hack/get_pip_offline.py "$cache/get_pip_24_2.py"

# The lab's real programs (etcd, Kubernetes, KWOK, Istio), built once from lab/tools' pins into ~/.cache.
# The machine image has Go in /usr/local/go; the modules come from the Go module proxy.
export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "bootstrap: no go command (this kind of machine has it in /usr/local/go)" >&2; exit 1; }
started=$SECONDS
lab_bin=$(hack/build-lab-tools.sh)
clients_bin=$(hack/build-lab-clients.sh)
echo "bootstrap: lab programs ready in $lab_bin and $clients_bin ($((SECONDS - started)) s)"
echo "bootstrap: ready"
