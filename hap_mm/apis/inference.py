"""Building a trained hap_mm model from its config and checkpoint, and
embedding images with it, the way the model's own test path does.

Follows mmpretrain's ``get_model`` (build in the ``mmpretrain`` scope
without ``init_weights``, then load the checkpoint) and ``FeatureExtractor``
(the config's test pipeline without ``LoadImageFromFile``; images are
loaded here so that a missing or corrupt file is an error naming it).
"""
import copy
import hashlib
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from hap_mm.datasets.image_io import IMG_EXTENSIONS, read_image, scan_files
from hap_mm.models.utils.checkpoint import (
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
)

ImageInput = Union[str, np.ndarray]


def _load_config(config) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config} not found')
    return Config.fromfile(config)


def _is_pretrain(cfg: Config) -> bool:
    return cfg.model.get('type') == 'HAP'


def check_state_dict(model: torch.nn.Module,
                     state: dict,
                     checkpoint: str,
                     allow_unexpected: bool = False) -> None:
    """Raise :class:`CheckpointLoadError` naming ``checkpoint`` and the
    first keys that are missing, unexpected (unless ``allow_unexpected``)
    or of another shape. A leading ``module.`` of the checkpoint's keys
    (a DDP wrapper's) is ignored."""
    own = model.state_dict()
    state = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state.items()
    }
    missing = sorted(set(own) - set(state))
    unexpected = [] if allow_unexpected else sorted(set(state) - set(own))
    shapes = [
        f'{k} {tuple(state[k].shape)} in the checkpoint, '
        f'{tuple(own[k].shape)} in the model' for k in sorted(own)
        if k in state and hasattr(state[k], 'shape')
        and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    for what, keys in (('missing keys', missing),
                       ('unexpected keys', unexpected),
                       ('shape mismatches', shapes)):
        if keys:
            more = f' (+{len(keys) - 5} more)' if len(keys) > 5 else ''
            problems.append(f'{what}: {", ".join(keys[:5])}{more}')
    if problems:
        raise CheckpointLoadError(
            f'checkpoint {checkpoint} does not match the config: ' +
            '; '.join(problems))


def init_model(config,
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               unsafe_load: bool = False) -> torch.nn.Module:
    """A hap_mm model in eval mode, with the weights of ``checkpoint``.

    Any hap_mm config: ReID (plain ViT or ViT-lem), attributes, text ReID
    (``TextImageReID``; BERT from its ``bert_path``), or HAP pre-training
    (then the backbone gives its final-norm CLS token: the encoder's
    embedding of an unmasked image). The model is built in the
    ``mmpretrain`` scope, as mmpretrain's ``get_model`` does, without
    ``init_weights`` (so no ``Pretrained`` backbone file is read).

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): A checkpoint of this config (an
            mmengine ``state_dict`` checkpoint or a bare state dict); None
            keeps the random initialisation (for tests and exports).
        device (str | torch.device): Where the model runs.
        unsafe_load (bool): Allow pickled objects in the checkpoint (only
            for files from a trusted source).

    Returns:
        The model, with ``cfg`` (the config), ``test_pipeline`` (the test
        transforms without image loading), ``dataset_meta`` (from the
        checkpoint, e.g. the attribute ``classes``; else {}) and
        ``checkpoint`` (its path or None).

    Raises:
        FileNotFoundError: the config is missing.
        CheckpointLoadError: the checkpoint is missing, unreadable, or does
            not match the config (naming the file and the first bad keys).
    """
    cfg = _load_config(config)
    if _is_pretrain(cfg):
        cfg.model.backbone.out_type = 'cls_token'
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        model.test_pipeline = Compose(_test_pipeline(cfg))
    model.dataset_meta = {}
    if checkpoint is not None:
        ckpt = load_checkpoint_file(checkpoint, unsafe_load=unsafe_load)
        state = extract_state_dict(ckpt)
        if not isinstance(state, dict):
            raise CheckpointLoadError(
                f'checkpoint {checkpoint} holds no state dict')
        state = {
            k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state.items()
        }
        check_state_dict(model, state, checkpoint)
        model.load_state_dict(state, strict=True)
        meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
        if isinstance(meta, dict) and isinstance(
                meta.get('dataset_meta'), dict):
            model.dataset_meta = meta['dataset_meta']
    model.cfg = cfg
    model.checkpoint = checkpoint
    model.to(device)
    model.eval()
    return model


def _test_pipeline(cfg: Config) -> List[dict]:
    """The config's test transforms without ``LoadImageFromFile``; for a
    pre-training config (no test loader) a bicubic resize to the backbone's
    ``img_size``."""
    loader = cfg.get('test_dataloader')
    if loader is not None and 'pipeline' in loader.get('dataset', {}):
        steps = [
            dict(step) for step in loader.dataset.pipeline
            if step['type'] != 'LoadImageFromFile'
        ]
    else:
        height, width = cfg.model.backbone.get('img_size', (256, 128))
        steps = [
            dict(type='Resize', scale=(width, height),
                 interpolation='bicubic'),
            dict(type='PackInputs')
        ]
    for step in steps:
        if step['type'] == 'PackInputs':
            step['meta_keys'] = ('img_path', )
    return steps


def list_images(inputs) -> List[ImageInput]:
    """``inputs`` as a list of image paths or arrays.

    Args:
        inputs: A folder (its images, sorted, recursively), one path, one
            (H, W, 3) uint8 BGR array, or a list of paths and arrays.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: a folder without images.
    """
    if isinstance(inputs, np.ndarray) or isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out = []
    for item in inputs:
        if isinstance(item, np.ndarray):
            out.append(item)
            continue
        path = os.fspath(item)
        if osp.isdir(path):
            files = scan_files(path)
            if not files:
                raise ValueError(f'folder {path} has no images '
                                 f'({", ".join(IMG_EXTENSIONS)})')
            out.extend(osp.join(path, f) for f in files)
        elif osp.isfile(path):
            out.append(path)
        else:
            raise FileNotFoundError(f'image {path} not found')
    return out


def load_image(item: ImageInput) -> np.ndarray:
    """An (H, W, 3) uint8 BGR image from a path or an array.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: a file that does not decode (empty, truncated, not an
            image) or an array that is not (H, W, 3) uint8; naming it.
    """
    if isinstance(item, np.ndarray):
        if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
            raise ValueError('image arrays must be (H, W, 3) uint8 BGR, got '
                             f'{item.shape} {item.dtype}')
        return item
    if not osp.isfile(item):
        raise FileNotFoundError(f'image {item} not found')
    img, why = read_image(item)
    if img is None:
        raise ValueError(f'cannot decode image {item}: {why}')
    return img


def pack_batch(model, items: Sequence[ImageInput]) -> dict:
    """Images through ``model.test_pipeline``, as a collated batch
    (``inputs`` and ``data_samples`` lists) for ``test_step``."""
    samples = []
    for item in items:
        img = load_image(item)
        results = dict(img=img, img_shape=img.shape[:2],
                       ori_shape=img.shape[:2])
        if isinstance(item, str):
            results['img_path'] = item
        samples.append(model.test_pipeline(results))
    return dict(inputs=[s['inputs'] for s in samples],
                data_samples=[s['data_samples'] for s in samples])


def embed_tensor(model, inputs: torch.Tensor) -> torch.Tensor:
    """L2-normalised embeddings (B, C) of preprocessed images (B, 3, H, W),
    as the model's test path makes them: a ReID head's
    ``retrieval_feature`` (what its ``predict`` gives as ``pred_feature``);
    a text ReID model's ``embed_images`` (its ``pred_image_feature``);
    else the last output of ``extract_feat`` (the pooled neck for
    attributes, the CLS token for pre-training). Tensor ops only, so it
    traces for export."""
    if hasattr(model, 'embed_images'):
        return F.normalize(model.embed_images(inputs).float(), dim=1)
    feats = model.extract_feat(inputs)
    head = getattr(model, 'head', None)
    if hasattr(head, 'retrieval_feature'):
        feat = head.retrieval_feature(feats)
    else:
        feat = feats[-1] if isinstance(feats, (tuple, list)) else feats
    if feat.ndim != 2:
        raise ValueError(
            f'{type(model).__name__}.extract_feat gave {tuple(feat.shape)} '
            'features, not (B, C): set the backbone\'s out_type to '
            "'cls_token' or add a pooling neck")
    return F.normalize(feat.float(), dim=1)


def _embed(model, data: dict) -> torch.Tensor:
    """:func:`embed_tensor` of a packed batch, through the model's data
    preprocessor."""
    # one stacked batch: a list would be views to a self-supervised
    # model's preprocessor (the test pipeline resizes to one size)
    data = dict(data, inputs=torch.stack(data['inputs']))
    return embed_tensor(model, model.data_preprocessor(data, False)['inputs'])


@torch.no_grad()
def extract_features(model,
                     inputs,
                     batch_size: int = 32,
                     progress: bool = True) -> torch.Tensor:
    """L2-normalised embeddings (N, C) float32 on the CPU, one row per
    image of ``inputs``, in order.

    The embedding is the one the model's test path evaluates: for ReID the
    head's ``pred_feature`` (plain ViT: the LN CLS token, C = embed dims;
    ViT-lem: concat(LN CLS, LEM feature), 3 x embed dims, 2304 for ViT-B),
    L2-normalised as ``ReIDMetric`` does; for text ReID the image
    embedding (``pred_image_feature``, cosine-ranked by
    ``TextImageRetrievalMetric``); for attributes the pooled patch
    tokens the classifier reads; for pre-training the encoder's CLS token.

    Args:
        model: From :func:`init_model`.
        inputs: A folder, a path, an array, or a list of paths / (H, W, 3)
            uint8 BGR arrays (see :func:`list_images`).
        batch_size (int): Images per forward.
        progress (bool): A progress bar on stderr.

    Raises:
        FileNotFoundError / ValueError: a missing or undecodable image (its
            path in the message), an empty folder.
    """
    from mmengine.utils import ProgressBar
    items = list_images(inputs)
    bar = ProgressBar(len(items), file=sys.stderr) if progress and items \
        else None
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        out.append(_embed(model, pack_batch(model, chunk)).cpu())
        if bar is not None:
            for _ in chunk:
                bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    if not out:
        raise ValueError('no images to embed')
    return torch.cat(out)


@torch.no_grad()
def extract_text_features(model,
                          captions: Sequence[str],
                          batch_size: int = 64) -> torch.Tensor:
    """L2-normalised caption embeddings (N, C) float32 on the CPU of a text
    ReID model (``TextImageReID.embed_captions``: its
    ``pred_text_feature``), one row per caption, in order; with the image
    rows of :func:`extract_features` their dot products are the cosine
    similarities ``TextImageRetrievalMetric`` ranks by.

    Raises:
        ValueError: not a text ReID model, no captions, an empty caption.
    """
    if not hasattr(model, 'embed_captions'):
        raise ValueError(f'{type(model).__name__} has no text branch: not '
                         'a text ReID model')
    captions = [str(c) for c in captions]
    if not captions:
        raise ValueError('no captions to embed')
    if any(not c.strip() for c in captions):
        raise ValueError('empty caption')
    out = [
        F.normalize(model.embed_captions(captions[i:i + batch_size]).float(),
                    dim=1).cpu()
        for i in range(0, len(captions), batch_size)
    ]
    return torch.cat(out)


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()
