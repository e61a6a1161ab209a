#!/usr/bin/env bash
# Create (or reuse) the hap_mm virtual environment with the pinned OpenMMLab stack.
#
# Usage: tools/env/setup_venv.sh [--print-build] [VENV_DIR]
#        (VENV_DIR default: $HAP_MM_VENV or ./.venv)
#
# Idempotent: a stamp file records the hash of the requirement files and this
# script, and the mmcv build this machine needs (cpu or cuda); when it
# matches, nothing is reinstalled. mmcv 2.1.0 has no wheel for torch 2.14 on
# PyPI and its sdist forces -std=c++17 while torch 2.14 headers need C++20,
# so it is built once from the sdist with the standard raised to C++20 and
# the wheel is kept in $HAP_MM_WHEEL_CACHE (default ~/.cache/hap_mm/wheels);
# later venvs on the same machine install that wheel.
#
# mmcv's ops are built for the machine the script runs on:
# - CUDA machines (nvcc on PATH or in $CUDA_HOME/bin, and an NVIDIA GPU:
#   `nvidia-smi -L` lists one or /dev/nvidia0 exists): FORCE_CUDA=1, for the
#   GPUs' compute capabilities (or $TORCH_CUDA_ARCH_LIST), then a CUDA nms
#   is run as the check;
# - otherwise (CPU machines and login nodes, even with nvcc): CPU ops only.
# HAP_MM_MMCV_CUDA=1 or 0 forces one of them. The wheel cache is keyed on
# the torch version AND the build: torch-<ver>/cpu/ or
# torch-<ver>/cuda<torch CUDA>_sm<archs>/, so a wheel built on a CPU login
# node is never installed on a GPU node. --print-build prints the build and
# the cache folder this machine would use, and changes nothing.
set -euo pipefail

PRINT_BUILD=0
if [[ "${1:-}" == "--print-build" ]]; then
  PRINT_BUILD=1
  shift
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-${HAP_MM_VENV:-$ROOT/.venv}}"
PYTHON="${PYTHON:-python3.11}"
WHEEL_CACHE="${HAP_MM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hap_mm/wheels}"
MMCV_VERSION=2.1.0

log() { printf '[setup_venv] %s\n' "$*" >&2; }

find_nvcc() {
  if command -v nvcc >/dev/null; then
    command -v nvcc
  elif [[ -n "${CUDA_HOME:-}" && -x "$CUDA_HOME/bin/nvcc" ]]; then
    echo "$CUDA_HOME/bin/nvcc"
  fi
}

has_gpu() {
  { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep '^GPU' >/dev/null; } \
    || [[ -e /dev/nvidia0 ]]
}

# cuda or cpu: the mmcv ops this machine needs
mmcv_build() {
  case "${HAP_MM_MMCV_CUDA:-}" in
    1) echo cuda ;;
    0) echo cpu ;;
    "") if [[ -n "$(find_nvcc)" ]] && has_gpu; then echo cuda; else echo cpu; fi ;;
    *) log "HAP_MM_MMCV_CUDA must be 1 or 0, not '$HAP_MM_MMCV_CUDA'"; exit 1 ;;
  esac
}

# the GPUs' compute capabilities for TORCH_CUDA_ARCH_LIST (e.g. 8.0;9.0)
gpu_arch_list() {
  if [[ -n "${TORCH_CUDA_ARCH_LIST:-}" ]]; then
    echo "$TORCH_CUDA_ARCH_LIST"
  elif command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
      | tr -d ' ' | grep -E '^[0-9]+\.[0-9]+$' | sort -u | paste -sd';' - || true
  fi
}

