"""Mesh readers on tiny files in the public layouts (tests/helpers/mesh_data.py).

Expected values are worked out by hand from the release's rules (box
processing, joint orders, filters), not produced by the code under test.
"""
import importlib.util
import logging
import os.path as osp
import random
from pathlib import Path

import numpy as np
import pytest
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from hap_mm.datasets.mesh import (
    MeshCOCODataset,
    MeshHuman36MDataset,
    MeshMPIIDataset,
    MeshMuCoDataset,
    MeshMultipleDatasets,
    MeshPW3DDataset,
)

TESTS = Path(__file__).parent
IMAGE = TESTS / 'data' / 'pose' / 'coco' / '000000000785.jpg'
# tests/ is imported by path (importlib mode), so load the helper by path.
_spec = importlib.util.spec_from_file_location(
    'mesh_data', TESTS / 'helpers' / 'mesh_data.py')
mesh_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mesh_data)
# process_bbox([100, 50, 80, 200]) in a 640x425 image: clipped w 79, h 199,
# centre (139.5, 149.5), side 199 * 1.25 = 248.75.
BOX_100_50 = [15.125, 25.125, 248.75, 248.75]


@pytest.fixture(scope='module')
def mesh_root(tmp_path_factory):
    return mesh_data.write_mesh_data(tmp_path_factory.mktemp('mesh'), IMAGE)


class _Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_messages():
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _by_id(dataset):
    return {dataset.get_data_info(i)['id']: dataset.get_data_info(i)
            for i in range(len(dataset))}


def _assert_smpl(param, gender):
    assert param['gender'] == gender
    np.testing.assert_allclose(param['pose'], mesh_data.POSE, rtol=1e-6)
    np.testing.assert_allclose(param['shape'], mesh_data.SHAPE, rtol=1e-6)
    np.testing.assert_allclose(param['trans'], mesh_data.TRANS, rtol=1e-6)
    assert param['pose'].dtype == np.float32


# ----------------------------------------------------------------- 3DPW
def test_pw3d_test_split_openpose_inputs(mesh_root, log_messages):
    ds = MeshPW3DDataset(data_root=str(mesh_root / 'PW3D'), split='test')
    infos = _by_id(ds)
    # 13 is malformed (17 OpenPose joints), 14 has an empty box.
    assert sorted(infos) == [11, 12]
    assert sum(ds.skip_counts.values()) == 1
    assert any('annotation 13' in m and '3DPW_latest_test.json' in m
               for m in log_messages)
    assert any('PW3D [test]: 2 instances' in m for m in log_messages)

    a = infos[11]
    assert osp.isfile(a['img_path'])
    assert a['img_path'].endswith(
        'PW3D/imageFiles/courtyard_basketball_00/image_00000.jpg')
    assert a['img_shape'] == (425, 640)
    # OpenPose order + pelvis = mean of the hips, conf 0.8 * 0.5.
    assert a['input_joints'].shape == (19, 3)
    np.testing.assert_allclose(a['input_joints'][18], [250, 250, 0.4],
                               rtol=1e-6)
    np.testing.assert_allclose(a['input_joints'][:18],
                               mesh_data.PW3D_OPENPOSE, rtol=1e-6)
    # conf > 0.05: R_Eye (0.05) and L_Eye (0.04) are not valid.
    expected_valid = np.ones(19)
    expected_valid[[14, 15]] = 0
    np.testing.assert_array_equal(a['input_joints_valid'][:, 0],
                                  expected_valid)
    # Box of the valid joints: x 200..300, y 100..300, x1.2 -> [190, 80,
    # 120, 240]; clipped w 119, h 239, centre (249.5, 199.5);
    # side 239 * 1.25 = 298.75.
    np.testing.assert_allclose(a['bbox'], [100.125, 50.125, 298.75, 298.75],
                               rtol=1e-6)
    np.testing.assert_allclose(a['tight_bbox'], mesh_data.PW3D_BBOX)
    assert a['joint_img'] is None and a['joint_cam'] is None
    assert a['is_3D'] and a['dataset_name'] == 'PW3D'
    _assert_smpl(a['smpl_param'], 'female')
    np.testing.assert_allclose(a['cam_param']['focal'], [1500, 1500])
    np.testing.assert_allclose(a['cam_param']['princpt'], [320, 212])

    # No OpenPose joint above the threshold: the processed GT box
    # [-20, 300, 100, 200] -> clipped (0, 300) w 99 h 124, centre
    # (49.5, 362), side 124 * 1.25 = 155.
    b = infos[12]
    np.testing.assert_allclose(b['bbox'], [-28, 284.5, 155, 155], rtol=1e-6)
    assert not b['input_joints_valid'].any()
    _assert_smpl(b['smpl_param'], 'male')


