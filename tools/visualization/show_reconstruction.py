"""Show a HAP checkpoint's reconstructions of masked views.

Per sample: the original crop, then for each view the masked input and the
reconstruction (visible patches pasted back from the original).

With ``norm_pix`` models the decoder predicts each patch normalised by its
own mean and standard deviation. ``--stats visible`` (default) undoes that
with the mean and standard deviation averaged over the view's VISIBLE
patches, using nothing the model could not see; ``--stats true`` uses each
masked patch's own statistics from the original image (MAE's demo does
this; colours are truer but it peeks at hidden pixels).

    python tools/visualization/show_reconstruction.py \
        configs/hap/hap_demo.py work_dirs/hap_demo/epoch_30.pth
"""
import argparse
import os
import os.path as osp

import mmcv
import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import DATASETS, MODELS

import hap_mm  # noqa: F401  (registers hap_mm modules)
from hap_mm.models.utils import extract_state_dict, load_checkpoint_file
from hap_mm.utils import HelpFormatter, load_config
from hap_mm.visualization import HAPVisualizer, grey_patches


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The HAP config the checkpoint used.')
    parser.add_argument(
        'checkpoint',
        help='A hap_mm pre-training checkpoint (with the decoder; not a '
        'converted backbone-only file).')
    parser.add_argument(
        '--num', type=int, default=4, help='The number of samples to show.')
    parser.add_argument(
        '--out',
        default='work_dirs/vis/reconstruction',
        help='The folder for the pictures.')
    parser.add_argument(
        '--stats',
        choices=['visible', 'true'],
        default='visible',
        help='The statistics used to undo the per-patch normalisation.')
    parser.add_argument('--seed', type=int, default=0, help='The random seed.')
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


def denormalise_patches(pred: torch.Tensor, target: torch.Tensor,
                        mask: torch.Tensor, stats: str) -> torch.Tensor:
    """Undo per-patch normalisation of ``pred``.

    Args:
        pred (torch.Tensor): (B, N, D) normalised predictions.
        target (torch.Tensor): (B, N, D) original patches (network input
            space).
        mask (torch.Tensor): (B, N), 1 = masked.
        stats (str): 'visible' or 'true' (see the module docstring).
    """
    mean = target.mean(-1, keepdim=True)
    std = (target.var(-1, keepdim=True) + 1e-6).sqrt()
    if stats == 'visible':
        vis = (1 - mask).unsqueeze(-1)
        mean = (mean * vis).sum(1, keepdim=True) / vis.sum(1, keepdim=True)
        std = (std * vis).sum(1, keepdim=True) / vis.sum(1, keepdim=True)
    return pred * std + mean


@torch.no_grad()
def reconstruct(model, data: dict):
    """Images (B, 3, H, W), masks (V*B, N) and reconstructions (V*B, 3, H, W)
    in the network's normalised input space."""
    data = model.data_preprocessor(data, False)
    inputs, samples = data['inputs'], data['data_samples']
    masks = data.get('mask')  # hap_collate's batch tensor, or per sample
    if masks is None:
        masks = torch.stack([s.mask for s in samples]).to(inputs.device)
    latent, mask, ids_restore = model.backbone(inputs, masks)
    pred = model.neck(latent, ids_restore)
    views = mask.shape[0] // inputs.shape[0]
    target = model.head.patchify(inputs.repeat(views, 1, 1, 1))
    return inputs, mask, pred, target


def check_pretraining_checkpoint(state: dict, model, path: str) -> None:
    """Refuse a checkpoint without the decoder (``neck.*``) or the head
    the reconstructions need, e.g. a converted backbone-only file.

    Raises:
        SystemExit: names the file, what it lacks and what to pass instead.
    """
    wanted = [p for p in ('neck.', 'head.')
              if any(k.startswith(p) for k in model.state_dict())]
    missing = [p for p in wanted if not any(k.startswith(p) for k in state)]
    if missing:
        lacks = ' and '.join(f'{p}* (the {"decoder" if p == "neck." else "head"})'
                             for p in missing)
        raise SystemExit(
            f'error: {path} has no {lacks} weights: it is not a pre-training '
            'checkpoint (a backbone-only file written by '
            'tools/model_converters/hap_to_backbone.py cannot reconstruct). '
            'Pass the pre-training checkpoint it came from, e.g. '
            'work_dirs/hap_demo/epoch_30.pth.')


def to_uint8(img: torch.Tensor, preprocessor) -> np.ndarray:
    """(3, H, W) normalised -> (H, W, 3) uint8 in the preprocessor's order."""
    img = img * preprocessor.std + preprocessor.mean
    return img.clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    state = extract_state_dict(
        load_checkpoint_file(args.checkpoint, args.unsafe_load))
    check_pretraining_checkpoint(state, model, args.checkpoint)
    model.load_state_dict(state, strict=True)
    model.to(args.device).eval()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    num = min(args.num, len(dataset))
    # the config's collate function: it makes the masks (hap_collate)
    collate_cfg = dict(cfg.train_dataloader.get('collate_fn') or
                       dict(type='default_collate'))
    collate = FUNCTIONS.get(collate_cfg.pop('type'))
    batch = collate([dataset[i] for i in range(num)], **collate_cfg)
    inputs, mask, pred, target = reconstruct(model, batch)
    head = model.head
    if head.norm_pix:
        pred = denormalise_patches(pred, target, mask, args.stats)
    recon = torch.where(mask.bool().unsqueeze(-1), pred, target)
    recon = head.unpatchify(recon)
    patch = head.patch_size
    views = mask.shape[0] // num
    grid = mask.reshape(views * num, *head.grid_size).bool().cpu().numpy()
    pre = model.data_preprocessor
    vis = HAPVisualizer(name='hap_show_reconstruction')
    os.makedirs(args.out, exist_ok=True)
    written = []
    for b in range(num):
        original = to_uint8(inputs[b], pre)
        panels, labels = [original], ['original']
        for v in range(views):
            r = v * num + b
            panels += [
                grey_patches(original, grid[r], patch),
                to_uint8(recon[r], pre)
            ]
            labels += [f'view {v + 1} masked', f'view {v + 1} recon']
        row = vis.draw_row(panels, labels)
        stem = osp.splitext(osp.basename(batch['data_samples'][b].img_path))[0]
        path = osp.join(args.out, f'{b:03d}_{stem}_reconstruction.png')
        # the data preprocessor feeds RGB (to_rgb=True), mmcv writes BGR
        mmcv.imwrite(row[..., ::-1] if pre._channel_conversion else row, path)
        written.append(path)
    print(f'wrote {len(written)} pictures to {osp.abspath(args.out)} '
          f'(stats: {args.stats})')
    for path in written:
        print(f'  {path}')


if __name__ == '__main__':
    main()
