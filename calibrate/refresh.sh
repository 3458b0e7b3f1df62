#!/usr/bin/env bash
# Re-fit scenarios/calibrated/{cpu,h100}.yaml from the committed campaigns and redo the
# validations under results/validation/ (three replay levels each). Run after a campaign changes.
set -eu
cd "$(dirname "$0")/.."
SPOTSIM=${SPOTSIM:-.venv/bin/spotsim}
declare -A LOGS=([cpu]="results/cpu/*/events.jsonl" [h100]="results/h100/calib-*/events.jsonl")
for name in cpu h100; do
  logs=$(ls ${LOGS[$name]} 2>/dev/null || true)
  [ -z "$logs" ] && { echo "no $name campaign"; continue; }
  $SPOTSIM calibrate $logs -o scenarios/calibrated/$name.yaml --base scenarios/study/base.yaml
  for mode in "" "-speed --replay-speed" "-predict --no-replay-startup"; do
    set -- $mode
    rm -rf "results/validation/$name${1:-}"
    $SPOTSIM validate --scenario scenarios/calibrated/$name.yaml $logs --out "results/validation/$name${1:-}" \
      ${2:-} --max-error 100 | tail -n 2
  done
done
