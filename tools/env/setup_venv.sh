#!/usr/bin/env bash
# Create (or reuse) the hap_mm virtual environment with the pinned OpenMMLab stack.
#
# Usage: tools/env/setup_venv.sh [VENV_DIR]      (default: $HAP_MM_VENV or ./.venv)
#
# Idempotent: a stamp file records the hash of the requirement files and this
# script; when it matches, nothing is reinstalled. mmcv 2.1.0 has no wheel for
# torch 2.14 on PyPI and its sdist forces -std=c++17 while torch 2.14 headers
# need C++20, so it is built once from the sdist with the standard raised to
# C++20 and the wheel is kept in $HAP_MM_WHEEL_CACHE (default
# ~/.cache/hap_mm/wheels); later venvs on the same machine install that wheel.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-${HAP_MM_VENV:-$ROOT/.venv}}"
PYTHON="${PYTHON:-python3.11}"
WHEEL_CACHE="${HAP_MM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hap_mm/wheels}"
MMCV_VERSION=2.1.0

log() { printf '[setup_venv] %s\n' "$*" >&2; }

stamp_of() {
  cat "$ROOT"/requirements/*.txt "$ROOT/tools/env/setup_venv.sh" "$ROOT/setup.py" \
    | sha256sum | cut -d' ' -f1
}

STAMP="$VENV/.hap_mm_env"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_of)" && -x "$VENV/bin/python" ]]; then
  log "reusing $VENV (requirements unchanged)"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null || { log "need $PYTHON on PATH (or set PYTHON=...)"; exit 1; }
  log "creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_PROGRESS_BAR=off

"${PIP[@]}" install -q --upgrade 'pip<26'
log "installing build requirements (torch, numpy, setuptools)"
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"

mmcv_has_ops() {
  "$VENV/bin/python" - <<PY 2>/dev/null
import mmcv, mmcv.ops, torch
assert mmcv.__version__ == '$MMCV_VERSION'
b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = mmcv.ops.nms(b, torch.tensor([0.9, 0.8]), 0.5)[1]
assert keep.tolist() == [0]
PY
}

torch_tag() { "$VENV/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))'; }

if mmcv_has_ops; then
  log "mmcv $MMCV_VERSION with ops already in the venv"
else
  TAG="$(torch_tag)"
  DEST="$WHEEL_CACHE/torch-$TAG"
  WHEEL="$(ls "$DEST"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$WHEEL" ]]; then
    log "building mmcv $MMCV_VERSION with ops for torch $TAG (about 11 minutes on 2 cores; done once per machine)"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$WORK"
    tar -xzf "$WORK"/mmcv-"$MMCV_VERSION".tar.gz -C "$WORK"
    SRC="$WORK/mmcv-$MMCV_VERSION"
    # torch 2.14 headers need C++20; mmcv 2.1.0 hard-codes older standards.
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
    grep -q 'c++20' "$SRC/setup.py" || { log "could not patch the C++ standard in mmcv's setup.py"; exit 1; }
    mkdir -p "$DEST"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" FORCE_CUDA=0 \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps "$SRC" -w "$WORK/wheel"
    mv "$WORK"/wheel/mmcv-*.whl "$DEST/"
    WHEEL="$(ls "$DEST"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    log "cached $WHEEL"
  else
    log "installing cached $WHEEL"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL"
  # mmcv's own runtime deps (addict, yapf, ...), without touching torch.
  "${PIP[@]}" install -q "$WHEEL"
  mmcv_has_ops || { log "mmcv ops do not run after install"; exit 1; }
fi

log "installing the OpenMMLab stack and test tools"
# mmpose needs chumpy, whose setup.py imports pip: build it with the venv's.
"${PIP[@]}" install -q --no-build-isolation chumpy==0.70
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/optional.txt" \
  -r "$ROOT/requirements/tests.txt"
log "installing hap_mm (editable)"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"
"$VENV/bin/python" "$ROOT/tools/misc/link_editable_for_mim.py"

"$VENV/bin/python" -c 'import hap_mm, mmpretrain, mmpose, mmseg, mmdet, mmcv.ops; print("hap_mm", hap_mm.__version__, "imports with the full stack")'
stamp_of > "$STAMP"
log "environment ready in $(( $(date +%s) - start )) s; size $(du -sh "$VENV" | cut -f1)"
