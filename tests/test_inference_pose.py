"""tools/infer/pose.py end to end on a COCO fixture image (CPU): a tiny
hap_mm pose model (the real COCO config, a 2-layer 32-dim ViT) and a tiny
person detector (mmpose's RTMDet-nano person config at 128 px), both with
weights saved by the test; references from mmdet's and mmpose's own
inference functions."""
import json
from pathlib import Path

import cv2
import mmpose
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import DefaultScope

from hap_mm.models.utils.checkpoint import CHECKPOINT_SAFE_GLOBALS

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / 'tests' / 'data' / 'pose' / 'coco' / '000000000785.jpg'
POSE_CONFIG = REPO / 'configs' / 'downstream' / 'pose' / \
    'td-hm_hapvit-b_8xb64-210e_coco-256x192.py'
# the person detector of mmpose's demos, installed with mmpose
DET_CONFIG = Path(mmpose.__file__).parent / '.mim' / 'demo' / \
    'mmdetection_cfg' / 'rtmdet_nano_320-8xb32_coco-person.py'
DET_SIZE = 128
DET_SCORE = float(torch.sigmoid(torch.tensor(4.0)))  # 0.982

pytestmark = pytest.mark.usefixtures('keep_default_scope', 'one_torch_thread')


@pytest.fixture(scope='module')
def tiny_pose(tmp_path_factory) -> dict:
    """Config and checkpoint files of a tiny pose model and detector.

    Pose: the COCO 256x192 config with a 2-layer 32-dim HAPViT and 16-channel
    deconvolutions (its ``Pretrained`` init_cfg kept: the inferencer must
    not read it), saved as a training checkpoint is (``message_hub`` with a
    HistoryBuffer, no ``dataset_meta``: the config's COCO metainfo is used).
    Detector: RTMDet-nano (person) at 128x128, at most 2 boxes; every
    classification bias is 4 and every box-regression bias 1: each box
    scores sigmoid(4) (checked below) and spans one stride on each side of
    its point.
    """
    from mmdet.registry import MODELS as DET_MODELS
    from mmpose.registry import MODELS as POSE_MODELS
    folder = tmp_path_factory.mktemp('pose_infer')
    cfg = Config.fromfile(POSE_CONFIG)
    cfg.model.backbone.arch = dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    cfg.model.head.update(in_channels=32, deconv_out_channels=(16, 16))
    pose_config = folder / 'tiny_pose.py'
    cfg.dump(str(pose_config))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        pose = POSE_MODELS.build(cfg.model)
    pose_ckpt = folder / 'tiny_pose.pth'
    torch.save(dict(state_dict=pose.state_dict(), meta=dict(epoch=1),
                    message_hub=dict(log_scalars={
                        'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])})),
               pose_ckpt)

    det_cfg = Config.fromfile(DET_CONFIG)
    pipeline = det_cfg.test_dataloader.dataset.pipeline
    assert [s['type'] for s in pipeline[1:3]] == ['Resize', 'Pad']
    pipeline[1]['scale'] = pipeline[2]['size'] = (DET_SIZE, DET_SIZE)
    det_cfg.model.test_cfg.max_per_img = 2
    det_config = folder / 'tiny_det.py'
    det_cfg.dump(str(det_config))
    with DefaultScope.overwrite_default_scope('mmdet'):
        det = DET_MODELS.build(det_cfg.model)
    for conv in det.bbox_head.rtm_cls:
        torch.nn.init.constant_(conv.bias, 4.0)
    for conv in det.bbox_head.rtm_reg:
        torch.nn.init.constant_(conv.bias, 1.0)
    det_ckpt = folder / 'tiny_det.pth'
    torch.save(dict(state_dict=det.state_dict(),
                    meta=dict(dataset_meta=dict(classes=('person', )))),
               det_ckpt)
    return dict(config=pose_config, checkpoint=pose_ckpt,
                det_config=det_config, det_checkpoint=det_ckpt,
                pose_state=pose.state_dict())


def _args(m, out, *extra):
    return [m['config'], m['checkpoint'], IMAGE, '--det-config',
            m['det_config'], '--det-checkpoint', m['det_checkpoint'], '--out',
            out, '--no-progress', *extra]


def _reference(m, bboxes):
    """Keypoints (N, 17, 2) and scores (N, 17) of mmpose's
    ``inference_topdown`` (``bboxes`` None: the whole image)."""
    from mmpose.apis import inference_topdown
    from mmpose.apis import init_model as init_pose_model
    with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
        model = init_pose_model(str(m['config']), str(m['checkpoint']),
                                device='cpu')
    samples = inference_topdown(model, str(IMAGE), bboxes, 'xyxy')
    return (np.concatenate([s.pred_instances.keypoints for s in samples]),
            np.concatenate([s.pred_instances.keypoint_scores
                            for s in samples]))


def test_pose_cli_detects_persons_and_estimates_their_poses(
        tiny_pose, script_main, tmp_path):
    from mmdet.apis import inference_detector, init_detector
    out = tmp_path / 'out'
    report = script_main('tools/infer/pose.py')(_args(tiny_pose, out))
    assert json.loads((out / 'pose.json').read_text()) == report
    assert report['keypoint_names'][:3] == ['nose', 'left_eye', 'right_eye']
    assert len(report['keypoint_names']) == 17
    [result] = report['results']
    assert result['picture'] == 'pose_000000000785.png'
    instances = result['instances']

    # the boxes are the detector's (2, both above --bbox-thr 0.3, apart;
    # equal scores, so in either order)
    detector = init_detector(str(tiny_pose['det_config']),
                             str(tiny_pose['det_checkpoint']), device='cpu')
    dets = inference_detector(detector, str(IMAGE)).pred_instances
    assert len(dets) == 2
    np.testing.assert_allclose(dets.scores.numpy(), DET_SCORE, rtol=1e-5)
    boxes = np.array([i['bbox'] for i in instances])
    expected = dets.bboxes.numpy()
    np.testing.assert_allclose(boxes[np.lexsort(boxes.T[::-1])],
                               expected[np.lexsort(expected.T[::-1])],
                               atol=1e-3)
    # one stride of its level (8, 16 or 32 px at 128 px, x5 on the
    # 640-wide image) on each side of its point
    sizes = boxes[:, 2:] - boxes[:, :2]
    assert set(sizes.ravel().round(3)) <= {80, 160, 320}
    assert [i['bbox_score'] for i in instances] == pytest.approx(
        [DET_SCORE] * 2, rel=1e-5)

    # each box's pose is mmpose's top-down inference on that box with the
    # checkpoint's weights
    keypoints, scores = _reference(tiny_pose, boxes)
    got = np.array([i['keypoints'] for i in instances])
    assert got.shape == (2, 17, 2)
    np.testing.assert_allclose(got, keypoints, atol=1e-3)
    np.testing.assert_allclose(
        [i['keypoint_scores'] for i in instances], scores, atol=1e-5)
    assert not np.allclose(got[0], got[1])

    picture = cv2.imread(str(out / result['picture']))
    image = cv2.imread(str(IMAGE))
    assert picture.shape == image.shape
    # the boxes are drawn (green edges), the rest is the photo
    x1, y1, x2, y2 = boxes[0].round().astype(int)
    edge = picture[(y1 + y2) // 2, x1 - 1:x1 + 2].astype(int)
    assert (edge[:, 1] - edge[:, [0, 2]].max(1)).max() > 100
    assert np.abs(picture.astype(int) - image.astype(int)).mean() < 5


def test_pose_cli_without_a_box_estimates_the_whole_image(
        tiny_pose, script_main, tmp_path):
    # no box scores above 0.99: mmpose poses the whole image
    report = script_main('tools/infer/pose.py')(
        _args(tiny_pose, tmp_path / 'out', '--bbox-thr', 0.99))
    [instance] = report['results'][0]['instances']
    height, width = cv2.imread(str(IMAGE)).shape[:2]
    assert instance['bbox'] == [0, 0, width, height]
    assert instance['bbox_score'] == 1.0
    keypoints, _ = _reference(tiny_pose, None)
    np.testing.assert_allclose([instance['keypoints']], keypoints, atol=1e-3)


def test_pose_cli_bad_input_writes_nothing(tiny_pose, script_main,
                                           tmp_path):
    pose = script_main('tools/infer/pose.py')
    out = tmp_path / 'out'
    missing = tmp_path / 'nope.jpg'
    args = _args(tiny_pose, out)
    with pytest.raises(SystemExit, match=f'image {missing} not found'):
        pose(args[:3] + [missing] + args[3:])
    corrupt = tmp_path / 'half.jpg'
    corrupt.write_bytes(IMAGE.read_bytes()[:2000])
    with pytest.raises(SystemExit, match=f'{corrupt}: truncated'):
        pose(args[:3] + [corrupt] + args[3:])
    # a pose checkpoint with another head and without the last norm
    state = dict(tiny_pose['pose_state'])
    state['head.final_layer.weight'] = torch.zeros(14, 16, 1, 1)
    del state['backbone.ln1.weight']
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict=state), other)
    with pytest.raises(SystemExit, match=(
            f'{other} does not match the config: missing keys: '
            r'backbone\.ln1\.weight; shape mismatches: '
            r'head\.final_layer\.weight \(14, 16, 1, 1\)')):
        pose([args[0], other] + args[2:])
    # the detector's checkpoint where the pose one should be
    with pytest.raises(SystemExit, match='does not match the config'):
        pose([args[0], tiny_pose['det_checkpoint']] + args[2:])
    # a detector checkpoint without a classification layer
    state = torch.load(tiny_pose['det_checkpoint'],
                       weights_only=True)['state_dict']
    del state['bbox_head.rtm_cls.2.weight']
    det_other = tmp_path / 'det_other.pth'
    torch.save(dict(state_dict=state), det_other)
    det_at = args.index('--det-checkpoint') + 1
    with pytest.raises(SystemExit, match=(
            f'{det_other} does not match the config: missing keys: '
            r'bbox_head\.rtm_cls\.2\.weight$')):
        pose(args[:det_at] + [det_other] + args[det_at + 1:])
    assert not out.exists()


def test_detector_checkpoint_may_lack_batch_counters_and_have_extras(
        tiny_pose, script_main, tmp_path):
    state = torch.load(tiny_pose['det_checkpoint'],
                       weights_only=True)['state_dict']
    counters = [k for k in state if k.endswith('num_batches_tracked')]
    assert counters
    state = {k: v for k, v in state.items() if k not in counters}
    state['ema_extra'] = torch.zeros(1)
    det_ckpt = tmp_path / 'det_released.pth'
    torch.save(dict(state_dict=state), det_ckpt)
    m = dict(tiny_pose, det_checkpoint=det_ckpt)
    report = script_main('tools/infer/pose.py')(_args(m, tmp_path / 'out'))
    assert len(report['results'][0]['instances']) == 2
