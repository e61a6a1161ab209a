"""tools/infer/attributes.py and hap_mm.apis.predict_attributes on a tiny
attribute model (CPU)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from hap_mm.apis import init_model, predict_attributes

CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))
NAMES = [f'attribute_{i:02d}' for i in range(26)]  # the fixture's meta

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


def _reference_scores(model, paths) -> np.ndarray:
    """The test loop's scores: the full test pipeline, ``test_step``."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    batch = pseudo_collate([pipeline(dict(img_path=str(p))) for p in paths])
    with torch.no_grad():
        out = model.test_step(batch)
    return torch.stack([s.pred_score for s in out]).numpy()


def test_attributes_tool_writes_json_and_chart(tiny_inference_model,
                                               script_main, tmp_path):
    config, checkpoint = tiny_inference_model('attribute')
    model = init_model(config, checkpoint)
    images = [str(c) for c in CROPS[:3]]
    reference = _reference_scores(model, images)
    probs, listed = predict_attributes(model, images, batch_size=2,
                                       progress=False)
    assert listed == images and probs.shape == (3, 26)
    np.testing.assert_allclose(probs, reference, atol=1e-6)

    threshold = float(np.median(reference[0]))
    out = tmp_path / 'out'
    report = script_main('tools/infer/attributes.py')(
        [config, checkpoint, *images, '--out', out, '--threshold',
         threshold, '--no-progress'])
    assert json.loads((out / 'attributes.json').read_text()) == report
    first = report['results'][0]
    assert first['attributes'] == [
        n for n, p in zip(NAMES, reference[0]) if p >= threshold]
    assert 0 < len(first['attributes']) < 26
    assert list(first['probabilities']) == NAMES
    np.testing.assert_allclose(
        list(first['probabilities'].values()), reference[0], atol=1e-6)

    picture = cv2.imread(str(out / first['picture']))
    crop = cv2.imread(images[0])
    width = round(crop.shape[1] * 256 / crop.shape[0])
    assert picture.shape[0] == max(256, 12 + 14 * 26)
    # each bar's first pixel: green when reported, grey when not
    x0 = width + 6 + 150
    for i, name in enumerate(NAMES):
        pixel = picture[6 + i * 14 + 7, x0 + 1].tolist()
        want = [0, 160, 0] if name in first['attributes'] else [170, 170,
                                                                 170]
        assert pixel == want, name

    # the config's evaluator threshold (0.5) by default
    report = script_main('tools/infer/attributes.py')(
        [config, checkpoint, images[0], '--out', tmp_path / 'o2',
         '--no-progress'])
    assert report['threshold'] == 0.5
    assert report['results'][0]['attributes'] == [
        n for n, p in zip(NAMES, reference[0]) if p >= 0.5]


def test_attributes_tool_bad_image_writes_nothing(tiny_inference_model,
                                                  script_main, tmp_path):
    config, checkpoint = tiny_inference_model('attribute')
    missing = tmp_path / 'missing.jpg'
    out = tmp_path / 'out'
    with pytest.raises(SystemExit, match=f'image {missing} not found'):
        script_main('tools/infer/attributes.py')(
            [config, checkpoint, CROPS[0], missing, '--out', out])
    reid_config, _ = tiny_inference_model('reid')
    with pytest.raises(SystemExit, match=f'{checkpoint} does not match'):
        script_main('tools/infer/attributes.py')(
            [reid_config, checkpoint, CROPS[0], '--out', out])
    assert not out.exists()
