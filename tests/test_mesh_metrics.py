"""mesh_metrics against cases computed by hand, and MeshMetric against the
3DPW protocol of 3DCrowdNet's PW3D.evaluate written out per sample here."""
import math

import numpy as np
import pytest

from hap_mm.evaluation.functional import mesh_metrics


def _rot_z(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0],
                     [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])


def _rot_x(deg):
    a = math.radians(deg)
    return np.array([[1.0, 0, 0], [0, math.cos(a), -math.sin(a)],
                     [0, math.sin(a), math.cos(a)]])


# a chiral 5-point set (no mirror symmetry), millimetres
POINTS = np.array([[0, 0, 0], [100, 0, 0], [0, 200, 0], [0, 0, 300],
                   [50, 80, -40]], dtype=np.float64)


def test_identical_inputs_give_zero():
    joints = POINTS[None].repeat(3, 0)
    verts = np.random.default_rng(0).normal(0, 500, (3, 40, 3))
    for root in (None, 2):
        out = mesh_metrics(joints, joints.copy(), verts, verts.copy(),
                           root_index=root)
        assert set(out) == {'MPJPE', 'PA-MPJPE', 'MPVPE'}
        assert out['MPJPE'] == pytest.approx(0, abs=1e-9)
        assert out['PA-MPJPE'] == pytest.approx(0, abs=1e-6)
        assert out['MPVPE'] == pytest.approx(0, abs=1e-9)


def test_similarity_transform_is_removed_by_pa_only():
    # gt = 1.5 * Rz(30) Rx(20) p + (10, -20, 500): PA undoes it exactly
    rot = _rot_z(30) @ _rot_x(20)
    gt = 1.5 * POINTS @ rot.T + np.array([10, -20, 500])
    out = mesh_metrics(POINTS[None], gt[None])
    assert out['MPJPE'] > 100
    assert out['PA-MPJPE'] == pytest.approx(0, abs=1e-6)
    # PA-MPJPE never exceeds MPJPE (the identity is one candidate)
    noisy = gt + np.random.default_rng(1).normal(0, 5, gt.shape)
    out = mesh_metrics(POINTS[None], noisy[None])
    assert 0 < out['PA-MPJPE'] < out['MPJPE']


def test_per_joint_offsets_give_the_mean_offset_length():
    # offsets of lengths 3-4-5 -> 5, 0, 13 (5-12-13), 2 and 7 mm
    offsets = np.array([[3, 4, 0], [0, 0, 0], [5, 0, 12], [0, 2, 0],
                        [0, 0, -7]], dtype=np.float64)
    out = mesh_metrics(POINTS[None], (POINTS + offsets)[None])
    assert out['MPJPE'] == pytest.approx((5 + 0 + 13 + 2 + 7) / 5)
    assert 'MPVPE' not in out
    # two samples: the mean over both (sample 2 is off by 10 mm everywhere)
    two_p = np.stack([POINTS, POINTS])
    two_g = np.stack([POINTS + offsets, POINTS + [0, 10, 0]])
    assert mesh_metrics(two_p, two_g)['MPJPE'] == pytest.approx(
        (27 / 5 + 10) / 2)
    verts_g = np.zeros((2, 4, 3))
    verts_p = verts_g + np.array([[[6, 8, 0]], [[0, 0, 1]]])  # 10 and 1 mm
    out = mesh_metrics(two_p, two_g, verts_p, verts_g)
    assert out['MPVPE'] == pytest.approx(5.5)


def test_root_index_translates_joints_and_vertices_by_that_joint():
    # the prediction is the ground truth moved by (0, 0, 400) plus a 6 mm
    # error on joint 3; its vertices moved the same way
    rng = np.random.default_rng(2)
    gt_j = POINTS[None].copy()
    gt_v = rng.normal(0, 300, (1, 30, 3))
    shift = np.array([0, 0, 400.0])
    pred_j = gt_j + shift
    pred_j[0, 3] += [0, 6, 0]
    pred_v = gt_v + shift
    no_root = mesh_metrics(pred_j, gt_j, pred_v, gt_v)
    assert no_root['MPJPE'] == pytest.approx(
        (4 * 400 + np.linalg.norm([0, 6, 400])) / 5)
    assert no_root['MPVPE'] == pytest.approx(400)
    at_0 = mesh_metrics(pred_j, gt_j, pred_v, gt_v, root_index=0)
    assert at_0['MPJPE'] == pytest.approx(6 / 5)
    assert at_0['MPVPE'] == pytest.approx(0, abs=1e-9)
    # rooted at the joint that is off: every other joint (and every vertex)
    # is 6 mm off instead
    at_3 = mesh_metrics(pred_j, gt_j, pred_v, gt_v, root_index=3)
    assert at_3['MPJPE'] == pytest.approx(4 * 6 / 5)
    assert at_3['MPVPE'] == pytest.approx(6)
    # PA is translation-invariant, so the root does not change it
    assert at_0['PA-MPJPE'] == pytest.approx(no_root['PA-MPJPE'])


