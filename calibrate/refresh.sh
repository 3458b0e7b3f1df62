#!/usr/bin/env bash
# Regenerate every committed result that commands produce from the committed campaigns:
#   scenarios/calibrated/{cpu,cpu-async,h100}.yaml                  spotsim calibrate
#   results/validation/{cpu,cpu-async,h100}{,-speed,-predict}/      spotsim validate, three replay levels
#   results/validation/breakeven*/, notebooks/breakeven.ipynb   the notebook executed in full
# Run it after a campaign, the calibration or the simulator changes. The same inputs give the same
# bytes: fixed seeds, file lists in C-locale order, no timestamps. SKIP_NOTEBOOK=1 leaves out the
# notebook (its sweeps take minutes). SPOTSIM and PYTHON name the commands to use.
set -euo pipefail
shopt -s extglob
cd "$(dirname "$0")/.."
export LC_ALL=C
SPOTSIM=${SPOTSIM:-.venv/bin/spotsim}
PYTHON=${PYTHON:-.venv/bin/python}
# cpu-async: the CPU campaign's asynchronous-save runs, made later on a machine ~3x faster: a job of
# their own speed (benchmarks/cpu_campaign.sh)
declare -A LOGS=([cpu]="results/cpu/!(async-*)/events.jsonl" [cpu-async]="results/cpu/async-*/events.jsonl"
                 [h100]="results/h100/calib-*/events.jsonl")
for name in cpu cpu-async h100; do
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
if [ -z "${SKIP_NOTEBOOK:-}" ]; then
  rm -rf results/validation/breakeven results/validation/breakeven-study-job
  $PYTHON notebooks/execute.py notebooks/breakeven.ipynb
fi
