#!/usr/bin/env bash
# Bench-only environment with the peer scanners (NOT app requirements).
# Creates bench/.venv-peers (gitignored by /bench/.venv*/) and installs pinned peers from PyPI.
# Usage: bash bench/scan/setup.sh            (idempotent; re-run to repair)
#        PEERS_PYTHON=python3.11 bash bench/scan/setup.sh
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="$(dirname "$HERE")"
VENV="$BENCH/.venv-peers"
PY="${PEERS_PYTHON:-python3.11}"

# Pinned versions (the ones this bench was last run with).
PICKLESCAN="picklescan==1.0.5"
FICKLING="fickling==0.1.12"
MODELAUDIT="modelaudit[h5,onnx]==0.2.54"
MODELSCAN="modelscan==0.8.8"
# fickling's PyTorch-zip support (fickling.polyglot) imports torch; modelaudit also proves torch globals inert by
# reading torch's source when it is installed (without torch it warns on every benign PyTorch file). Same CPU wheel
# as the app's dev requirements.
TORCH="torch==2.13.0"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $PY"
  "$PY" -m venv "$VENV" || { echo "[setup] FAILED to create venv"; exit 1; }
fi
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip wheel >/dev/null 2>&1 || true

status=0
install_peer() {  # name spec [extra pip args…]
  local name="$1"; shift
  echo "[setup] installing $*"
  if "$PIP" install -q "$@" 2> >(grep -v -E "is ignored: it is neither a file nor a directory" >&2); then
    echo "[setup] $name: OK ($("$VENV/bin/pip" show "$name" 2>/dev/null | awk '/^Version:/{print $2}'))"
  else
    echo "[setup] $name: COULD NOT INSTALL (the bench reports it as unavailable)"
    status=1
  fi
}

install_peer picklescan "$PICKLESCAN"
install_peer torch "$TORCH"
install_peer fickling "$FICKLING"
# modelscan: its pickle/zip/numpy scanners need only numpy; the tensorflow/h5py extras are for Keras/TF
# formats and are not installed here (those scanners then report "skipped" instead of flagging).
install_peer modelscan "$MODELSCAN"
# modelaudit: base install covers pickle, PyTorch zip, numpy, safetensors, zip/7z; the h5 and onnx extras (h5py, onnx)
# are needed for its Keras H5 and ONNX scanners (without them it reports those files as inconclusive).
install_peer modelaudit "$MODELAUDIT"

# Optional helpers used by peers on some formats (numpy for modelscan/modelaudit numpy scanners; py7zr so the
# 7z case can be inspected by peers that support it). Failure is not fatal.
"$PIP" install -q numpy py7zr==1.1.4 >/dev/null 2>&1 || echo "[setup] note: numpy/py7zr optional helpers not installed"

echo "[setup] peers venv: $VENV"
"$VENV/bin/pip" freeze 2>/dev/null | grep -i -E '^(picklescan|modelscan|fickling|modelaudit|torch|numpy|py7zr|h5py|onnx)==' \
  | sed 's/^/[setup]   /'
exit $status