def test_pw3d_validation_and_train(mesh_root):
    val = _by_id(
        MeshPW3DDataset(data_root=str(mesh_root / 'PW3D'), split='validation'))
    # Validation follows the test protocol (OpenPose inputs, joint box).
    assert sorted(val) == [11, 12]
    np.testing.assert_allclose(val[11]['bbox'],
                               [100.125, 50.125, 298.75, 298.75], rtol=1e-6)
    train = _by_id(
        MeshPW3DDataset(data_root=str(mesh_root / 'PW3D'), split='train'))
    # No OpenPose inputs: 13 is fine, the box is the processed GT box.
    assert sorted(train) == [11, 12, 13]
    assert 'input_joints' not in train[11]
    np.testing.assert_allclose(train[11]['bbox'], BOX_100_50, rtol=1e-6)


def test_pw3d_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'PW3D/data/3DPW_latest_test\.json.*3DCrowdNet'):
        MeshPW3DDataset(data_root=str(tmp_path / 'PW3D'), split='test')


# ------------------------------------------------------------ Human3.6M
def _h36m_expected(frame):
    """Camera mm and pixels of the helper's world joints, written from the
    pinhole model: X_c = R X + t with R = [[0,-1,0],[1,0,0],[0,0,1]]."""
    j = np.arange(17, dtype=np.float64)
    cam = np.stack([5 * j + 100, 10 * j + frame + 200, 4000 + j], 1)
    img = np.stack([cam[:, 0] / cam[:, 2] * 1000 + 320,
                    cam[:, 1] / cam[:, 2] * 1100 + 212, cam[:, 2]], 1)
    return cam, img


def test_human36m_train_subjects_and_every_5th_frame(mesh_root):
    ds = MeshHuman36MDataset(data_root=str(mesh_root / 'Human36M'))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # S1, 5, 6, 7, 8 x frames {0, 5, 10} (of 0, 3, 5, 10, 64) x 2 cameras.
    assert len(infos) == 30
    assert sorted({i['subject'] for i in infos}) == [1, 5, 6, 7, 8]
    assert sorted({i['frame_idx'] for i in infos}) == [0, 5, 10]
    assert sorted({i['cam_idx'] for i in infos}) == [1, 4]

    a = next(i for i in infos if i['subject'] == 5 and i['frame_idx'] == 5
             and i['cam_idx'] == 1)
    assert osp.isfile(a['img_path'])
    assert a['joints_name'][0] == 'Pelvis' and a['joints_name'][10] == \
        'Head_top'
    cam, img = _h36m_expected(5)
    np.testing.assert_allclose(a['joint_cam'], cam, rtol=1e-5)
    np.testing.assert_allclose(a['joint_img'], img, rtol=1e-5)
    assert a['joint_cam'].dtype == np.float32
    np.testing.assert_array_equal(a['joint_valid'], np.ones((17, 1)))
    np.testing.assert_allclose(a['cam_param']['t'], [100, 200, 3000])
    np.testing.assert_allclose(a['cam_param']['R'], mesh_data.H36M_R)
    np.testing.assert_allclose(a['cam_param']['focal'], [1000, 1100])
    np.testing.assert_allclose(a['bbox'], BOX_100_50, rtol=1e-6)
    _assert_smpl(a['smpl_param'], 'neutral')
    assert a['near_joints'].shape == (0, 17, 3) and a['num_overlap'] == 0
    # Frame 10 has no SMPL fit: kept without one.
    b = next(i for i in infos if i['frame_idx'] == 10)
    assert b['smpl_param'] is None


def test_human36m_test_split(mesh_root):
    ds = MeshHuman36MDataset(data_root=str(mesh_root / 'Human36M'),
                             split='test')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # S9, 11 x frames {0, 64} x camera 4 only.
    assert sorted((i['subject'], i['frame_idx'], i['cam_idx'])
                  for i in infos) == [(9, 0, 4), (9, 64, 4), (11, 0, 4),
                                      (11, 64, 4)]


def test_human36m_missing_subject_file(mesh_root, tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'Human36M_subject1_data\.json.*Human3\.6M'):
        MeshHuman36MDataset(data_root=str(tmp_path))


