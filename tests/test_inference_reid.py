"""hap_mm.apis on tiny ReID / pre-training models, the chunked top-k, and
tools/infer/reid_search.py end to end (CPU)."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

import hap_mm.apis
from hap_mm.apis import (
    cached_gallery_features,
    chunked_topk,
    extract_features,
    init_model,
)
from hap_mm.models.utils import CheckpointLoadError

REPO = Path(__file__).resolve().parents[1]
CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


def _market_gallery(root: Path) -> list:
    """8 crops named as Market-1501 gallery images: ids 1-4, two cameras
    (crop i has id i % 4 + 1); their paths, sorted."""
    root.mkdir(parents=True)
    files = []
    for i, crop in enumerate(CROPS):
        dst = root / f'{i % 4 + 1:04d}_c{i // 4 + 2}s1_{i:06d}_01.jpg'
        shutil.copy(crop, dst)
        files.append(dst)
    return sorted(files)


def _reference_features(model, paths) -> torch.Tensor:
    """What the test loop evaluates: the config's full test pipeline
    (LoadImageFromFile included), pseudo_collate, ``test_step``, then
    ReIDMetric's L2 normalisation."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    batch = pseudo_collate([pipeline(dict(img_path=str(p))) for p in paths])
    with torch.no_grad():
        out = model.test_step(batch)
    return F.normalize(torch.stack([s.pred_feature for s in out]), dim=1)


@pytest.mark.parametrize('kind,dims', [('reid', 32), ('reid-lem', 96)])
def test_extract_features_is_the_test_path_normalised(
        kind, dims, tiny_inference_model, tmp_path):
    config, checkpoint = tiny_inference_model(kind)
    model = init_model(config, checkpoint)
    files = _market_gallery(tmp_path / 'g')
    feats = extract_features(model, tmp_path / 'g', batch_size=3,
                             progress=False)
    assert feats.shape == (8, dims) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(8))
    torch.testing.assert_close(
        feats, _reference_features(model, files), atol=1e-5, rtol=1e-5)
    # deterministic; BGR arrays and paths give the same rows
    arrays = [cv2.imread(str(f)) for f in files[:3]]
    torch.testing.assert_close(
        extract_features(model, arrays, batch_size=2, progress=False),
        feats[:3], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(
        extract_features(model, [str(f) for f in files], progress=False),
        feats, atol=1e-6, rtol=1e-6)


def test_pretraining_config_embeds_with_the_encoder_cls_token():
    model = init_model(REPO / 'configs' / 'hap' / 'hap_demo.py')
    feats = extract_features(model, [str(c) for c in CROPS[:2]],
                             progress=False)
    assert feats.shape == (2, 192)
    # the reference: the final-norm CLS token of the resized crop
    imgs = [
        cv2.resize(cv2.imread(str(c)), (128, 256),
                   interpolation=cv2.INTER_CUBIC) for c in CROPS[:2]
    ]
    x = torch.from_numpy(np.stack(imgs)[..., ::-1].copy()).permute(
        0, 3, 1, 2).float()
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    backbone = model.backbone
    backbone.out_type = 'raw'
    with torch.no_grad():
        tokens = backbone((x - mean) / std)[-1]
    torch.testing.assert_close(
        feats, F.normalize(tokens[:, 0], dim=1), atol=1e-5, rtol=1e-5)


def test_checkpoint_that_does_not_match_names_file_and_keys(
        tiny_inference_model, tmp_path):
    plain_cfg, plain_ckpt = tiny_inference_model('reid')
    lem_cfg, _ = tiny_inference_model('reid-lem')
    with pytest.raises(CheckpointLoadError) as err:
        init_model(lem_cfg, plain_ckpt)
    assert str(plain_ckpt) in str(err.value)
    assert 'missing keys: ' in str(err.value)
    assert 'head.classifiers.1.weight' in str(err.value)  # LEM branch
    # same keys, another shape: more identities in the checkpoint
    state = torch.load(plain_ckpt, weights_only=True)['state_dict']
    state['head.classifiers.0.weight'] = torch.zeros(7, 32)
    state['head.classifiers.0.bias'] = torch.zeros(7)
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict=state, meta={}), other)
    with pytest.raises(CheckpointLoadError,
                       match=r'head\.classifiers\.0\.bias \(7,\)'):
        init_model(plain_cfg, other)


def test_missing_and_corrupt_images_are_named(tiny_inference_model,
                                              tmp_path):
    model = init_model(*tiny_inference_model('reid'))
    missing = tmp_path / 'nope.jpg'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        extract_features(model, [str(CROPS[0]), str(missing)],
                         progress=False)
    corrupt = tmp_path / 'half.jpg'
    corrupt.write_bytes(CROPS[0].read_bytes()[:500])
    with pytest.raises(ValueError, match=f'{corrupt}: truncated'):
        extract_features(model, [str(CROPS[0]), str(corrupt)],
                         progress=False)