def test_pa_does_not_align_a_mirror_image():
    # a mirrored pose is a different pose: a reflection is no rotation
    mirrored = POINTS * np.array([-1, 1, 1])
    out = mesh_metrics(POINTS[None], mirrored[None])
    assert out['PA-MPJPE'] > 10


def test_pa_is_the_least_squares_similarity_fit():
    """Against a direct numerical minimisation over scale, rotation vector
    and translation (scipy), per sample, for noisy random poses."""
    from scipy.optimize import minimize
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    pred = rng.normal(0, 200, (3, 14, 3))
    gt = np.stack([
        0.8 * p @ Rotation.from_rotvec(rng.normal(0, 1, 3)).as_matrix().T +
        rng.normal(0, 100, 3) + rng.normal(0, 30, p.shape) for p in pred
    ])
    expected = []
    for p, g in zip(pred, gt):

        def sq_err(x):
            r = Rotation.from_rotvec(x[1:4]).as_matrix()
            return ((math.exp(x[0]) * p @ r.T + x[4:] - g)**2).sum()

        best = min((minimize(sq_err, np.r_[0, rng.normal(0, 2, 3), 0, 0, 0],
                             method='BFGS') for _ in range(6)),
                   key=lambda res: res.fun)
        x = best.x
        fit = math.exp(x[0]) * p @ Rotation.from_rotvec(
            x[1:4]).as_matrix().T + x[4:]
        expected.append(np.linalg.norm(fit - g, axis=-1).mean())
    out = mesh_metrics(pred, gt)
    assert out['PA-MPJPE'] == pytest.approx(np.mean(expected), rel=1e-4)


def test_a_collapsed_prediction_is_moved_to_the_ground_truth_centroid():
    pred = np.zeros((1, 5, 3))
    out = mesh_metrics(pred, POINTS[None])
    centroid = POINTS.mean(0)
    assert out['PA-MPJPE'] == pytest.approx(
        np.linalg.norm(POINTS - centroid, axis=-1).mean())


@pytest.mark.parametrize('kwargs, match', [
    (dict(pred_joints=np.zeros((2, 5)), gt_joints=np.zeros((2, 5))),
     r'pred_joints must have shape \(N, K, 3\)'),
    (dict(pred_joints=np.zeros((2, 5, 3)), gt_joints=np.zeros((2, 4, 3))),
     'differ in shape'),
    (dict(pred_joints=np.zeros((2, 5, 3)), gt_joints=np.zeros((2, 5, 3)),
          pred_verts=np.zeros((2, 9, 3))), 'both pred_verts and gt_verts'),
    (dict(pred_joints=np.zeros((2, 5, 3)), gt_joints=np.zeros((2, 5, 3)),
          pred_verts=np.zeros((2, 9, 3)), gt_verts=np.zeros((2, 8, 3))),
     'differ in shape'),
    (dict(pred_joints=np.zeros((2, 5, 3)), gt_joints=np.zeros((2, 5, 3)),
          pred_verts=np.zeros((3, 9, 3)), gt_verts=np.zeros((3, 9, 3))),
     '3 vertex sets for 2 joint sets'),
    (dict(pred_joints=np.zeros((2, 5, 3)), gt_joints=np.zeros((2, 5, 3)),
          root_index=5), 'root_index 5 is outside the 5 joints'),
])
def test_bad_shapes_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mesh_metrics(**kwargs)


# MeshMetric: the 3DPW protocol (3DCrowdNet's PW3D.evaluate), metres in

H36M_EVAL = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)  # 14 of 17


def _neutral_pelvis_row(model_dir):
    import pickle
    with open(f'{model_dir}/SMPL_NEUTRAL.pkl', 'rb') as f:
        return pickle.load(f, encoding='latin1')['J_regressor'].toarray()[0]


def _sample(pred, gt, name='x.jpg'):
    import torch
    return dict(img_path=name,
                pred_instances=dict(vertices=torch.tensor(pred[None])),
                gt_instances=dict(vertices=torch.tensor(gt[None])))


def _metric(files, **kw):
    from mmpose.registry import METRICS

    import hap_mm.evaluation.metrics.mesh_metric  # noqa: F401
    return METRICS.build(
        dict(type='MeshMetric', smpl_dir=files['model_dir'],
             h36m_regressor=files['h36m'], **kw))