stamp_of() {
  { cat "$ROOT"/requirements/*.txt "$ROOT/tools/env/setup_venv.sh" "$ROOT/setup.py"
    echo "mmcv ops: $BUILD"; } | sha256sum | cut -d' ' -f1
}

BUILD="$(mmcv_build)"

STAMP="$VENV/.hap_mm_env"
if [[ "$PRINT_BUILD" == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_of)" && -x "$VENV/bin/python" ]]; then
  log "reusing $VENV (requirements unchanged)"
  exit 0
fi

ARCHS=""
[[ "$BUILD" == cpu ]] || ARCHS="$(gpu_arch_list)"

# Sets TORCH_TAG (torch version, + as _), TORCH_CUDA (torch's CUDA build,
# empty for a CPU torch) and DEST, the wheel cache folder of this machine's
# build: torch-<ver>/cpu or torch-<ver>/cuda<ver>_sm<archs>.
set_wheel_dir() {
  read -r TORCH_TAG TORCH_CUDA < <("$VENV/bin/python" -c \
    'import torch; print(torch.__version__.replace("+", "_"), torch.version.cuda or "")')
  [[ -n "$TORCH_TAG" ]] || { log "cannot import torch with $VENV/bin/python"; exit 1; }
  if [[ "$BUILD" == cpu ]]; then
    DEST="$WHEEL_CACHE/torch-$TORCH_TAG/cpu"
    return
  fi
  [[ -n "$TORCH_CUDA" ]] || { log "torch $TORCH_TAG is a CPU-only build; mmcv's CUDA ops need a CUDA torch"; exit 1; }
  DEST="$WHEEL_CACHE/torch-$TORCH_TAG/cuda${TORCH_CUDA}_sm$(echo "${ARCHS:-native}" | tr -d '.+' | tr ';' '-')"
}

if [[ "$PRINT_BUILD" == 1 ]]; then
  [[ -x "$VENV/bin/python" ]] || { log "--print-build needs torch in $VENV"; exit 1; }
  set_wheel_dir
  echo "mmcv_ops=$BUILD"
  echo "nvcc=$(find_nvcc)"
  echo "torch_cuda=$TORCH_CUDA"
  echo "cuda_arch_list=$ARCHS"
  echo "wheel_dir=$DEST"
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

# mmcv with ops runs nms; for a CUDA build also on the GPU, and mmcv must
# say it was compiled with CUDA
mmcv_has_ops() {
  "$VENV/bin/python" - "$BUILD" <<PY 2>/dev/null
import sys
import mmcv, mmcv.ops, torch
assert mmcv.__version__ == '$MMCV_VERSION'
devices = ['cpu']
if sys.argv[1] == 'cuda':
    assert mmcv.ops.get_compiling_cuda_version() != 'not available'
    devices.append('cuda')
for device in devices:
    b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]], device=device)
    s = torch.tensor([0.9, 0.8], device=device)
    keep = mmcv.ops.nms(b, s, 0.5)[1]
    assert keep.tolist() == [0], device
PY
}

if mmcv_has_ops; then
  log "mmcv $MMCV_VERSION with $BUILD ops already in the venv"
else
  set_wheel_dir
  WHEEL="$(ls "$DEST"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$WHEEL" && "$BUILD" == cpu ]]; then
    # wheels cached by earlier versions of this script (always CPU ops)
    WHEEL="$(ls "$(dirname "$DEST")"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  fi
  if [[ -z "$WHEEL" ]]; then
    FORCE=0
    if [[ "$BUILD" == cuda ]]; then
      FORCE=1
      NVCC="$(find_nvcc)"
      [[ -n "$NVCC" ]] || { log "no nvcc on PATH or in \$CUDA_HOME/bin: cannot build mmcv's CUDA ops"; exit 1; }
      NVCC_CUDA="$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')"
      if [[ "${NVCC_CUDA%%.*}" != "${TORCH_CUDA%%.*}" ]]; then
        log "nvcc is CUDA $NVCC_CUDA but torch is built for CUDA $TORCH_CUDA: put a CUDA ${TORCH_CUDA%%.*}.x toolkit first on PATH (or CUDA_HOME)"
        exit 1
      fi
      export CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$NVCC")")")}"
      [[ -z "$ARCHS" ]] || export TORCH_CUDA_ARCH_LIST="$ARCHS"
      log "building mmcv $MMCV_VERSION with CUDA ops (nvcc $NVCC_CUDA, torch CUDA $TORCH_CUDA, archs ${ARCHS:-of the visible GPUs}); tens of minutes, done once per cache"
    else
      log "building mmcv $MMCV_VERSION with CPU ops (about 11 minutes on 2 cores; done once per machine)"
    fi
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$WORK"
    tar -xzf "$WORK"/mmcv-"$MMCV_VERSION".tar.gz -C "$WORK"
    SRC="$WORK/mmcv-$MMCV_VERSION"
    # torch 2.14 headers need C++20; mmcv 2.1.0 hard-codes older standards.
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
    grep -q 'c++20' "$SRC/setup.py" || { log "could not patch the C++ standard in mmcv's setup.py"; exit 1; }
    mkdir -p "$DEST"
    # CUDA builds are long: up to 8 parallel nvcc jobs (about 2 GB each)
    JOBS=2
    [[ "$BUILD" == cpu ]] || JOBS=$(( $(nproc) < 8 ? $(nproc) : 8 ))
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$JOBS}" FORCE_CUDA="$FORCE" \
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
  mmcv_has_ops || { log "mmcv $BUILD ops do not run after install"; exit 1; }
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