# ----------------------------------------------------------------- MuCo
def test_muco_closest_person_and_near_joints(mesh_root):
    ds = MeshMuCoDataset(data_root=str(mesh_root / 'MuCo'))
    infos = _by_id(ds)
    # Image 1: person 32 (depth 3000) is the closest; image 2: person 41.
    assert sorted(infos) == [32, 41]
    a = infos[32]
    assert osp.isfile(a['img_path'])
    j = np.arange(21, dtype=np.float64)
    np.testing.assert_allclose(
        a['joint_img'], np.stack([100 + j, 100 + 2 * j, 3000 + j], 1))
    np.testing.assert_allclose(a['joint_cam'],
                               np.stack([j, 2 * j, 3000 + j], 1))
    np.testing.assert_allclose(a['bbox'], BOX_100_50, rtol=1e-6)
    # Only person 31 overlaps with IoU >= 0.1 (0.164; 34 has 0.053). Its
    # MuCo joint m sits at (150 + m, 100 + 2 m); COCO order, face rows 0.
    assert a['num_overlap'] == 1 and a['near_joints'].shape == (1, 17, 3)
    near = a['near_joints'][0]
    np.testing.assert_allclose(near[:5], 0)
    np.testing.assert_allclose(near[5], [155, 110, 1])   # L_Shoulder = m 5
    np.testing.assert_allclose(near[6], [152, 104, 1])   # R_Shoulder = m 2
    np.testing.assert_allclose(near[11], [161, 122, 1])  # L_Hip = m 11
    np.testing.assert_allclose(near[16], [160, 120, 1])  # R_Ankle = m 10
    _assert_smpl(a['smpl_param'], 'neutral')
    np.testing.assert_allclose(a['cam_param']['focal'], [1500, 1500])
    assert infos[41]['smpl_param'] is None
    assert infos[41]['num_overlap'] == 0


# -------------------------------------------------------- COCO and MPII
def test_coco_neuralannot(mesh_root, log_messages):
    ds = MeshCOCODataset(data_root=str(mesh_root / 'MSCOCO'))
    infos = _by_id(ds)
    # 102 is a crowd, 103 has no keypoints, 105 is malformed (50 values).
    assert sorted(infos) == [101, 104]
    assert sum(ds.skip_counts.values()) == 1
    assert any('annotation 105' in m and 'person_keypoints_train2017' in m
               for m in log_messages)
    a = infos[101]
    assert osp.isfile(a['img_path'])
    assert a['joints_name'][17] == 'Pelvis'
    k = np.arange(17, dtype=np.float64)
    np.testing.assert_allclose(a['joint_img'][:17, 0], 100 + 3 * k)
    np.testing.assert_allclose(a['joint_img'][:17, 1], 60 + 10 * k)
    # Pelvis = mean of the hips (11: (133, 170), 12: (136, 180)); z = 0.
    np.testing.assert_allclose(a['joint_img'][17], [134.5, 175, 0])
    np.testing.assert_allclose(a['joint_img'][:, 2], 0)
    # Visibility > 0 is valid: the unlabelled left hip and the pelvis
    # that needs it are not; the occluded nose (v 1) is.
    expected_valid = np.ones(18)
    expected_valid[[11, 17]] = 0
    np.testing.assert_array_equal(a['joint_valid'][:, 0], expected_valid)
    assert a['joint_cam'] is None and not a['is_3D']
    _assert_smpl(a['smpl_param'], 'neutral')
    np.testing.assert_allclose(a['cam_param']['focal'], [5000, 5000])
    np.testing.assert_allclose(a['cam_param']['princpt'], [320, 212.5])
    np.testing.assert_allclose(a['bbox'], BOX_100_50, rtol=1e-6)
    # 104 overlaps 101 (IoU 0.164): each is the other's near person.
    assert a['num_overlap'] == 1
    np.testing.assert_allclose(a['near_joints'][0][:, 0], 150 + 3 * k)
    np.testing.assert_allclose(a['near_joints'][0][:, 2], 1)
    b = infos[104]
    assert b['smpl_param'] is None and b['cam_param'] is None
    np.testing.assert_allclose(b['near_joints'][0][:, 2],
                               expected_valid[:17])
    # [150, 100, 80, 200]: clipped w 79 h 199, centre (189.5, 199.5).
    np.testing.assert_allclose(b['bbox'], [65.125, 75.125, 248.75, 248.75],
                               rtol=1e-6)


