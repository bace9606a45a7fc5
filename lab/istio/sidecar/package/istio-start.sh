#!/usr/bin/env bash
# Start the Istio sidecar on a VM (meshbridge lab stand-in of Istio's istio-start.sh): export the settings of
# sidecar.env and cluster.env, set up inbound capture with pilot-agent istio-iptables, then run pilot-agent proxy
# as istio-proxy. "istio-start.sh clean" removes the capture rules (istio.service's ExecStopPost).
set -euo pipefail

set -a
ISTIO_SIDECAR_CONFIG=${ISTIO_SIDECAR_CONFIG:-/var/lib/istio/envoy/sidecar.env}
if [[ -r $ISTIO_SIDECAR_CONFIG ]]; then
  # shellcheck disable=SC1090
  . "$ISTIO_SIDECAR_CONFIG"
fi
ISTIO_CLUSTER_CONFIG=${ISTIO_CLUSTER_CONFIG:-/var/lib/istio/envoy/cluster.env}
if [[ -r $ISTIO_CLUSTER_CONFIG ]]; then
  # shellcheck disable=SC1090
  . "$ISTIO_CLUSTER_CONFIG"
fi
set +a

ISTIO_BIN_BASE=${ISTIO_BIN_BASE:-/usr/local/bin}

if [[ ${1-} == clean ]]; then
  if [[ ${ISTIO_CUSTOM_IP_TABLES:-} != true ]]; then
    "$ISTIO_BIN_BASE/pilot-agent" istio-clean-iptables
  fi
  exit 0
fi

if [[ ${ISTIO_CUSTOM_IP_TABLES:-} != true ]]; then
  "$ISTIO_BIN_BASE/pilot-agent" istio-iptables
fi

ISTIO_SVC_IP=${ISTIO_SVC_IP:-$(hostname --all-ip-addresses | cut -d ' ' -f 1)}
POD_NAME=${POD_NAME:-$(hostname -s)}
export INSTANCE_IP=$ISTIO_SVC_IP POD_NAME
# The agent logs to stderr (this unit's journal) and to /var/log/istio/istio.log itself.
exec setpriv --reuid=istio-proxy --regid=istio-proxy --init-groups "$ISTIO_BIN_BASE/pilot-agent" proxy
