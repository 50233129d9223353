#!/usr/bin/env bash
# The objective's sweep: the same plan generator (magnitude only, B channel on) trained with pix2pix's L1 weight
# 100, with 10, and with 10 plus discriminator feature matching (weight 10), then each scored on the validation
# split with `vocals2song evaluate` (the musicality composite chooses; the spectral distances are shown beside).
#
# Usage: tools/objective_sweep.sh CORPUS OUT_DIR [STEPS] [WIDTH]
#   CORPUS: a corpus rendered with true harmonies (manifest version 2)
#   OUT_DIR: gets l1-100/, l1-10/, l1-10-fm-10/ (training runs, trained side by side) and their .json/.txt scores
# Each run resumes from its checkpoints if killed; rerunning skips finished runs and evaluations.
set -euo pipefail
corpus=${1:?corpus}
out=${2:?output folder}
steps=${3:-600}
width=${4:-8}
python=${PYTHON:-python}
common=(--steps "$steps" --width "$width" --batch 8 --crop-frames 256 --target accompaniment --plan
        --phase-representation none --checkpoint-every 100 --sample-every 100000 --seed 0)
declare -A arms=([l1-100]="--l1-weight 100" [l1-10]="--l1-weight 10"
                 [l1-10-fm-10]="--l1-weight 10 --feature-matching-weight 10")
mkdir -p "$out"
for arm in "${!arms[@]}"; do
    resume=()
    [ -d "$out/$arm/checkpoints" ] && resume=(--resume)
    if [ ! -f "$out/$arm/export/config.json" ] || ! grep -q "\"steps\": $steps" "$out/$arm/export/config.json"; then
        # shellcheck disable=SC2086
        "$python" -m vocals2song train "$corpus" --out "$out/$arm" "${common[@]}" ${arms[$arm]} "${resume[@]}" \
            > "$out/$arm.train.log" 2>&1 &
    fi
done
wait
for arm in "${!arms[@]}"; do
    [ -f "$out/$arm.json" ] || "$python" -m vocals2song evaluate "$out/$arm/export" "$corpus" --split validation \
        --seconds 15 --per-piece 2 --mode accompaniment --json "$out/$arm.json" > "$out/$arm.txt"
done
for arm in l1-100 l1-10 l1-10-fm-10; do echo "== $arm"; grep -A3 "^| system | composite" "$out/$arm.txt"; done
