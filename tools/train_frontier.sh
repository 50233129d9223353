#!/usr/bin/env bash
# Train the candidate generators that the packaged one is chosen from, one after another, the same way
# (same corpus, seed, batch, crop and number of steps), and copy each export to RUNS/frontier-STEPS/NAME.
#
#   tools/train_frontier.sh CORPUS RUNS STEPS [NAME ...]
#
# Candidates (NAME: width, target, model sample rate):
#   w8-accompaniment, w16-accompaniment, w16-mixture, w16-accompaniment-44k, w32-accompaniment, w64-accompaniment
# With no NAME, all of them, slimmest first. A run that already reached STEPS is skipped; a longer STEPS
# resumes every run from its last checkpoint (--resume), so the same line grows the frontier in stages.
# Then score them:  python bench/bench_models.py RUNS/frontier-STEPS/* --data CORPUS
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,11p' "$0"
    exit 2
fi
corpus=$1 runs=$2 steps=$3
shift 3
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(w8-accompaniment w16-accompaniment w16-mixture w16-accompaniment-44k
                                 w32-accompaniment w64-accompaniment)
BATCH=${BATCH:-4}  # PHASE: the target's phase representation (raw, as the packaged generator; docs/phase.md)
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-250}

for name in "${names[@]}"; do
    if [[ ! $name =~ ^w([0-9]+)-(mixture|accompaniment)(-44k)?$ ]]; then
        echo "unknown candidate '$name'" >&2
        exit 2
    fi
    width=${BASH_REMATCH[1]} target=${BASH_REMATCH[2]} rate=22050
    [ -z "${BASH_REMATCH[3]}" ] || rate=44100
    out=$runs/$name
    echo "== $name: width $width, target $target, $rate Hz, $steps steps of $BATCH" >&2
    python -m vocals2song train "$corpus" --out "$out" --steps "$steps" --batch "$BATCH" --width "$width" \
        --target "$target" --sample-rate "$rate" --phase-representation "${PHASE:-raw}" \
        --checkpoint-every "$CHECKPOINT_EVERY" --sample-every 1000 --resume 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -n 3
    mkdir -p "$runs/frontier-$steps"
    rm -rf "${runs:?}/frontier-$steps/$name"
    cp -r "$out/export" "$runs/frontier-$steps/$name"
done
