#!/usr/bin/env bash
# The fast engine on a GPU in one command (about 8 minutes at most): install the carried wheels, run the GPU
# tests (pytest -m gpu), bench 3B and 7B at 1920x1080 and 1080x2400 native, and write everything to $OUT:
# gpu_check.log, results.json, table.md, tests.xml and one bench JSON per architecture.
#
#   bash scripts/gpu_check.sh                  # on the GPU machine (wheels from scripts/fetch_gpu_wheels.sh in .whl/)
#   bash scripts/gpu_check.sh --cpu --out DIR  # the same stages on the CPU, tiny architecture (CI runs this)
#
# Each stage has its own time bound and the next stage runs whatever the last one did, so a stage that hangs
# costs only its bound; the table says how each stage ended. Without $OUT or --out, output goes to a new
# temporary folder. Set PYTHON to choose the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=gpu
OUT_DIR="${OUT:-}"
while (($#)); do
  case "$1" in
    --cpu) MODE=cpu ;;
    --out) OUT_DIR="${2:?--out needs a folder}"; shift ;;
    *) echo "usage: bash scripts/gpu_check.sh [--cpu] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$OUT_DIR" ]] || OUT_DIR=$(mktemp -d -t gpu-check-XXXXXX)
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$(mktemp -d -t gpu-check-work-XXXXXX)  # files the report reads but $OUT need not bring back
PYTHON="${PYTHON:-python3}"
SITE="$WORK/site"  # where the carried wheels go; first on the path, so they win over the image's packages
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
LOG="$OUT_DIR/gpu_check.log"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE=$!
# At the end the log is complete before the script returns: tee gets end-of-file and is waited for.
trap 'rm -rf "$WORK"; exec >&- 2>&-; wait "$TEE"' EXIT

# Bounds in seconds; together 465 s, inside the 8 minutes one device command is planned for. The 7B bench at two
# screens (1 warm-up and 3 timed steps per variant, 40 tokens) takes about a minute on an H100 by the published
# plain-generate times; the bounds leave room for start-up, building the weights and capturing graphs.
if [[ $MODE == gpu ]]; then
  BOUND_WHEELS=40 BOUND_ENV=25 BOUND_TESTS=160 BOUND_BENCH_3B=105 BOUND_BENCH_7B=120 BOUND_REPORT=15
  BENCH=(3b 7b)
  BENCH_FLAGS=(--screens 1920x1080,1080x2400 --new-tokens 40 --warmup 1 --repeats 3)
else
  # A shared 2-core CI machine, which may be loaded: its tests stage took 113 s at a load average of 13.
  BOUND_ENV=120 BOUND_TESTS=400 BOUND_BENCH_TINY=300 BOUND_REPORT=60
  BENCH=(tiny)
  BENCH_FLAGS=(--screens 320x200,200x320 --new-tokens 8 --warmup 1 --repeats 1 --threads 1)
  export AGENT_GPU_TESTS_ON_CPU=1  # the GPU tests run on the tiny architecture instead of skipping
fi

say() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# stage NAME BOUND COMMAND...: runs COMMAND under its bound and records how it ended; never stops the script.
stage() {
  local name=$1 bound=$2 started=$SECONDS rc=0 result
  shift 2
  say "$name (at most ${bound} s): $*"
  timeout --kill-after=10 "$bound" "$@" || rc=$?
  case $rc in
    0) result=ok ;;
    124 | 137) result="timed out after ${bound} s" ;;
    *) result="failed (exit $rc)" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$result" "$rc" "$((SECONDS - started))" "$bound" >>"$WORK/stages.tsv"
  say "$name: $result in $((SECONDS - started)) s"
}

skip() {  # skip NAME WHY
  printf '%s\t%s\t0\t0\t0\n' "$1" "skipped: $2" >>"$WORK/stages.tsv"
  say "$1: skipped, $2"
}

say "GPU check, $MODE mode, output in $OUT_DIR"
shopt -s nullglob
wheels=(.whl/*.whl)
if [[ $MODE == cpu ]]; then
  # The wheels are for the device's Python 3.12; fetch_gpu_wheels.sh already checked they install there.
  skip wheels "the CPU mode uses this machine's packages"
elif ((${#wheels[@]})); then
  stage wheels "$BOUND_WHEELS" "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "${wheels[@]}"
else
  skip wheels "no .whl/ here (bash scripts/fetch_gpu_wheels.sh fetches them)"
fi

env_flags=()
[[ $MODE == gpu ]] && env_flags=(--require-cuda)
stage env "$BOUND_ENV" "$PYTHON" -m agent.bench.gpu_check env "$WORK/env.json" "${env_flags[@]}"

stage tests "$BOUND_TESTS" "$PYTHON" -m pytest -m gpu tests/models/test_gpu.py -v -s -p no:cacheprovider \
  --junitxml "$OUT_DIR/tests.xml"

bench_files=()
for arch in "${BENCH[@]}"; do
  bound_var="BOUND_BENCH_${arch^^}"
  bench_files+=("$OUT_DIR/bench-$arch.json")
  stage "bench $arch" "${!bound_var}" "$PYTHON" -m agent bench --arch "$arch" "${BENCH_FLAGS[@]}" \
    --out "$OUT_DIR/bench-$arch.json"
done

# The report's own line would come too late for the table, so its bound is only printed.
say "report (at most $BOUND_REPORT s)"
timeout "$BOUND_REPORT" "$PYTHON" -m agent.bench.gpu_check report --mode "$MODE" --stages "$WORK/stages.tsv" \
  --env "$WORK/env.json" --junit "$OUT_DIR/tests.xml" --bench "${bench_files[@]}" --out "$OUT_DIR"
say "done: $OUT_DIR/table.md"
# Failed if any stage did not end well (a skipped one is fine).
! cut -f2 "$WORK/stages.tsv" | grep -qv -e '^ok$' -e '^skipped'