def _gt_meshes(files, num, seed):
    import pickle
    with open(files['smpl']['male'], 'rb') as f:
        template = pickle.load(f, encoding='latin1')['v_template']
    rng = np.random.default_rng(seed)
    return np.stack([template + rng.normal(0, 0.02, template.shape) +
                     [rng.normal(0, 1), rng.normal(0, 1), 4 + rng.random()]
                     for _ in range(num)]).astype(np.float32)


def test_mesh_metric_follows_the_3dpw_protocol(mesh_body_files):
    files = mesh_body_files
    gt = _gt_meshes(files, 4, seed=0)
    rng = np.random.default_rng(1)
    pred = (gt + rng.normal(0, 0.03, gt.shape) +
            rng.normal(0, 0.5, (4, 1, 3))).astype(np.float32)
    # the reference, one sample at a time as PW3D.evaluate does (metres,
    # then x1000): H36M joints relative to the H36M pelvis, 14 of them; the
    # mesh relative to the neutral SMPL pelvis
    h36m = np.load(files['h36m'])
    pelvis = _neutral_pelvis_row(files['model_dir'])
    mpjpe, mpvpe = [], []
    for p, g in zip(pred.astype(np.float64), gt.astype(np.float64)):
        jp, jg = h36m @ p, h36m @ g
        jp, jg = (jp - jp[0])[list(H36M_EVAL)], (jg - jg[0])[list(H36M_EVAL)]
        mpjpe.append(np.sqrt(((jp - jg)**2).sum(1)).mean() * 1000)
        vp, vg = p - pelvis @ p, g - pelvis @ g
        mpvpe.append(np.sqrt(((vp - vg)**2).sum(1)).mean() * 1000)

    metric = _metric(files, prefix='pw3d_val')
    # two batches of different sizes: the mean is over samples
    metric.process({}, [_sample(pred[0], gt[0])])
    metric.process({}, [_sample(p, g) for p, g in zip(pred[1:], gt[1:])])
    out = metric.evaluate(4)
    assert set(out) == {'pw3d_val/MPJPE', 'pw3d_val/PA-MPJPE',
                        'pw3d_val/MPVPE'}
    assert out['pw3d_val/MPJPE'] == pytest.approx(np.mean(mpjpe), rel=1e-5)
    assert out['pw3d_val/MPVPE'] == pytest.approx(np.mean(mpvpe), rel=1e-5)
    assert 0 < out['pw3d_val/PA-MPJPE'] < out['pw3d_val/MPJPE']


def test_mesh_metric_pa_removes_a_similarity_transform_of_the_mesh(
        mesh_body_files):
    gt = _gt_meshes(mesh_body_files, 2, seed=2)
    rot = _rot_z(25) @ _rot_x(-40)
    pred = (0.9 * gt @ rot.T + [0.3, -0.1, 1.0]).astype(np.float32)
    metric = _metric(mesh_body_files)
    metric.process({}, [_sample(p, g) for p, g in zip(pred, gt)])
    out = metric.evaluate(2)
    assert out['mesh/MPJPE'] > 10
    assert out['mesh/MPVPE'] > 10
    assert out['mesh/PA-MPJPE'] == pytest.approx(0, abs=1e-2)
    # a pure translation is no error at all (each side at its own pelvis)
    metric.process({}, [_sample(g + [0.5, 0.2, -1.0], g) for g in gt])
    out = metric.evaluate(2)
    assert max(out.values()) == pytest.approx(0, abs=1e-2)


def test_mesh_metric_names_missing_or_bad_files(mesh_body_files, tmp_path):
    files = dict(mesh_body_files)
    with pytest.raises(FileNotFoundError,
                       match='J_regressor_h36m_correct.npy'):
        _metric(dict(files, h36m=str(tmp_path / 'J_regressor_h36m_correct.npy')))
    bad = tmp_path / 'bad.npy'
    np.save(bad, np.zeros((14, 6890)))
    with pytest.raises(ValueError, match=r'bad.npy: shape \(14, 6890\)'):
        _metric(dict(files, h36m=str(bad)))
    with pytest.raises(FileNotFoundError, match='SMPL_NEUTRAL.pkl'):
        _metric(dict(files, model_dir=str(tmp_path)))
    metric = _metric(files)
    gt = np.zeros((6890, 3), np.float32)
    sample = _sample(gt, gt, 'img_7.jpg')
    del sample['gt_instances']
    with pytest.raises(KeyError, match='img_7.jpg has no gt_instances'):
        metric.process({}, [sample])
