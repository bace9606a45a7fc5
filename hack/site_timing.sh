#!/usr/bin/env bash
# `hack/site_timing.sh [TIME_SCALE]`: the README's timing figures (hack/site_timing.py says what they mean).
# Brings up a lab of its own at TIME_SCALE (default 0.1), runs site.yml twice, and always takes the lab down.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hack/bootstrap.sh
# shellcheck source=hack/env.sh
. hack/env.sh

if python -m lab status >/dev/null; then
  echo "site_timing: a lab is up; this measures a lab of its own: make lab-down first" >&2
  exit 1
fi
trap 'python -m lab down' EXIT
python -m lab up --time-scale "${1:-0.1}"
# shellcheck disable=SC1091
. .lab/lab.env
gcloud auth activate-service-account --key-file "$GCP_SERVICE_ACCOUNT_FILE" --verbosity=error
python hack/site_timing.py
