#!/usr/bin/env bash
# One-call GPU campaign for real mode (runs on the lent H100; about 6-7 minutes).
#  perf-*:     ResNet-50 on synthetic CIFAR-100-shaped data, alone on the GPU:
#              uninterrupted, then preempted; synchronous and --async-checkpoint.
#  calib-*:    strategies fixed/adaptive/milestone x patterns regular/poisson/bursty,
#              all nine at once on the one GPU (their times are contended).
# Writes $OUT/h100.tgz holding h100/<run>/{events.jsonl,summary.json,logs/}; checkpoints
# stay in $WORK. PHASE=calib runs only the calibration (CAL_EPOCHS, CAL_SAMPLES, CAL_RATE).
# First call (perf runs + calibration): CAL_EPOCHS=5 CAL_SAMPLES=10000 CAL_RATE=90/h, which
# proved too gentle (most runs finished before a preemption); second call: PHASE=calib, defaults.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/h100-out}; R=$OUT/h100; WORK=${WORK:-/tmp/h100-work}
mkdir -p "$R" "$WORK"
python3 -c 'import yaml, click' 2>/dev/null || export PYTHONPATH="$PWD/.devdeps${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s); BUDGET=${BUDGET:-440}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv;
  python3 -c 'import sys, torch, torchvision; print(sys.version); print(torch.__version__, torchvision.__version__, torch.cuda.get_device_name(0))';
  nproc; df -h /tmp | tail -1; } > "$R/env.txt" 2>&1
REAL="python3 -m real.cli"
COMMON=(--model resnet50 --dataset synthetic --device cuda --batch-size 256 --seed 0 --quiet --grace 30 --restart-delay 2)

collect() {  # name
  local d="$R/$1"; mkdir -p "$d"
  cp "$WORK/$1/events.jsonl" "$d/" 2>/dev/null
  cp -r "$WORK/$1/logs" "$d/" 2>/dev/null
  $REAL summary --json "$WORK/$1" > "$d/summary.json" 2>>"$d/summary.err"
}
one() {  # name max_seconds args...
  local name=$1 cap=$2; shift 2
  local t=$(left); [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 20 ]; then echo "skip $name (budget)"; return; fi
  echo "== $name (timeout $t s) at +$(( $(date +%s) - START )) s"
  timeout "$t" $REAL run "$@" "${COMMON[@]}" --out "$WORK/$name" > "$WORK/$name.txt" 2>&1
  echo "   exit $?"; collect "$name"
}
PHASE=${PHASE:-all}   # all | calib
CAL_EPOCHS=${CAL_EPOCHS:-10}; CAL_SAMPLES=${CAL_SAMPLES:-20000}; CAL_RATE=${CAL_RATE:-180/h}
if [ "$PHASE" = all ]; then
one perf-sync       80 --strategy fixed --every-epochs 1 --interrupts none --epochs 2
one perf-async      80 --strategy fixed --every-epochs 1 --interrupts none --epochs 2 --async-checkpoint
one preempt-sync   100 --strategy fixed --every-epochs 1 --interrupts regular --rate 144/h --epochs 4 --max-samples 25000
one preempt-async  100 --strategy fixed --every-epochs 1 --interrupts regular --rate 144/h --epochs 4 --max-samples 25000 --async-checkpoint
fi

t=$(left); [ "$t" -gt 150 ] && t=150
echo "== calibration, 9 runs at once (timeout $t s) at +$(( $(date +%s) - START )) s"
if [ "$t" -ge 40 ]; then
  for s in fixed adaptive milestone; do
    case $s in
      fixed) sa=(--strategy fixed --every-epochs 1);;
      adaptive) sa=(--strategy adaptive --prior-mtbf-s 40 --min-interval-s 5 --max-interval-s 60);;
      milestone) sa=(--strategy milestone);;
    esac
    for p in regular poisson bursty; do
      pa=(--interrupts $p --rate $CAL_RATE); [ $p = bursty ] && pa+=(--burst-mean-s 120)
      timeout "$t" $REAL run "${sa[@]}" "${pa[@]}" --epochs $CAL_EPOCHS --max-samples $CAL_SAMPLES --threads 1 --seed 1 \
        "${COMMON[@]}" --out "$WORK/calib-$s-$p" > "$WORK/calib-$s-$p.txt" 2>&1 &
    done
  done
  wait
  for s in fixed adaptive milestone; do for p in regular poisson bursty; do collect "calib-$s-$p"; done; done
fi
for f in "$WORK"/*.txt; do cp "$f" "$R/" ; done
echo "== done at +$(( $(date +%s) - START )) s"
# The device tool returns a limited number of files: pack them into one.
tar czf "$OUT/h100.tgz" -C "$OUT" h100 && rm -rf "$R"
