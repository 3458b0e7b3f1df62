#!/usr/bin/env bash
# CPU counterpart of the H100 perf runs: ResNet-18, 256 synthetic images, one
# thread, a checkpoint every epoch, uninterrupted; synchronous then asynchronous.
# Writes results/cpu/perf-{sync,async}/{events.jsonl,summary.json}.
set -u
cd "$(dirname "$0")/.."
REAL=${REAL:-.venv/bin/real}
WORK=${1:-/tmp/spotsim-cpu-perf}
COMMON=(--model resnet18 --dataset synthetic --max-samples 256 --batch-size 32 --epochs 4 --device cpu
        --threads 1 --seed 1 --quiet --strategy fixed --every-epochs 1 --interrupts none)
for mode in sync async; do
  extra=(); [ $mode = async ] && extra=(--async-checkpoint)
  rm -rf "$WORK/perf-$mode"
  timeout 300 $REAL run "${COMMON[@]}" "${extra[@]}" --out "$WORK/perf-$mode" > "$WORK.perf-$mode.txt" 2>&1
  echo "perf-$mode exit $?"
  mkdir -p "results/cpu/perf-$mode"
  cp "$WORK/perf-$mode/events.jsonl" "results/cpu/perf-$mode/"
  $REAL summary --json "$WORK/perf-$mode" > "results/cpu/perf-$mode/summary.json"
done
