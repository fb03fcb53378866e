#!/usr/bin/env bash
# One-time (and idempotent) set-up behind `make demo` and `make test`:
# .venv, the CPU torch wheel, the FluidSynth library, and latentmusic with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON was not found; install Python 3.10 or newer (e.g. apt-get install python3 python3-venv)." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "error: latentmusic needs Python 3.10 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." >&2
  exit 1
fi

# 1. The FluidSynth library renders our offline training data from SoundFonts.
have_fluidsynth() {
  ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so' && return 0
  "$PYTHON" -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("fluidsynth") else 1)'
}
if ! have_fluidsynth; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing the FluidSynth library (libfluidsynth3)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libfluidsynth3 >/dev/null
  else
    echo "error: the FluidSynth library is missing; install it with: sudo apt-get install -y --no-install-recommends libfluidsynth3" >&2
    exit 1
  fi
fi

# 1b. Headless Chromium and its driver for the studio's browser tests (Debian's packages:
# browsers that pip packages download at run time cannot be fetched here). Without root
# and apt the browser tests skip and say which command installs them.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Chromium and its driver (chromium, chromium-driver) for the studio's browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "note: the studio's browser tests need Chromium; install it with: sudo apt-get install -y --no-install-recommends chromium chromium-driver" >&2
  fi
fi

# 2. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PIP="$VENV/bin/python -m pip"

# 3. torch: the CPU wheel when none is present (an unpinned torch pulls a multi-GB CUDA build).
if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
  echo "==> installing torch==$TORCH_VERSION"
  $PIP install -q "torch==$TORCH_VERSION"
fi

# 4. latentmusic itself, re-installed only when its requirements change.
stamp=$VENV/.latentmusic-setup
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing latentmusic and its dependencies"
  $PIP install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
