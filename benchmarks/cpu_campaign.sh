#!/usr/bin/env bash
# CPU calibration campaign for real mode: ResNet-18 on a small synthetic subset,
# strategies x interrupt patterns, each run preempted several times.
# Runs live under $WORK (checkpoints included); only events.jsonl and summary.json
# are copied to results/cpu/<run>/.
# Usage: benchmarks/cpu_campaign.sh [WORK_DIR]   (about 12-15 min on 2 cores)
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
for s in fixed adaptive milestone none; do
  for p in regular poisson bursty; do
    name="$s-$p"
    [ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]] && continue
    extra=()
    # Bursts scaled to these one-minute runs: 30 s bursts (of uptime) in a quarter of
    # the uptime, 4x the calm rate. (At 10x, the default, a burst's uptimes fall
    # below the trainer's ~7 s cold start and a run makes no progress for minutes.)
    # 10 epochs: the first bursty uptimes (seed 1) are ~28 s, so 6 epochs fit in one or two.
    [ "$p" = bursty ] && extra=(--burst-mean-s 30 --burst-fraction 0.25 --burst-ratio 4 --epochs 10)
    rm -rf "$WORK/$name"
    echo "== $name $(date +%T)"
    timeout 240 $REAL run ${STRAT[$s]} --interrupts $p --rate $RATE "${COMMON[@]}" "${extra[@]}" \
      --out "$WORK/$name" > "$WORK/$name.summary.txt" 2>&1
    echo "   exit $?"
    mkdir -p "results/cpu/$name"
    cp "$WORK/$name/events.jsonl" "results/cpu/$name/"
    $REAL summary --json "$WORK/$name" > "results/cpu/$name/summary.json"
  done
done
# Emergency saving off: what a preemption costs without the notice window.
[ -n "$ONLY" ] && [[ noemergency != *"$ONLY"* ]] && { echo "== done $(date +%T)"; exit 0; }
name=fixed-poisson-noemergency
rm -rf "$WORK/$name"
echo "== $name $(date +%T)"
timeout 240 $REAL run --strategy fixed --every-epochs 2 --no-emergency --interrupts poisson --rate $RATE \
  "${COMMON[@]}" --out "$WORK/$name" > "$WORK/$name.summary.txt" 2>&1
echo "   exit $?"
mkdir -p "results/cpu/$name"
cp "$WORK/$name/events.jsonl" "results/cpu/$name/"
$REAL summary --json "$WORK/$name" > "results/cpu/$name/summary.json"
echo "== done $(date +%T)"
