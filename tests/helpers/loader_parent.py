"""A stand-in for extract_keypoints.py whose model is busy for ever.

Runs the tool's own loader (``iterate_batches`` over ``CropDataset``) with
2 workers on IMAGES; each item carries 4 MB of "model inputs", so the
workers have batches queued that nobody reads. After the first batch it
prints ``WORKERS <pid> <pid>`` (the worker pids, as the items report them)
and sleeps until it is killed.

    python tests/helpers/loader_parent.py IMAGES OUT
"""
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

TOOL = Path(__file__).resolve().parents[2] / 'tools/data/extract_keypoints.py'


def prepare(img, path):
    return os.getpid(), np.ones(1 << 20, np.float32)


def main() -> None:
    spec = importlib.util.spec_from_file_location('extract_keypoints', TOOL)
    ek = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ek)
    images, out = sys.argv[1:3]
    rels = ek.scan_images(images) * 8
    dataset = ek.CropDataset(images, rels, out, True, prepare)
    batches = ek.iterate_batches(dataset, batch_size=2, workers=2)
    # batches alternate between the workers; the loader stays open
    pids = {item['inputs'][0] for _ in range(2) for item in next(batches)}
    print('WORKERS ' + ' '.join(map(str, sorted(pids))), flush=True)
    time.sleep(600)


if __name__ == '__main__':
    main()