def test_mpii_neuralannot(mesh_root):
    ds = MeshMPIIDataset(data_root=str(mesh_root / 'MPII'))
    infos = _by_id(ds)
    assert sorted(infos) == [201, 202]
    a = infos[201]
    assert osp.isfile(a['img_path'])
    assert a['img_path'].endswith('MPII/data/images/015601864.jpg')
    k = np.arange(16, dtype=np.float64)
    np.testing.assert_allclose(a['joint_img'],
                               np.stack([100 + 4 * k, 70 + 9 * k, 0 * k], 1))
    expected_valid = np.ones(16)
    expected_valid[9] = 0  # head top unlabelled
    np.testing.assert_array_equal(a['joint_valid'][:, 0], expected_valid)
    assert a['smpl_param'] is None
    _assert_smpl(infos[202]['smpl_param'], 'neutral')
    # Person 202's MPII joint m at (150 + 4 m, 70 + 9 m) in COCO order.
    near = a['near_joints'][0]
    assert a['num_overlap'] == 1
    np.testing.assert_allclose(near[:5], 0)                # no face joints
    np.testing.assert_allclose(near[5], [202, 187, 1])     # L_Shoulder = 13
    np.testing.assert_allclose(near[6], [198, 178, 1])     # R_Shoulder = 12
    np.testing.assert_allclose(near[15], [170, 115, 1])    # L_Ankle = 5
    np.testing.assert_allclose(near[16], [150, 70, 1])     # R_Ankle = 0


# ----------------------------------------------------------------- mixing
class _Numbers(BaseDataset):

    def __init__(self, n, **kwargs):
        self.n = n
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(value=i) for i in range(self.n)]


def test_multiple_datasets_index_map():
    ds = MeshMultipleDatasets([_Numbers(3), _Numbers(7)])
    assert len(ds) == 14  # 2 members x max length 7
    # Member 0 cycles 0, 1, 2 over its 2 full rounds (6 indices) ...
    assert [ds.locate(i) for i in range(6)] == [(0, 0), (0, 1), (0, 2),
                                                (0, 0), (0, 1), (0, 2)]
    # ... and draws at random in the last, incomplete one.
    random.seed(0)
    draws = {ds.locate(6) for _ in range(60)}
    assert draws == {(0, 0), (0, 1), (0, 2)}
    assert [ds.locate(i) for i in range(7, 14)] == [(1, i) for i in range(7)]
    assert ds[9]['value'] == 2
    with pytest.raises(IndexError):
        ds.locate(14)

    flat = MeshMultipleDatasets([_Numbers(3), _Numbers(7)],
                                make_same_len=False)
    assert len(flat) == 10
    assert flat.locate(2) == (0, 2) and flat.locate(3) == (1, 0)


def test_multiple_datasets_lazy_init():
    members = [_Numbers(2, lazy_init=True), _Numbers(5, lazy_init=True)]
    ds = MeshMultipleDatasets(members, lazy_init=True)
    assert not any(m._fully_initialized for m in members)
    assert len(ds) == 10
    assert all(m._fully_initialized for m in members)


def test_release_mixing_from_config(mesh_root):
    from mmpose.registry import DATASETS
    cfg = dict(
        type='MeshMultipleDatasets',
        datasets=[
            [dict(type='MeshHuman36MDataset',
                  data_root=str(mesh_root / 'Human36M')),
             dict(type='MeshMuCoDataset', data_root=str(mesh_root / 'MuCo'))],
            [dict(type='MeshCOCODataset',
                  data_root=str(mesh_root / 'MSCOCO')),
             dict(type='MeshMPIIDataset', data_root=str(mesh_root / 'MPII'))],
        ])
    ds = DATASETS.build(cfg)
    # 3-D pool 30 + 2 = 32, 2-D pool 2 + 2 = 4, balanced: 2 x 32.
    assert len(ds) == 64
    assert ds.get_data_info(31)['id'] == 41              # last MuCo sample
    # The 2-D pool cycles [coco 101, coco 104, mpii 201, mpii 202].
    assert [ds.get_data_info(32 + k)['id'] for k in range(6)] == \
        [101, 104, 201, 202, 101, 104]
    assert ds.get_data_info(63)['dataset_name'] == 'MPII'


def test_bad_files_are_named(mesh_root, tmp_path):
    root = tmp_path / 'MuCo'
    (root / 'data').mkdir(parents=True)
    (root / 'data' / 'smpl_param.json').write_text('{}')
    (root / 'data' / 'MuCo-3DHP.json').write_text('[]')  # not COCO format
    with pytest.raises(ValueError, match=r'MuCo-3DHP\.json must be a COCO'):
        MeshMuCoDataset(data_root=str(root))
    (root / 'data' / 'MuCo-3DHP.json').write_text('{"images": [')
    with pytest.raises(ValueError, match=r'MuCo-3DHP\.json is not valid JSON'):
        MeshMuCoDataset(data_root=str(root))
    # The NeuralAnnot file is named with its release.
    with pytest.raises(FileNotFoundError,
                       match=r'annotations/nofit\.json.*NeuralAnnot'):
        MeshCOCODataset(data_root=str(mesh_root / 'MSCOCO'),
                        smpl_file='annotations/nofit.json')
