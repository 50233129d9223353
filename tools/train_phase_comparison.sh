#!/usr/bin/env bash
# Train the same small generator once per phase representation (raw, if, none), one after another, the same way
# (same corpus, seed, width, batch, crop and steps; JAX with the on-device feeder). Each run resumes from its
# last checkpoint, so the same line finishes runs that were stopped. Exports are kept every KEEP steps; with
# MINUTES set, each run stops after that much wall time (SIGTERM: a checkpoint is saved), and the runs are
# compared at the largest step all of them exported.
#
#   tools/train_phase_comparison.sh CORPUS RUNS STEPS [REPRESENTATION ...]
#
# Environment: WIDTH (8), BATCH (4), CROP (256), KEEP (100), MINUTES (0: no limit), PYTHON (python3).
# Then score them:  python bench/bench_phase.py RUNS --data CORPUS
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,10p' "$0"
    exit 2
fi
corpus=$1 runs=$2 steps=$3
shift 3
representations=("$@")
[ ${#representations[@]} -gt 0 ] || representations=(raw if none)
WIDTH=${WIDTH:-8} BATCH=${BATCH:-4} CROP=${CROP:-256} KEEP=${KEEP:-100} MINUTES=${MINUTES:-0}
PYTHON=${PYTHON:-python3}

for representation in "${representations[@]}"; do
    out=$runs/$representation
    echo "== $representation: width $WIDTH, batch $BATCH, crop $CROP, $steps steps ($(date -u +%H:%M:%S))" >&2
    # timeout sends SIGTERM: the trainer saves a checkpoint at the step it reached and stops.
    KERAS_BACKEND=jax timeout --signal=TERM "${MINUTES}m" "$PYTHON" -m vocals2song train "$corpus" --out "$out" \
        --steps "$steps" --batch "$BATCH" --width "$WIDTH" --crop-frames "$CROP" --target accompaniment \
        --phase-representation "$representation" --feeder device --checkpoint-every "$KEEP" \
        --keep-exports-every "$KEEP" --sample-every "$KEEP" --seed 0 --resume 2>&1 | tr '\r' '\n' | grep -v '^$' \
        | tail -n 4 || true
done
