"""tools/deployment/export_onnx.py: the tiny ReID model and the HAP ViT
pre-training encoder, verified with onnxruntime (CPU)."""
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hap_mm.apis import extract_features, init_model

REPO = Path(__file__).resolve().parents[1]
CROPS = sorted((Path(__file__).parent / 'data' / 'reid').glob('*.jpg'))

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


def _rgb_batch(paths, hw):
    """Crops resized as the test pipelines do (bicubic), RGB, (B, 3, H, W)
    float32 in 0..255."""
    imgs = [cv2.resize(cv2.imread(str(p)), (hw[1], hw[0]),
                       interpolation=cv2.INTER_CUBIC) for p in paths]
    return np.ascontiguousarray(
        np.stack(imgs)[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32)


@pytest.mark.parametrize('kind', ['reid-lem', 'pretrain'])
def test_export_matches_pytorch_with_dynamic_batch(kind, tiny_inference_model,
                                                   script_main, tmp_path,
                                                   capsys):
    if kind == 'pretrain':
        config = REPO / 'configs' / 'hap' / 'hap_demo.py'
        torch.manual_seed(0)
        checkpoint = tmp_path / 'hap_demo.pth'
        torch.save(dict(state_dict=init_model(config).state_dict()),
                   checkpoint)
        dims = 192
    else:
        config, checkpoint = tiny_inference_model(kind)
        dims = 96
    out = tmp_path / 'model.onnx'
    report = script_main('tools/deployment/export_onnx.py')(
        [config, checkpoint, '--out', out, '--dynamic-batch'])
    assert sorted(report['max_abs_diff']) == [1, 3]
    assert max(report['max_abs_diff'].values()) <= 1e-4
    assert 'max abs difference onnxruntime vs PyTorch' in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(out)))

    # the graph on real crops is what extract_features gives
    session = ort.InferenceSession(str(out),
                                   providers=['CPUExecutionProvider'])
    model = init_model(config, checkpoint)
    for batch in (1, 3):
        paths = CROPS[:batch]
        got = session.run(['embedding'],
                          {'image': _rgb_batch(paths, (256, 128))})[0]
        assert got.shape == (batch, dims)
        want = extract_features(model, [str(p) for p in paths],
                                progress=False).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_export_above_tolerance_writes_nothing(tiny_inference_model,
                                               script_main, tmp_path):
    config, checkpoint = tiny_inference_model('reid')
    out = tmp_path / 'model.onnx'
    with pytest.raises(SystemExit, match='differs from PyTorch'):
        script_main('tools/deployment/export_onnx.py')(
            [config, checkpoint, '--out', out, '--tolerance', '1e-12'])
    assert list(tmp_path.iterdir()) == []
