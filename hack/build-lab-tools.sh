#!/usr/bin/env bash
# Build the lab's real programs (etcd, Kubernetes, KWOK, Istio) from the published Go modules pinned in
# lab/tools/go.mod, into a cache outside the checkout keyed by go.sum: built once per pin set, reused by every
# clone. Prints the directory on stdout; progress and timing go to stderr.
# The version ldflags are the ones the projects' own release builds set, so `kubectl version`, istioctl's
# version checks and the lab's report see real versions instead of v0.0.0-master / "unknown".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tools=$top/lab/tools
key=$(cat "$tools/go.mod" "$tools/go.sum" "$tools/istio-release" "$0" | sha256sum | cut -c1-16)
bin=${MESHBRIDGE_LAB_BIN_CACHE:-$HOME/.cache/meshbridge-lab/bin}/$key

# module -> packages built from it; the version comes from go.mod, so the ldflags cannot drift from the pin.
kube_pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
etcd_pkgs=(go.etcd.io/etcd/server/v3)
kwok_pkgs=(sigs.k8s.io/kwok/cmd/kwok)
istio_pkgs=(istio.io/istio/istioctl/cmd/istioctl istio.io/istio/pilot/cmd/pilot-discovery
  istio.io/istio/pilot/cmd/pilot-agent)
names=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok istioctl pilot-discovery pilot-agent)

missing=()
for name in "${names[@]}" kwok-stages.yaml; do [[ -e $bin/$name ]] || missing+=("$name"); done
if ((${#missing[@]} == 0)); then
  echo "$bin"
  exit 0
fi

export GOFLAGS=-trimpath GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0
cd "$tools"
version_of() { go list -m -f '{{.Version}}' "$1"; }
kube_version=$(version_of k8s.io/kubernetes)
istio_module_version=$(version_of istio.io/istio)
istio_release=$(cat "$tools/istio-release")
minor=${kube_version#v*.}; minor=${minor%%.*}
build_date=$(date -u -d "@$(go list -m -f '{{.Time.Unix}}' k8s.io/kubernetes 2>/dev/null || echo 0)" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
  echo 1970-01-01T00:00:00Z)

kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
# etcd's and KWOK's versions are constants of their modules (go.etcd.io/etcd/api/v3/version, sigs.k8s.io/kwok/pkg/consts).
istio_ldflags="-X istio.io/istio/pkg/version.buildVersion=$istio_release"
istio_ldflags+=" -X istio.io/istio/pkg/version.buildGitRevision=${istio_module_version##*-}"
istio_ldflags+=" -X istio.io/istio/pkg/version.buildStatus=Clean -X istio.io/istio/pkg/version.buildTag=$istio_release"
istio_ldflags+=" -X istio.io/istio/pkg/version.buildHub=docker.io/istio"
istio_ldflags+=" -X istio.io/istio/pkg/version.buildOS=$(go env GOOS) -X istio.io/istio/pkg/version.buildArch=$(go env GOARCH)"

work=$bin.partial
mkdir -p "$work"
build() { # ldflags package...
  local flags=$1 started=$SECONDS
  shift
  echo "build-lab-tools: go build ${*##*/} ..." >&2
  go build -ldflags "-s -w $flags" -o "$work/" "$@"
  echo "build-lab-tools: built ${*##*/} in $((SECONDS - started)) s" >&2
}
started=$SECONDS
build "" "${etcd_pkgs[@]}"
mv "$work/server" "$work/etcd" # go names a module-root main package after its path less the /v3 suffix
build "$kube_ldflags" "${kube_pkgs[@]}"
build "" "${kwok_pkgs[@]}"
build "$istio_ldflags" "${istio_pkgs[@]}"
# KWOK takes its stages (what happens to a node or a pod, and when) from its configuration; kwokctl gives it the
# module's default ones, and so does the lab: node-initialize, the lease heartbeat and the pod-fast stages.
stages=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
for file in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  printf -- '---\n'
  cat "$stages/$file"
done >"$work/kwok-stages.yaml"
mv "$work" "$bin"
echo "build-lab-tools: all lab programs built in $((SECONDS - started)) s into $bin" >&2
echo "$bin"
