#!/usr/bin/env bash
# Fetches into .whl/ the wheels the GPU machine lacks, for its Python 3.12 on x86-64 Linux, at the versions
# installed here (the ones the tests pass with). scripts/gpu_check.sh installs them there without network.
# The device image has torch 2.11, transformers 5.17 (we need 5.24.x), numpy, pillow, rich, tokenizers 0.23,
# huggingface_hub 1.33, triton, pytest and hypothesis; what is listed below is missing or too old (or of
# unknown version and checked by transformers when it is imported).
# .whl/ must stay ignored (.git/info/exclude: /.whl/): the working tree travels to the device, wheels and all,
# and everything together must stay under the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
DIR=.whl
LIMIT_MIB=50  # leaves room for the working tree inside the 64 MiB that travel

PACKAGES=(
  transformers     # the device's 5.17 lacks what agent/models/engine.py uses
  safetensors      # transformers checks its version on import (>=0.8)
  regex            # likewise (>=2025.10.22)
  xgrammar         # the tool-call grammar (native)
  apache-tvm-ffi   # xgrammar's runtime (native)
  pydantic         # actions and settings; its core must match it exactly
  pydantic-core
  typing-inspection
  annotated-types
  typing-extensions
  loguru
)

say() { printf '==> %s\n' "$*"; }

git check-ignore -q "$DIR/x.whl" || {
  echo "error: $DIR/ is not ignored, so the wheels would be committed; add '/$DIR/' to .git/info/exclude" >&2
  exit 2
}

specs=()
for name in "${PACKAGES[@]}"; do
  version=$("$PYTHON" -c 'import sys; from importlib.metadata import version; print(version(sys.argv[1]))' "$name") || {
    echo "error: $name is not installed here; run scripts/install.sh first (the wheels take the versions it installs)" >&2
    exit 2
  }
  specs+=("$name==$version")
done

# One version of each package: start from an empty folder.
rm -rf "$DIR"
mkdir -p "$DIR"
# The device's interpreter, not this one: CPython 3.12 on manylinux x86-64.
DEVICE_TAGS=(--only-binary=:all: --python-version 3.12 --implementation cp
             --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
             --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
say "downloading ${specs[*]}"
"$PYTHON" -m pip download -q --no-deps "${DEVICE_TAGS[@]}" -d "$DIR" "${specs[@]}"

# The same install the device runs, for the device's tags, into a scratch folder: a wheel that would not
# install there fails here.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
say "checking that the wheels install for CPython 3.12"
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "${DEVICE_TAGS[@]}" \
  --target "$scratch" "$DIR"/*.whl

ls -1 "$DIR"
wheels_kib=$(du -sk "$DIR" | cut -f1)
tree_kib=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- | tail -1 | cut -f1)
total_mib=$(( (wheels_kib + tree_kib + 1023) / 1024 ))
say "wheels: $(( (wheels_kib + 1023) / 1024 )) MiB; with the working tree: $total_mib MiB (limit $LIMIT_MIB)"
if (( total_mib > LIMIT_MIB )); then
  echo "error: $total_mib MiB is over $LIMIT_MIB MiB; the device takes at most 64 MiB in all" >&2
  exit 1
fi
