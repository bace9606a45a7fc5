#!/usr/bin/env bash
# Prepare a fresh machine (Debian 12, root) for the test command and the lab:
# Debian packages, a pinned virtualenv (.venv), the collection on an ansible_collections path,
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

# The newest ansible-core needs Python >= 3.12 on the controller; Debian 12's own is 3.11 (hack/python.sh).
# .venv links to a venv made once per pin set outside the checkout (hack/cached-venv.sh).
venv=$(hack/cached-venv.sh dev "$(hack/python.sh)" requirements-dev.txt constraints.txt)
if [[ $(readlink .venv 2>/dev/null) != "$venv" ]]; then
  rm -rf .venv
  ln -s "$venv" .venv
fi

# The collection must live at .../ansible_collections/meshbridge/istio_vm for Ansible to load it.
collections=.build/collections/ansible_collections/meshbridge
mkdir -p "$collections"
ln -sfn "$top" "$collections/istio_vm"

hack/ansible-test-pip.sh .venv

# The lab's real programs (etcd, Kubernetes, KWOK, Istio), built once from lab/tools' pins into ~/.cache.
# The machine image has Go in /usr/local/go; the modules come from the Go module proxy.
export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "bootstrap: no go command (this kind of machine has it in /usr/local/go)" >&2; exit 1; }
started=$SECONDS
lab_bin=$(hack/build-lab-tools.sh)
clients_bin=$(hack/build-lab-clients.sh)
echo "bootstrap: lab programs ready in $lab_bin and $clients_bin ($((SECONDS - started)) s)"
echo "bootstrap: ready"
