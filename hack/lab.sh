#!/usr/bin/env bash
# `make lab`: the main job on the lab. Brings the lab up (if it is not), runs site.yml against inventories/lab as a
# user runs it against inventories/gcp, and prints the report. Extra arguments go to ansible-playbook
# (e.g. `make lab ARGS=--check`). `make lab-down` removes everything.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hack/bootstrap.sh
# shellcheck source=hack/env.sh
. hack/env.sh

# Operations take their real-world durations times this scale (1 = GKE's ~5.5 min cluster creation).
python -m lab up --time-scale "${MESHBRIDGE_LAB_TIME_SCALE:-0.1}"
# shellcheck disable=SC1091
. .lab/lab.env
# For gcloud commands run by hand in the lab (the kubeconfig's gke-gcloud-auth-plugin uses the key file itself, as the
# GCP modules do, not gcloud's active account).
gcloud auth activate-service-account --key-file "$GCP_SERVICE_ACCOUNT_FILE" --verbosity=error

started=$(date +%s)
ansible-playbook site.yml -i inventories/lab "$@"
echo "site.yml on the lab: $(($(date +%s) - started)) s"
report=$MESHBRIDGE_LAB_STATE/meshbridge/report/mesh-verify-report.txt
if [[ -f $report ]]; then
  cat "$report"
fi
