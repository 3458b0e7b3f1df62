#!/usr/bin/env bash
# CPU calibration campaign for real mode: ResNet-18 on a small synthetic subset,
# strategies x interrupt patterns, each run preempted several times.
# Runs live under $WORK (checkpoints included); only events.jsonl and summary.json
# are copied to results/cpu/<run>/.
# Asynchronous saves: async-<strategy>-<pattern> (--async-checkpoint), strategies fixed,
# adaptive, milestone x patterns poisson, bursty, the same job and settings but
# ASYNC_EPOCHS (40) epochs: they were run later, on a machine that trained an epoch in
# ~1.3 s instead of ~4.3 s, and 6-10 epochs then ended before the first notice. They
# are calibrated and validated as a campaign of their own (calibrate/refresh.sh: cpu-async).
# Usage: benchmarks/cpu_campaign.sh [WORK_DIR]   (about 25 min on 2 cores)
#        ONLY=async- benchmarks/cpu_campaign.sh   (only the asynchronous runs, about 10 min)
set -u
cd "$(dirname "$0")/.."
REAL=${REAL:-.venv/bin/real}
WORK=${1:-/tmp/spotsim-cpu-campaign}
RATE=${RATE:-200/h}
COMMON=(--model resnet18 --dataset synthetic --max-samples 256 --batch-size 32 --epochs 6
        --device cpu --threads 1 --grace 30 --restart-delay 2 --seed 1 --quiet)
declare -A STRAT=(
  [fixed]="--strategy fixed --every-epochs 2"
  [adaptive]="--strategy adaptive --prior-mtbf-s 18 --min-interval-s 2 --max-interval-s 30"
  [milestone]="--strategy milestone"
  [none]="--strategy none"
)
mkdir -p "$WORK" results/cpu
ONLY=${ONLY:-}   # e.g. ONLY=bursty reruns only the runs whose name contains it

one() {  # one NAME ARGS...: a run under $WORK/NAME (ARGS after COMMON: the last --epochs counts),
         # its log and summary copied to results/cpu/NAME
  local name=$1; shift
  [ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]] && return 0
  rm -rf "$WORK/$name"
  echo "== $name $(date +%T)"
  timeout 240 $REAL run "${COMMON[@]}" "$@" --out "$WORK/$name" > "$WORK/$name.summary.txt" 2>&1
  echo "   exit $?"
  mkdir -p "results/cpu/$name"
  cp "$WORK/$name/events.jsonl" "results/cpu/$name/"
  $REAL summary --json "results/cpu/$name/events.jsonl" > "results/cpu/$name/summary.json"  # names the committed log
}

# Bursts scaled to these one-minute runs: 30 s bursts (of uptime) in a quarter of
# the uptime, 4x the calm rate. (At 10x, the default, a burst's uptimes fall
# below the trainer's ~7 s cold start and a run makes no progress for minutes.)
# 10 epochs: the first bursty uptimes (seed 1) are ~28 s, so 6 epochs fit in one or two.
BURSTY=(--burst-mean-s 30 --burst-fraction 0.25 --burst-ratio 4 --epochs 10)
for s in fixed adaptive milestone none; do
  for p in regular poisson bursty; do
    extra=()
    [ "$p" = bursty ] && extra=("${BURSTY[@]}")
    one "$s-$p" ${STRAT[$s]} --interrupts $p --rate $RATE "${extra[@]}"
  done
done
# Emergency saving off: what a preemption costs without the notice window.
one fixed-poisson-noemergency --strategy fixed --every-epochs 2 --no-emergency --interrupts poisson --rate $RATE
# Asynchronous saves: the loop stalls while the state is copied, the write runs in the background.
for s in fixed adaptive milestone; do
  for p in poisson bursty; do
    extra=()
    [ "$p" = bursty ] && extra=("${BURSTY[@]}")
    one "async-$s-$p" ${STRAT[$s]} --async-checkpoint --interrupts $p --rate $RATE "${extra[@]}" \
      --epochs "${ASYNC_EPOCHS:-40}"
  done
done
echo "== done $(date +%T)"
