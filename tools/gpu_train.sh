#!/usr/bin/env bash
# The repeatable recipe for training on a GPU machine (see tools/README.md and shared/GPU.md).
#
#   here:       tools/gpu_train.sh wheels                      # download the missing wheels into .whl/
#   on device:  bash tools/gpu_train.sh bench DATA [BENCH OPTIONS]         # install, check, feeders vs the step
#               bash tools/gpu_train.sh start DATA... [-- TRAIN OPTIONS]   # install, check, start in background
#               bash tools/gpu_train.sh compare DATA STEPS     # the phase comparison in the background
#               bash tools/gpu_train.sh compare-report DATA    # score it (bench_phase) → $OUT
#               bash tools/gpu_train.sh status                 # log tail, last metrics, GPU use
#               bash tools/gpu_train.sh collect                # export + logs → $OUT (split to ≤ 15 MiB pieces)
#               bash tools/gpu_train.sh stop                   # SIGTERM the trainer (checkpoint kept)
#
# The device machine has Python 3.12 + JAX (CUDA) but no TensorFlow and no Keras, and reaches no registry:
# Keras and librosa travel as wheels (.whl/, carried), and the trainer runs as Keras 3 on the JAX backend with
# the on-device feeder (--feeder device, the default on JAX): the training audio is loaded once into GPU memory
# and every batch is cropped, augmented, transformed and encoded inside the jitted step.
# Runs write into runs/gpu (ignored by git, kept between calls while the machine stays warm).
set -euo pipefail

RUN_DIR="${RUN_DIR:-runs/gpu}"
SITE=/tmp/site
# Pure-Python or cp312 wheels missing on the device, at the versions this project is tested with.
WHEELS=(
  keras==3.15.1 namex==0.1.0 optree==0.20.0
  librosa==0.11.0 soxr==1.1.0 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 audioread==3.1.0
  pooch==1.9.0 platformdirs==4.14.7 decorator==5.3.1
  pypng==0.20220715.0
)

python_bin() { command -v python3; }

wheels() {
  # Run HERE (not on the device): fetch x86-64 CPython 3.12 wheels, no dependencies resolved.
  # .gitignore already ignores /.whl/ (this repo may be a worktree, where .git is a file)
  rm -rf .whl && mkdir -p .whl
  "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
  du -sh .whl
}

install() {
  "$(python_bin)" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    .whl/*.whl
}

environment() {
  export PYTHONPATH="$SITE:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
}

check() {
  "$(python_bin)" - <<'PY'
import jax, keras, librosa, soundfile
import vocals2song.training, vocals2song.data
print("python ok: keras", keras.__version__, "backend", keras.backend.backend(), "jax", jax.__version__,
      "devices", jax.devices(), "librosa", librosa.__version__)
assert keras.backend.backend() == "jax" and jax.devices()[0].platform == "gpu", "no GPU seen by JAX"
PY
  nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader
}

bench() {
  [ $# -gt 0 ] || { echo "usage: gpu_train.sh bench DATA [BENCH OPTIONS]" >&2; exit 2; }
  [ -d .whl ] || { echo ".whl/ is missing: run 'tools/gpu_train.sh wheels' here and name .whl in carry" >&2; exit 2; }
  install
  environment
  check
  "$(python_bin)" bench/bench_feeder.py "$@"
}

start() {
  local data=() options=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do data+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  options=("$@")
  [ ${#data[@]} -gt 0 ] || { echo "usage: gpu_train.sh start DATA... [-- TRAIN OPTIONS]" >&2; exit 2; }
  [ -d .whl ] || { echo ".whl/ is missing: run 'tools/gpu_train.sh wheels' here and name .whl in carry" >&2; exit 2; }
  install
  environment
  check
  mkdir -p "$RUN_DIR"
  if [ -f "$RUN_DIR/train.pid" ] && kill -0 "$(cat "$RUN_DIR/train.pid")" 2>/dev/null; then
    echo "already training (pid $(cat "$RUN_DIR/train.pid"))"; return 0
  fi
  # --resume: the same command restarts a killed run at its last checkpoint (or starts at step 0).
  setsid nohup "$(python_bin)" -m vocals2song train "${data[@]}" --out "$RUN_DIR" --resume "${options[@]}" \
    >> "$RUN_DIR/train.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/train.pid"
  sleep 60
  status
}

compare() {
  [ $# -eq 2 ] || { echo "usage: gpu_train.sh compare DATA STEPS" >&2; exit 2; }
  install
  environment
  check
  mkdir -p runs/phase
  # Same generator, one run per phase representation, one after another (WIDTH, BATCH, CROP, KEEP from the
  # environment; see tools/train_phase_comparison.sh). The runs resume, so the same line continues them.
  PYTHON="$(python_bin)" WIDTH="${WIDTH:-16}" BATCH="${BATCH:-16}" KEEP="${KEEP:-1000}" setsid nohup \
    bash tools/train_phase_comparison.sh "$1" runs/phase "$2" >> runs/phase/comparison.log 2>&1 < /dev/null &
  sleep 30
  tail -n 5 runs/phase/comparison.log
}

compare_report() {
  : "${OUT:?compare-report copies into \$OUT, which only the device tool sets}"
  [ $# -eq 1 ] || { echo "usage: gpu_train.sh compare-report DATA" >&2; exit 2; }
  environment
  mkdir -p "$OUT/phase"
  "$(python_bin)" bench/bench_phase.py runs/phase --data "$1" --pictures "$OUT/phase" --wavs runs/phase/wavs \
    --json "$OUT/phase/result.json" \
    | tee "$OUT/phase/table.md"
}

status() {
  if [ -f "$RUN_DIR/train.pid" ] && kill -0 "$(cat "$RUN_DIR/train.pid")" 2>/dev/null; then
    echo "training (pid $(cat "$RUN_DIR/train.pid"))"
  else
    echo "not running"
  fi
  tail -n 15 "$RUN_DIR/train.log" 2>/dev/null || true
  tail -n 2 "$RUN_DIR/metrics.jsonl" 2>/dev/null || true
  ls "$RUN_DIR/checkpoints" 2>/dev/null || true
  nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader || true
}

stop() {
  [ -f "$RUN_DIR/train.pid" ] && kill -TERM "$(cat "$RUN_DIR/train.pid")" 2>/dev/null || true
  status
}

collect() {
  : "${OUT:?collect copies into \$OUT, which only the device tool sets}"
  mkdir -p "$OUT/export" "$OUT/logs"
  cp "$RUN_DIR/export/config.json" "$OUT/export/"
  # At most 16 MiB a file comes back: larger weights travel as pieces (join with cat, check config.json's sha256).
  local weights="$RUN_DIR/export/generator.weights.h5"
  if [ "$(stat -c %s "$weights")" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M -d "$weights" "$OUT/export/generator.weights.h5.part"
  else
    cp "$weights" "$OUT/export/"
  fi
  tail -c 4000000 "$RUN_DIR/train.log" > "$OUT/logs/train.log" || true
  cp "$RUN_DIR/metrics.jsonl" "$OUT/logs/" || true
  ls -la "$OUT"/*
}

command="${1:-}"
shift || true
case "$command" in
  wheels) wheels ;;
  bench) bench "$@" ;;
  start) start "$@" ;;
  compare) compare "$@" ;;
  compare-report) compare_report "$@" ;;
  status) status ;;
  stop) stop ;;
  collect) collect ;;
  *) sed -n '2,18p' "$0"; exit 2 ;;
esac
