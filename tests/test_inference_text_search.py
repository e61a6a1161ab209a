"""tools/infer/text_search.py end to end with a tiny text ReID model (the
real CUHK-PEDES config, a 1-layer 32-dim ViT, the tiny BERT), against a
brute-force ranking of the model's own test-path features (CPU)."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

import hap_mm.apis
from hap_mm.apis import init_model

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs' / 'downstream' / 'text_reid' / \
    'hapvit-b_bert-bilstm_1xb64-60e_cuhk-pedes-384x128.py'
CROPS = sorted((REPO / 'tests' / 'data' / 'reid').glob('*.jpg'))
CAPTIONS = ['A man wearing a red shirt and dark trousers.',
            'The person has a white top, he walks.']

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


@pytest.fixture(scope='module')
def tiny_text_model(tmp_path_factory, tiny_bert):
    """(config, checkpoint): the CUHK-PEDES config with a 1-layer 32-dim
    HAPViT, a 32-wide BiLSTM over the tiny BERT, 16-dim embeddings, saved
    randomly initialised as an mmengine checkpoint."""
    folder = tmp_path_factory.mktemp('text_search')
    cfg = Config.fromfile(CONFIG)
    cfg.model.update(num_classes=3, feat_dims=32, embed_dims=16)
    cfg.model.image_backbone.update(
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64), init_cfg=None)
    cfg.model.text_encoder.update(bert_path=str(tiny_bert), lstm_dims=32)
    config = folder / 'tiny_text.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    model = init_model(str(config))
    checkpoint = folder / 'tiny_text.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    return config, checkpoint


def _brute_force(config, checkpoint, gallery):
    """Cosine similarities (captions x gallery) of the model's test path:
    the config's full test pipeline (LoadImageFromFile included), then
    ``test_step``'s ``pred_text_feature`` / ``pred_image_feature``, each
    L2-normalised by hand."""
    model = init_model(str(config), str(checkpoint))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    # every image with a caption: the captions first, the rest filler
    captions = CAPTIONS + ['a person'] * (len(gallery) - len(CAPTIONS))
    batch = pseudo_collate([
        pipeline(dict(img_path=str(p), caption=c))
        for p, c in zip(gallery, captions)
    ])
    with torch.no_grad():
        out = model.test_step(batch)
    images = torch.stack([s.pred_image_feature for s in out])
    texts = torch.stack([s.pred_text_feature for s in out[:len(CAPTIONS)]])
    images = images / images.norm(dim=1, keepdim=True)
    texts = texts / texts.norm(dim=1, keepdim=True)
    return (texts @ images.T).numpy()


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


def test_text_search_ranks_like_brute_force_and_reuses_the_cache(
        tiny_text_model, script_main, tmp_path, monkeypatch):
    config, checkpoint = tiny_text_model
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    for crop in CROPS:
        shutil.copy(crop, gallery / crop.name)
    files = sorted(str(p) for p in gallery.glob('*.jpg'))
    out = tmp_path / 'out'
    args = [config, checkpoint, '--text', *CAPTIONS, '--gallery', gallery,
            '--topk', 5, '--out', out, '--chunk-size', 3, '--no-progress']
    seen = _counting(monkeypatch)
    first = script_main('tools/infer/text_search.py')(args)
    assert seen == [8] and not first['gallery_features_cached']
    assert json.loads((out / 'results.json').read_text()) == first

    sims = _brute_force(config, checkpoint, files)
    for row, result in zip(sims, first['results']):
        order = np.argsort(-row, kind='stable')[:5]
        assert [r['image'] for r in result['ranked']] == \
            [files[i] for i in order]
        np.testing.assert_allclose(
            [r['similarity'] for r in result['ranked']], row[order],
            atol=1e-5)
    assert [r['text'] for r in first['results']] == CAPTIONS
    # different captions rank differently (the text branch is used)
    assert not np.allclose(sims[0], sims[1])

    picture = cv2.imread(str(out / 'ranked_text_1.png'))
    assert picture is not None
    assert picture.shape[1] >= 5 * 64 and picture.shape[0] > 192

    seen.clear()
    second = script_main('tools/infer/text_search.py')(args)
    assert seen == []  # the gallery came from gallery_features.npz
    assert second['gallery_features_cached']
    assert second['results'] == first['results']


def test_text_features_are_normalised_caption_embeddings(tiny_text_model):
    model = init_model(*map(str, tiny_text_model))
    feats = hap_mm.apis.extract_text_features(model, CAPTIONS * 2,
                                              batch_size=3)
    assert feats.shape == (4, 16)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(4))
    with torch.no_grad():
        raw = model.embed_captions(CAPTIONS)
    torch.testing.assert_close(feats[:2], F.normalize(raw, dim=1))
    torch.testing.assert_close(feats[2:], feats[:2])


def test_text_search_bad_input_writes_nothing(tiny_text_model, script_main,
                                              tmp_path):
    config, checkpoint = tiny_text_model
    search = script_main('tools/infer/text_search.py')
    out = tmp_path / 'out'
    missing = tmp_path / 'nope'
    with pytest.raises(SystemExit, match=f'gallery folder {missing} not'):
        search([config, checkpoint, '--text', 'a man', '--gallery', missing,
                '--out', out])
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    shutil.copy(CROPS[0], gallery / 'a.jpg')
    with pytest.raises(SystemExit, match='empty caption'):
        search([config, checkpoint, '--text', 'a man', ' ', '--gallery',
                gallery, '--out', out])
    assert not out.exists()
