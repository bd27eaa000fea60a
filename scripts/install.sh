#!/usr/bin/env bash
# Installs everything the agent needs on Debian/Ubuntu: the system packages (Xvfb, Chromium, adb, xdotool,
# xclip, a CJK font, mksh), the Python package with all its extras, and the default model (models/default).
# Safe to run again: it skips what is already there.
# Set PYTHON to choose the interpreter (default: python3); run it inside a virtualenv if you prefer.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# --- system packages -------------------------------------------------------------------------------
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v chromium >/dev/null || need+=(chromium)
command -v adb >/dev/null || need+=(adb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v xclip >/dev/null || need+=(xclip)
command -v xdpyinfo >/dev/null || need+=(x11-utils)
# A CJK font, so the simulated phone draws Chinese text instead of boxes.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-zenhei)
# mksh, the shell Android runs `adb shell` commands in: the tests hold the simulated phone's shell to it.
command -v mksh >/dev/null || need+=(mksh)
if ((${#need[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "error: missing ${need[*]} and this is not a Debian/Ubuntu system; install them with your package manager" >&2
    exit 2
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install ${need[*]}" >&2; exit 2; }
    SUDO="sudo"
  fi
  say "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- Python ----------------------------------------------------------------------------------------
# torch and torchvision first and together: transformers' Qwen2.5-VL processor needs torchvision, and the two
# must be builds that match each other.
if ! "$PYTHON" -c "import torch, torchvision" 2>/dev/null; then
  say "installing torch and torchvision"
  "$PYTHON" -m pip install -q torch torchvision
fi
say "installing the agent and its extras"
"$PYTHON" -m pip install -q -e ".[all,test]" 2>&1 | grep -v "Running pip as the 'root' user" || true
"$PYTHON" -c "import agent, xgrammar, playwright, mss, adbutils, miniwob" \
  || { echo "error: the Python packages did not install; see pip's messages above" >&2; exit 2; }

# --- model -----------------------------------------------------------------------------------------
# models/default is what `run` uses when no --model is given: the released weights (fetched when online, their
# size said first), or the tiny random-weight model where they cannot be fetched. CI, and AGENT_FETCH_MODEL=0,
# never download.
if [ "${CI:-}" = "true" ] || [ "${AGENT_FETCH_MODEL:-1}" = "0" ]; then
  "$PYTHON" -m agent fetch-model --no-download
else
  say "the default model (AGENT_FETCH_MODEL=0 skips the download)"
  "$PYTHON" -m agent fetch-model
fi
say "ready: python -m agent doctor shows what is usable"