@pytest.mark.parametrize('chunk', [1, 7, 64, 500])
@pytest.mark.parametrize('k', [1, 10, 103, 200])
def test_chunked_topk_equals_a_full_stable_sort(chunk, k):
    rng = np.random.RandomState(chunk + k)
    # multiples of 1/4: every dot product exact, so ties are ties
    gallery = rng.randint(-4, 5, (103, 16)).astype(np.float32) / 4
    gallery[3] = 2.0  # the best match of the last query ...
    gallery[50] = gallery[3]  # ... tied: the lower index ranks first
    gallery[90] = gallery[3]
    query = np.concatenate([rng.randint(-4, 5, (4, 16)) / 4,
                            gallery[3:4]]).astype(np.float32)
    idx, sims = chunked_topk(query, gallery, k, chunk_size=chunk)
    full = query @ gallery.T
    expected = np.argsort(-full, axis=1, kind='stable')[:, :min(k, 103)]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(full, expected, 1))
    assert list(idx[-1, :3]) == [3, 50, 90][:k]


def test_chunked_topk_refuses_an_empty_gallery():
    with pytest.raises(ValueError, match='gallery is empty'):
        chunked_topk(np.ones((1, 4)), np.zeros((0, 4)), 5)


def test_gallery_cache_is_rewritten_when_the_key_changes(tmp_path):
    cache = tmp_path / 'gallery_features.npz'
    calls = []

    def compute(files):
        calls.append(list(files))
        return np.full((len(files), 2), len(calls), np.float32)

    feats, cached = cached_gallery_features(cache, ['a', 'b'], 'k1', compute)
    assert not cached and feats[0, 0] == 1
    feats, cached = cached_gallery_features(cache, ['a', 'b'], 'k1', compute)
    assert cached and feats[0, 0] == 1 and len(calls) == 1
    feats, cached = cached_gallery_features(cache, ['a', 'b'], 'k2', compute)
    assert not cached and feats[0, 0] == 2
    cache.write_bytes(b'not a zip')
    feats, cached = cached_gallery_features(cache, ['a', 'b'], 'k2', compute)
    assert not cached and feats[0, 0] == 3


def _counting(monkeypatch):
    """Count the images hap_mm.apis.extract_features embeds."""
    seen = []
    real = hap_mm.apis.extract_features

    def counting(model, inputs, *args, **kwargs):
        feats = real(model, inputs, *args, **kwargs)
        seen.append(feats.shape[0])
        return feats

    monkeypatch.setattr(hap_mm.apis, 'extract_features', counting)
    return seen


def test_reid_search_ranks_draws_and_reuses_the_cache(
        tiny_inference_model, script_main, tmp_path, monkeypatch):
    config, checkpoint = tiny_inference_model('reid-lem')
    files = _market_gallery(tmp_path / 'gallery')
    query = tmp_path / 'q' / '0002_c1s1_009999_00.jpg'
    query.parent.mkdir()
    shutil.copy(files[2], query)  # an image of id 2
    out = tmp_path / 'out'
    args = [config, checkpoint, '--query', query.parent, '--gallery',
            tmp_path / 'gallery', '--topk', 5, '--out', out, '--chunk-size',
            3, '--no-progress']
    seen = _counting(monkeypatch)
    first = script_main('tools/infer/reid_search.py')(args)
    assert seen == [1, 8]
    assert not first['gallery_features_cached']
    ranked = [r['image'] for r in first['results'][0]['ranked']]
    assert len(ranked) == 5 and ranked[0] == str(files[2])
    sims = [r['similarity'] for r in first['results'][0]['ranked']]
    assert sims == sorted(sims, reverse=True)
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    assert json.loads((out / 'results.json').read_text()) == first

    picture = cv2.imread(str(out / 'ranked_0002_c1s1_009999_00.png'))
    assert picture is not None and picture.shape[1] > 6 * 64
    # rank 1 (the same person) has a green border, an other id a red one
    tile_w = 64 + 2 * 4
    rank1_left = tile_w + 6
    np.testing.assert_array_equal(picture[40, rank1_left + 1], [0, 170, 0])
    other = next(i for i, r in enumerate(ranked) if '0002_' not in
                 Path(r).name)
    left = tile_w + 6 + other * (tile_w + 2)
    np.testing.assert_array_equal(picture[40, left + 1], [0, 0, 220])

    seen.clear()
    second = script_main('tools/infer/reid_search.py')(args)
    assert seen == [1]  # the gallery came from gallery_features.npz
    assert second['gallery_features_cached']
    assert second['results'] == first['results']

    # a changed gallery file invalidates the cache
    files[5].write_bytes(files[6].read_bytes())
    seen.clear()
    third = script_main('tools/infer/reid_search.py')(args)
    assert seen == [1, 8] and not third['gallery_features_cached']


def test_reid_search_bad_input_writes_nothing(tiny_inference_model,
                                              script_main, tmp_path):
    config, checkpoint = tiny_inference_model('reid')
    search = script_main('tools/infer/reid_search.py')
    (tmp_path / 'empty').mkdir()
    out = tmp_path / 'out'
    with pytest.raises(SystemExit, match='empty has no images'):
        search([config, checkpoint, '--query', CROPS[0], '--gallery',
                tmp_path / 'empty', '--out', out, '--no-progress'])
    files = _market_gallery(tmp_path / 'gallery')
    files[4].write_bytes(b'')
    with pytest.raises(SystemExit, match=f'{files[4]}: empty file'):
        search([config, checkpoint, '--query', CROPS[0], '--gallery',
                tmp_path / 'gallery', '--out', out, '--no-progress'])
    lem_config, _ = tiny_inference_model('reid-lem')
    with pytest.raises(SystemExit, match=f'{checkpoint} does not match'):
        search([lem_config, checkpoint, '--query', CROPS[0], '--gallery',
                tmp_path / 'gallery', '--out', out, '--no-progress'])
    assert not out.exists()
