#!/usr/bin/env bash
# `hack/molecule.sh default|gcp`: a molecule scenario with what it needs around it.
# default: brings up a lab of its own (GCP latencies x MESHBRIDGE_LAB_TIME_SCALE, default 0.1 as in `make lab`),
#          exports its environment (proxy, CA, credentials) for ansible-playbook, runs molecule, and always takes
#          the lab down afterwards. Refuses to run while another lab is up.
# gcp:     a real project; runs only when MESHBRIDGE_GCP_PROJECT is set (README, "Testing on a real project").
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=hack/env.sh
. hack/env.sh

scenario=${1:?usage: hack/molecule.sh default|gcp}
case $scenario in
  default)
    if python -m lab status >/dev/null; then
      echo "molecule default: a lab is up (make lab?); this scenario brings up and removes its own: make lab-down first" >&2
      exit 1
    fi
    trap 'python -m lab down' EXIT
    python -m lab up --time-scale "${MESHBRIDGE_LAB_TIME_SCALE:-0.1}"
    # shellcheck disable=SC1091
    . .lab/lab.env
    gcloud auth activate-service-account --key-file "$GCP_SERVICE_ACCOUNT_FILE" --verbosity=error
    molecule test --scenario-name default
    ;;
  gcp)
    if [[ -z ${MESHBRIDGE_GCP_PROJECT:-} ]]; then
      echo "molecule gcp: not run: MESHBRIDGE_GCP_PROJECT is not set (it needs a real project and credentials)"
      exit 0
    fi
    # inventories/gcp reads the kind of credentials from GCP_AUTH_KIND: Application Default Credentials unless set.
    export GCP_AUTH_KIND=${GCP_AUTH_KIND:-application}
    molecule test --scenario-name gcp
    ;;
  *)
    echo "hack/molecule.sh: unknown scenario $scenario (default or gcp)" >&2
    exit 2
    ;;
esac
