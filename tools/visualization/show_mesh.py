"""Draw a mesh model's predicted meshes over its input crops and the images.

For each sample of the config's test (or validation) dataset: the 256x256
input crop with the predicted mesh's 6,890 vertices projected by the model's
virtual camera (focal 5000 px, principal point (128, 128) in input pixels;
the predicted camera translation is part of the vertices), and the original
image with the same points mapped back through the sample's
``bb2img_trans``. Vertices are coloured by depth (orange near, blue far).
Writes pictures only (no window).

    CFG=configs/downstream/mesh/hapvit-b_8xb192-11e_h36m-muco-coco-mpii-3dpw-256x256.py
    python tools/visualization/show_mesh.py $CFG work_dirs/mesh/epoch_11.pth --num 8
"""
import argparse
import os
import os.path as osp

import mmcv
import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.utils import ProgressBar
from mmpose.registry import DATASETS, MODELS

from hap_mm.models.utils import extract_state_dict, load_checkpoint_file
from hap_mm.utils import HelpFormatter, load_config
from hap_mm.visualization import (
    HAPVisualizer,
    affine_points,
    draw_mesh_points,
    project_points,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The mesh config the checkpoint used.')
    parser.add_argument('checkpoint', help='A checkpoint of that config.')
    parser.add_argument(
        '--split',
        choices=['test', 'val'],
        default='test',
        help='The dataloader of the config whose samples are drawn.')
    parser.add_argument(
        '--num', type=int, default=8, help='The number of samples to draw.')
    parser.add_argument(
        '--start', type=int, default=0, help='The index of the first sample.')
    parser.add_argument(
        '--height',
        type=int,
        default=512,
        help='The height in pixels of each panel of a picture.')
    parser.add_argument(
        '--out', default='work_dirs/vis/mesh', help='The folder for the pictures.')
    parser.add_argument(
        '--device', default='cpu', help='The device: cpu or cuda.')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='Allow pickled objects in the checkpoint (trusted files only).')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='Override config settings, key=value.')
    return parser.parse_args()


def to_height(img: np.ndarray, height: int) -> np.ndarray:
    """Resize (H, W, 3) to ``height`` rows, keeping the aspect ratio."""
    h, w = img.shape[:2]
    return mmcv.imresize(img, (max(1, round(w * height / h)), height))


def mesh_panels(crop: np.ndarray, image: np.ndarray, vertices: np.ndarray,
                focal, princpt, bb2img_trans: np.ndarray):
    """The crop and the image with the projected vertices drawn.

    Args:
        crop (np.ndarray): (256, 256, 3) uint8 network input (before
            normalisation).
        image (np.ndarray): (H, W, 3) uint8 original image, same channel
            order as ``crop``.
        vertices (np.ndarray): (6890, 3) metres, virtual-camera frame.
        focal, princpt: the virtual camera in input-crop pixels.
        bb2img_trans (np.ndarray): (2, 3) input-crop px -> image px.

    Returns:
        tuple: the two drawn images.
    """
    in_crop = project_points(vertices, focal, princpt)
    in_image = affine_points(in_crop, bb2img_trans)
    depth = vertices[:, 2]
    return (draw_mesh_points(crop, in_crop, depth, radius=0),
            draw_mesh_points(image, in_image, depth))


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    state = extract_state_dict(
        load_checkpoint_file(args.checkpoint, args.unsafe_load))
    model.load_state_dict(state, strict=True)
    model.to(args.device).eval()
    dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    indices = range(args.start, min(args.start + args.num, len(dataset)))
    if not len(indices):
        raise SystemExit(f'error: no samples: --start {args.start} with '
                         f'{len(dataset)} samples in the {args.split} set')
    os.makedirs(args.out, exist_ok=True)
    vis = HAPVisualizer(name='hap_show_mesh')
    written = []
    bar = ProgressBar(len(indices))
    for i in indices:
        batch = pseudo_collate([dataset[i]])
        with torch.no_grad():
            sample = model.test_step(batch)[0]
        # the packed input is BGR uint8 like mmpose's (and mmcv's images)
        crop = np.ascontiguousarray(
            batch['inputs'][0].permute(1, 2, 0).cpu().numpy())
        image = mmcv.imread(sample.img_path)
        if image is None:
            raise SystemExit(f'error: cannot read {sample.img_path}')
        vertices = sample.pred_instances.vertices[0].float().cpu().numpy()
        crop_drawn, image_drawn = mesh_panels(
            crop, image, vertices, model.focal, model.princpt,
            np.asarray(sample.bb2img_trans))
        row = vis.draw_row(
            [to_height(crop_drawn, args.height),
             to_height(image_drawn, args.height)],
            ['input crop', 'image'])
        stem = osp.splitext(osp.basename(sample.img_path))[0]
        path = osp.join(args.out, f'{i:05d}_{stem}_mesh.jpg')
        mmcv.imwrite(row, path)
        written.append(path)
        bar.update()
    print(f'\nwrote {len(written)} pictures to {osp.abspath(args.out)}')
    for path in written:
        print(f'  {path}')


if __name__ == '__main__':
    main()
