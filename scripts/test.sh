#!/usr/bin/env bash
# Installs what is missing, lints, then runs the whole test suite. The tests start their own X server, Chromium,
# adb server and simulated phone, and build a tiny random-weight Qwen2.5-VL; nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
"${PYTHON:-python3}" -m ruff check --quiet .  # the rules are in pyproject.toml
exec "${PYTHON:-python3}" -m pytest -q "$@"
