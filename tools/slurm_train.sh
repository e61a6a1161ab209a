#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU.
#   [GPUS=16] [GPUS_PER_NODE=8] [WORKERS=10] [CPUS_PER_TASK=12] [SRUN_ARGS=...] \
#     tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
#
# CPUs per task follow the data loader: each task runs WORKERS data workers
# plus the training process and the pin-memory thread, so CPUS_PER_TASK
# defaults to WORKERS + 2. WORKERS defaults to the config's
# train_dataloader.num_workers (10 in configs/hap: 12 CPUs per task, 96 per
# 8-GPU node); setting WORKERS also sets num_workers for the run. An
# explicit CPUS_PER_TASK is used as given.
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
HERE="$(cd "$(dirname "$0")" && pwd)"

WORKER_ARGS=()
if [[ -n "${WORKERS:-}" ]]; then
  WORKER_ARGS=(--cfg-options "train_dataloader.num_workers=$WORKERS")
else
  WORKERS=$("$PYTHON" -c 'import sys
from mmengine.config import Config
cfg = Config.fromfile(sys.argv[1], import_custom_modules=False)
print(cfg.train_dataloader.get("num_workers", 0))' "$CONFIG") || {
    echo "$0: could not read train_dataloader.num_workers from $CONFIG; set WORKERS" >&2
    exit 2
  }
fi
CPUS_PER_TASK=${CPUS_PER_TASK:-$((WORKERS + 2))}
echo "slurm_train: $GPUS tasks, $WORKERS data workers and $CPUS_PER_TASK CPUs per task" >&2

# shellcheck disable=SC2086
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$HERE/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm \
    "${WORKER_ARGS[@]}" "${@:5}"
