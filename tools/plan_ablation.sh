#!/usr/bin/env bash
# What the plan (B channel) buys: the same generator trained the same way without and with --plan, then both
# scored on the held-out composers with `vocals2song evaluate` (musicality composite and spectral scores).
#
# Usage: tools/plan_ablation.sh CORPUS OUT_DIR [STEPS] [WIDTH]
#   CORPUS: a corpus rendered with true harmonies (manifest version 2), e.g. data/corpus-h
#   OUT_DIR: gets noplan/ and plan/ (training runs) and noplan.json / plan.json (evaluations)
# Run it under nice in the background on a shared machine; each half resumes from its checkpoints if killed.
set -euo pipefail
corpus=${1:?corpus}
out=${2:?output folder}
steps=${3:-300}
width=${4:-8}
python=${PYTHON:-python}
common=(--steps "$steps" --width "$width" --batch 8 --crop-frames 256 --target accompaniment
        --checkpoint-every 100 --sample-every 100000 --seed 0)
mkdir -p "$out"
for variant in noplan plan; do
    extra=()
    [ "$variant" = plan ] && extra=(--plan)
    resume=()
    [ -d "$out/$variant/checkpoints" ] && resume=(--resume)
    if [ ! -f "$out/$variant/export/config.json" ] || \
       ! grep -q "\"steps\": $steps" "$out/$variant/export/config.json"; then
        "$python" -m vocals2song train "$corpus" --out "$out/$variant" "${common[@]}" "${extra[@]}" "${resume[@]}"
    fi
done
for variant in noplan plan; do
    "$python" -m vocals2song evaluate "$out/$variant/export" "$corpus" --split test --seconds 15 --per-piece 2 --max-pieces 100 \
        --mode accompaniment --json "$out/$variant.json" > "$out/$variant.txt"
done
cat "$out/noplan.txt" "$out/plan.txt"
