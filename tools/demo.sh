#!/usr/bin/env bash
# The main job: a short real HAP pre-training on the demo crops (CPU), then
# pictures of its masks and reconstructions, then where everything went.
#   tools/demo.sh [PYTHON] [WORK_DIR]          (make demo calls this)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${1:-python}"
WORK_DIR="${2:-work_dirs/hap_demo}"
CONFIG="$ROOT/configs/hap/hap_demo.py"
cd "$ROOT"

start=$(date +%s)
echo "== HAP pre-training on data/demo (CPU) -> $WORK_DIR"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"

echo "== pictures"
"$PY" tools/visualization/show_masks.py "$CONFIG" --num 4 --out "$WORK_DIR/vis/masks"
"$PY" tools/visualization/show_reconstruction.py "$CONFIG" "$CKPT" --num 4 \
    --out "$WORK_DIR/vis/reconstruction"

echo "== summary"
"$PY" tools/analysis/summarize_run.py "$WORK_DIR"
echo "demo finished in $(( $(date +%s) - start )) s"
