"""The README / docs snippets that put a HAP backbone into a host's stock
config (mmpose ViTPose-B, an mmseg UPerNet, an mmdet Faster R-CNN) work as
written: each is saved as the user's config, over the installed host's own
config file, and trained for two iterations through the documented command,
``python tools/train.py CONFIG``.

Only what the tests cannot afford is changed, in a second config that
inherits the user's: a 12-layer 32-dim ViT (channels of the necks and heads
to match), tiny images from ``tests/data``, batch 2, no validation. The
checkpoint the snippets read, ``checkpoints/hap_vit-b_backbone.pth``, is a
converted release-layout checkpoint of that ViT.
"""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
COCO = REPO / 'tests' / 'data' / 'pose' / 'coco'
HOSTS = ('mmpose', 'mmseg', 'mmdet')
TINY_ARCH = dict(
    embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64)


def _host_snippets() -> dict:
    """{snippet text: [doc names]} for every ```python block that edits a
    host config (it sets custom_imports or uses _delete_)."""
    found = {}
    for doc in DOCS:
        for block in re.findall(r'```python\n(.*?)```', doc.read_text(),
                                re.S):
            if 'custom_imports' in block or '_delete_' in block:
                found.setdefault(block, []).append(doc.name)
    return found


SNIPPETS = _host_snippets()


def _host(snippet: str) -> str:
    base = re.match(r"_base_ = \['(\w+)::([^']+)'\]", snippet)
    assert base, f'a host-config snippet must start with its stock base: ' \
                 f'{snippet[:80]!r}'
    return base.group(1)


def test_every_host_snippet_names_a_stock_config_and_all_hosts_are_covered():
    assert SNIPPETS
    hosts = [_host(s) for s in SNIPPETS]
    assert set(hosts) == set(HOSTS), hosts
    readme = [s for s, docs in SNIPPETS.items() if 'README.md' in docs]
    # the README's snippet is one of the tested downstream.md snippets
    assert readme and all('downstream.md' in SNIPPETS[s] for s in readme)
    for snippet in SNIPPETS:
        assert '_delete_=True' in snippet  # replaces the host's backbone


def _ade20k(root: Path) -> Path:
    """ADE20K layout with 4 COCO test images and label maps drawn on them."""
    rng = np.random.RandomState(0)
    for sub in ('images/training', 'annotations/training'):
        (root / sub).mkdir(parents=True)
    for img in sorted(COCO.glob('*.jpg'))[:4]:
        shutil.copy(img, root / 'images' / 'training' / img.name)
        w, h = Image.open(img).size
        label = np.zeros((h, w), np.uint8)
        for _ in range(4):  # a few rectangles of random classes
            y, x = rng.randint(0, h // 2), rng.randint(0, w // 2)
            label[y:y + h // 2, x:x + w // 2] = rng.randint(1, 151)
        Image.fromarray(label).save(root / 'annotations' / 'training' /
                                    (img.stem + '.png'))
    return root


def _tiny_config(host: str) -> str:
    """The test-only changes, as a config over the user's ``user.py``
    (data in ``coco/`` and ``ade/`` beside it)."""
    loader = ("batch_size=2, num_workers=0, persistent_workers=False, "
              "batch_sampler=None")
    common = ("_base_ = ['user.py']\n"
              "default_hooks = dict(logger=dict(interval=1))\n")
    arch = f'arch=dict(_delete_=True, **{TINY_ARCH!r})'
    if host == 'mmpose':
        return common + f'''
model = dict(backbone=dict({arch}),
             head=dict(in_channels=32, deconv_out_channels=(16, 16)))
train_dataloader = dict({loader}, dataset=dict(
    data_root='coco/', ann_file='test_coco.json', data_prefix=dict(img=''),
    indices=4))
train_cfg = dict(max_epochs=1)
'''
    if host == 'mmseg':
        return common + f'''
crop = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop),
    backbone=dict({arch}, img_size=crop),
    neck=dict(in_channels=[32, 32, 32, 32], out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=16),
    auxiliary_head=dict(in_channels=32, channels=16))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.8, 1.2),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict({loader}, dataset=dict(
    data_root='ade/', pipeline=train_pipeline, indices=4))
train_cfg = dict(max_iters=2)
'''
    assert host == 'mmdet'
    return common + f'''
model = dict(
    backbone=dict({arch}, img_size=(96, 128)),
    neck=dict(in_channels=32, out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict({loader}, dataset=dict(
    data_root='coco/', ann_file='test_coco.json', data_prefix=dict(img=''),
    pipeline=train_pipeline, indices=4))
train_cfg = dict(max_epochs=1)
'''


@pytest.fixture(scope='module')
def tiny_hap_checkpoint(release_checkpoint):
    """A converted release-layout checkpoint of the tiny ViT."""
    converted, _, _ = release_checkpoint(TINY_ARCH, seed=3)
    return converted


@pytest.mark.parametrize(
    'snippet', list(SNIPPETS),
    ids=[_host(s) for s in SNIPPETS])
def test_snippet_over_the_stock_config_trains_two_iterations(
        snippet, tiny_hap_checkpoint, tool, tmp_path):
    host = _host(snippet)
    # relative data paths: mmengine formats the config with yapf several
    # times per run, and long paths make that much slower
    if host == 'mmseg':
        _ade20k(tmp_path / 'ade')
    (tmp_path / 'coco').symlink_to(COCO)
    (tmp_path / 'checkpoints').mkdir()
    shutil.copy(tiny_hap_checkpoint,
                tmp_path / 'checkpoints' / 'hap_vit-b_backbone.pth')
    (tmp_path / 'user.py').write_text(snippet)
    (tmp_path / 'tiny.py').write_text(_tiny_config(host))
    proc = tool([REPO / 'tools' / 'train.py', 'tiny.py', '--no-validate'],
                cwd=tmp_path, env=dict(OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    work = tmp_path / 'work_dirs' / 'tiny'
    runs = list(work.glob('*/vis_data/scalars.json'))
    assert len(runs) == 1
    records = [json.loads(line) for line in runs[0].read_text().splitlines()]
    losses = [r for r in records if 'loss' in r]
    assert len(losses) == 2 and all(np.isfinite(r['loss']) for r in losses)
    assert (work / 'last_checkpoint').is_file()
