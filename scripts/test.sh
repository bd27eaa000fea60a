#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite. The tests start their own X server, Chromium,
# adb server and simulated phone, and build a tiny random-weight Qwen2.5-VL; nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec "${PYTHON:-python3}" -m pytest -q "$@"
