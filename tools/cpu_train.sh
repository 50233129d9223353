#!/usr/bin/env bash
# The CPU recipe (no GPU machine): the plan generator the objective sweep chose, trained as long as the machine
# allows, resumable, with an export kept every 500 steps so the best can be chosen by the musicality composite on
# the validation split.
#
# Usage: tools/cpu_train.sh OUT_DIR STEPS CORPUS [CORPUS ...]
#   e.g. tools/cpu_train.sh runs/cpu 4000 data/corpus-h data/corpus-train
# where data/corpus-train holds training pieces only (the held-out composers are never rendered there):
#   vocals2song corpus data/corpus-train --splits train validation --pieces 600 --seed 1 --voice-augmentation 0.7
# Rerun the same line to continue a killed run, or to go on to more STEPS. A run of tools/objective_sweep.sh
# can be continued by copying its l1-100/ folder to OUT_DIR first (same model, same objective).
# Then choose:  python bench/bench_models.py OUT_DIR/exports/step-* --data CORPUS --split validation
#
# The training pairs are encoded once into a crop store (CROP_STORE, default OUT_DIR-crop-store; about 1.3 GB per
# hour of pairs), reused by every later sitting. WIDTH (default 8) sets the generator; INIT_FROM=weights starts a
# new run from exported weights of the same shape (a warm start; ignored once OUT_DIR has checkpoints).
# ESTIMATED_PLAN_SHARE (default 0) is the share of crops whose B is the estimator's plan instead of the pair's own:
# on a styled corpus keep it 0, so that B and the target always agree.
set -euo pipefail
out=${1:?output folder}
steps=${2:?total steps}
shift 2
[ $# -gt 0 ] || { echo "usage: tools/cpu_train.sh OUT_DIR STEPS CORPUS [CORPUS ...]" >&2; exit 2; }
python=${PYTHON:-python}
resume=()
[ -d "$out/checkpoints" ] && resume=(--resume)
warm=()
[ -n "${INIT_FROM:-}" ] && warm=(--init-from "$INIT_FROM")
exec "$python" -m vocals2song train "$@" --out "$out" --steps "$steps" --width "${WIDTH:-8}" --batch 16 \
    --crop-frames 256 --target accompaniment --plan --phase-representation none --l1-weight 100 \
    --estimated-plan-share "${ESTIMATED_PLAN_SHARE:-0}" \
    --crop-store "${CROP_STORE:-${out%/}-crop-store}" --workers 2 --checkpoint-every 100 --keep-exports-every 500 \
    --sample-every 1000 --seed 0 "${resume[@]}" "${warm[@]}"
