"""3-D mesh model: SMPL body model, VPoser decoder, HAPMeshEstimator.

Runs on synthetic SMPL / VPoser files in the real formats (see
``tests/helpers/mesh_files.py``); references are computed here with NumPy
from the files, independently of the code under test.
"""
import os.path as osp
import pickle
import sys

import numpy as np
import pytest
import torch

from hap_mm.models.mesh import SMPLBodyModel

# tests/ is imported by path (--import-mode=importlib), so it is not on
# sys.path: the ``mesh_body_files`` fixture imports ``helpers.mesh_files``.
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

FACE_VERTICES = (331, 2802, 6262, 3489, 3990)  # nose, eyes, ears (3DCrowdNet)


def _rodrigues(aa):
    """(3,) axis-angle -> (3, 3) rotation matrix (Rodrigues' formula)."""
    theta = np.linalg.norm(aa)
    if theta < 1e-12:
        return np.eye(3)
    k = aa / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def _numpy_smpl(data, pose, betas, trans):
    """SMPL (Loper et al. 2015) written out in NumPy from the model dict:
    shape and pose blend shapes, joint regression, forward kinematics over
    ``kintree_table``, linear blend skinning, translation."""
    v_shaped = data['v_template'] + data['shapedirs'][:, :, :10] @ betas
    J = np.asarray(data['J_regressor'].toarray()) @ v_shaped
    R = np.stack([_rodrigues(pose[3 * i:3 * i + 3]) for i in range(24)])
    pose_feat = (R[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + data['posedirs'] @ pose_feat
    parents = data['kintree_table'][0].astype(np.int64)
    G = np.zeros((24, 4, 4))
    for i in range(24):
        local = np.eye(4)
        local[:3, :3] = R[i]
        local[:3, 3] = J[i] - (J[parents[i]] if i else 0)
        G[i] = local if i == 0 else G[parents[i]] @ local
    G_rel = G.copy()
    G_rel[:, :3, 3] -= np.einsum('jab,jb->ja', G[:, :3, :3], J)
    T = np.einsum('vj,jab->vab', data['weights'], G_rel)
    v = np.einsum('vab,vb->va', T[:, :3, :3], v_posed) + T[:, :3, 3]
    return v + trans


def _load_pkl(path):
    with open(path, 'rb') as f:
        return pickle.load(f, encoding='latin1')


@pytest.fixture(scope='module')
def smpl_neutral(mesh_body_files):
    return SMPLBodyModel(mesh_body_files['model_dir'], 'neutral',
                         mesh_body_files['extra'])


def test_smpl_body_model_matches_numpy_smpl(smpl_neutral, mesh_body_files):
    data = _load_pkl(mesh_body_files['smpl']['neutral'])
    extra = np.load(mesh_body_files['extra'])
    rng = np.random.default_rng(3)
    pose = rng.normal(0, 0.3, (2, 72))
    betas = rng.normal(0, 1, (2, 10))
    trans = rng.normal(0, 1, (2, 3))
    verts, joints = smpl_neutral(
        torch.tensor(pose, dtype=torch.float32),
        torch.tensor(betas, dtype=torch.float32),
        torch.tensor(trans, dtype=torch.float32))
    assert verts.shape == (2, 6890, 3) and joints.shape == (2, 30, 3)
    assert torch.isfinite(verts).all() and torch.isfinite(joints).all()
    assert smpl_neutral.faces.shape == (13776, 3)
    assert smpl_neutral.faces.dtype == np.int64
    np.testing.assert_array_equal(smpl_neutral.faces, data['f'])
    reg = np.concatenate([
        data['J_regressor'].toarray(),
        np.eye(6890)[list(FACE_VERTICES)], extra[3:4]])
    for n in range(2):
        v_ref = _numpy_smpl(data, pose[n], betas[n], trans[n])
        np.testing.assert_allclose(verts[n].numpy(), v_ref, atol=1e-4)
        np.testing.assert_allclose(joints[n].numpy(), reg @ v_ref, atol=1e-4)
        # nose, eyes, ears are those vertices, exactly
        np.testing.assert_array_equal(joints[n, 24:29].numpy(),
                                      verts[n, list(FACE_VERTICES)].numpy())
    # no translation = zero translation; nothing trainable, nothing saved
    v0, _ = smpl_neutral(torch.zeros(1, 72), torch.zeros(1, 10))
    np.testing.assert_allclose(v0[0].numpy(), data['v_template'], atol=1e-5)
    assert not list(smpl_neutral.parameters())
    assert not smpl_neutral.state_dict()


def test_smpl_body_model_genders_differ(smpl_neutral, mesh_body_files):
    pose, shape = torch.zeros(1, 72), torch.zeros(1, 10)
    v_n, _ = smpl_neutral(pose, shape)
    for gender in ('male', 'female'):
        model = SMPLBodyModel(mesh_body_files['model_dir'], gender,
                              mesh_body_files['extra'])
        v_g, _ = model(pose, shape)
        ref = _load_pkl(mesh_body_files['smpl'][gender])['v_template']
        np.testing.assert_allclose(v_g[0].numpy(), ref, atol=1e-5)
        assert not torch.allclose(v_g, v_n)


def test_smpl_body_model_reads_npz(tmp_path, mesh_body_files):
    data = _load_pkl(mesh_body_files['smpl']['neutral'])
    data['J_regressor'] = data['J_regressor'].toarray()
    data['J_regressor_prior'] = data['J_regressor_prior'].toarray()
    np.savez(tmp_path / 'SMPL_NEUTRAL.npz', **data)
    model = SMPLBodyModel(str(tmp_path), 'neutral', mesh_body_files['extra'])
    np.testing.assert_allclose(
        model(torch.zeros(1, 72), torch.zeros(1, 10))[0][0].numpy(),
        data['v_template'], atol=1e-5)


def test_smpl_body_model_errors(tmp_path, mesh_body_files):
    extra = mesh_body_files['extra']
    with pytest.raises(FileNotFoundError,
                       match=r'SMPL_FEMALE\.pkl.*v_template'):
        SMPLBodyModel(str(tmp_path), 'female', extra)
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        SMPLBodyModel(mesh_body_files['model_dir'], 'neutral',
                      str(tmp_path / 'nope.npy'))
    # a key missing
    data = _load_pkl(mesh_body_files['smpl']['neutral'])
    del data['posedirs']
    path = tmp_path / 'SMPL_NEUTRAL.pkl'
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    with pytest.raises(ValueError, match=r"SMPL_NEUTRAL\.pkl.*'posedirs'"):
        SMPLBodyModel(str(tmp_path), 'neutral', extra)
    # a wrong shape (few vertices)
    data = _load_pkl(mesh_body_files['smpl']['neutral'])
    data['v_template'] = data['v_template'][:100]
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    with pytest.raises(ValueError, match=r"'v_template' has shape \(100, 3\)"):
        SMPLBodyModel(str(tmp_path), 'neutral', extra)
    # a chumpy pickle: the module is not installed
    path.write_bytes(
        b'\x80\x02cchumpy.ch\nCh\nq\x00)\x81q\x01.')
    with pytest.raises(ValueError, match='chumpy.*clean_ch'):
        SMPLBodyModel(str(tmp_path), 'neutral', extra)
    # a wrong regressor
    bad = tmp_path / 'J_regressor_extra.npy'
    np.save(bad, np.zeros((9, 10)))
    with pytest.raises(ValueError, match=r'\(9, 6890\)'):
        SMPLBodyModel(mesh_body_files['model_dir'], 'neutral', str(bad))
    assert osp.isfile(mesh_body_files['smpl']['neutral'])


# ---------------------------------------------------------------- VPoser
def _axis_angle_ref(rotmats):
    from scipy.spatial.transform import Rotation
    return Rotation.from_matrix(rotmats.reshape(-1, 3, 3)).as_rotvec()


def test_rotmat_to_axis_angle_matches_scipy():
    from scipy.spatial.transform import Rotation

    from hap_mm.models.mesh.rotations import rotmat_to_axis_angle
    rots = Rotation.random(200, random_state=0)
    aa = rots.as_rotvec()
    # include identity, tiny and exactly-180-degree rotations
    aa[:3] = [[0, 0, 0], [1e-8, 0, 0], [np.pi, 0, 0]]
    aa[3] = np.array([1, 1, 0]) / np.sqrt(2) * np.pi
    mats = Rotation.from_rotvec(aa).as_matrix()
    out = rotmat_to_axis_angle(torch.tensor(mats, dtype=torch.float64))
    back = Rotation.from_rotvec(out.numpy()).as_matrix()
    np.testing.assert_allclose(back, mats, atol=1e-6)
    np.testing.assert_allclose(out[4:].numpy(), aa[4:], atol=1e-6)
    assert np.all(np.linalg.norm(out.numpy(), axis=1) <= np.pi + 1e-6)
    # float32 near 180 degrees (where w is tiny) stays accurate
    axes = Rotation.random(50, random_state=1).as_rotvec()
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    near = axes * (np.pi - np.linspace(1e-5, 1e-2, 50))[:, None]
    mats = Rotation.from_rotvec(near).as_matrix()
    out = rotmat_to_axis_angle(torch.tensor(mats, dtype=torch.float32))
    back = Rotation.from_rotvec(out.double().numpy()).as_matrix()
    np.testing.assert_allclose(back, mats, atol=2e-6)
    # finite gradients at the identity and at 180 degrees
    for aa0 in ([0., 0., 0.], [np.pi, 0., 0.]):
        m = torch.tensor(Rotation.from_rotvec(aa0).as_matrix(),
                         dtype=torch.float32, requires_grad=True)
        rotmat_to_axis_angle(m).sum().backward()
        assert torch.isfinite(m.grad).all()


def test_vposer_decoder_matches_reference(tmp_path):
    from helpers.mesh_files import vposer_state_dict, write_vposer_snapshot

    from hap_mm.models.mesh.vposer_decoder import VPoserDecoder
    path = write_vposer_snapshot(str(tmp_path))
    dec = VPoserDecoder(path)
    sd = {k: v.double().numpy() for k, v in vposer_state_dict().items()}
    z = np.random.default_rng(0).normal(0, 1, (3, 32))

    def leaky(x):
        return np.where(x > 0, x, 0.2 * x)

    x = leaky(z @ sd['bodyprior_dec_fc1.weight'].T +
              sd['bodyprior_dec_fc1.bias'])
    x = leaky(x @ sd['bodyprior_dec_fc2.weight'].T +
              sd['bodyprior_dec_fc2.bias'])
    x = (x @ sd['bodyprior_dec_out.weight'].T +
         sd['bodyprior_dec_out.bias']).reshape(-1, 3, 2)
    # Gram-Schmidt on the two columns, third = cross product (columns)
    b1 = x[:, :, 0] / np.linalg.norm(x[:, :, 0], axis=1, keepdims=True)
    a2 = x[:, :, 1] - (b1 * x[:, :, 1]).sum(1, keepdims=True) * b1
    b2 = a2 / np.linalg.norm(a2, axis=1, keepdims=True)
    mats = np.stack([b1, b2, np.cross(b1, b2)], axis=-1)
    ref = _axis_angle_ref(mats).reshape(3, 21, 3)
    out = dec(torch.tensor(z, dtype=torch.float32))
    assert out.shape == (3, 69)
    np.testing.assert_allclose(out[:, :63].reshape(3, 21, 3).numpy(), ref,
                               atol=1e-4)
    assert (out[:, 63:] == 0).all()
    assert not list(dec.parameters()) and not dec.state_dict()


def test_vposer_decoder_errors(tmp_path):
    from helpers.mesh_files import vposer_state_dict

    from hap_mm.models.mesh.vposer_decoder import VPoserDecoder
    from hap_mm.models.utils.checkpoint import CheckpointLoadError
    with pytest.raises(FileNotFoundError, match='TR00_E096.pt.*vposer'):
        VPoserDecoder(str(tmp_path / 'snapshots' / 'TR00_E096.pt'))
    sd = vposer_state_dict()
    del sd['bodyprior_dec_fc2.bias']
    torch.save(sd, tmp_path / 'a.pt')
    with pytest.raises(CheckpointLoadError, match='bodyprior_dec_fc2.bias'):
        VPoserDecoder(str(tmp_path / 'a.pt'))
    sd = vposer_state_dict()
    sd['bodyprior_dec_out.weight'] = torch.zeros(138, 512)  # 23 joints
    torch.save(sd, tmp_path / 'b.pt')
    with pytest.raises(CheckpointLoadError, match=r'\(138, 512\)'):
        VPoserDecoder(str(tmp_path / 'b.pt'))
    # DataParallel-saved keys load
    torch.save({'module.' + k: v for k, v in vposer_state_dict().items()},
               tmp_path / 'c.pt')
    VPoserDecoder(str(tmp_path / 'c.pt'))


# ---------------------------------------------------------------- estimator
TINY_VIT = dict(
    type='mmpretrain.HAPViT',
    arch=dict(embed_dims=32, num_layers=3, num_heads=2,
              feedforward_channels=64),
    img_size=(256, 256),
    patch_size=16,
    patch_cfg=dict(padding=2),
    with_cls_token=False,
    pos_embed_type='learned',
    drop_path_rate=0.3,
    out_type='featmap')
GRAPH_IN_SMPL = (0, 1, 2, 4, 5, 7, 8, 12, 29, 16, 17, 18, 19, 20, 21)


@pytest.fixture(scope='module')
def mesh_cfg(mesh_body_files, tmp_path_factory):
    from helpers.mesh_files import write_vposer_snapshot
    vposer = write_vposer_snapshot(str(tmp_path_factory.mktemp('vposer')))
    return dict(
        type='HAPMeshEstimator',
        backbone=TINY_VIT,
        smpl_dir=mesh_body_files['model_dir'],
        extra_regressor=mesh_body_files['extra'],
        vposer_checkpoint=vposer,
        feat_channels=64)


def _build(cfg, **overrides):
    from mmpose.registry import MODELS

    import hap_mm  # noqa: F401  (registers mmpretrain.HAPViT)
    import hap_mm.models.mesh  # noqa: F401
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg, **overrides))
    model.init_weights()
    return model


def _batch(n=2, with_mesh=False):
    """Packed samples (MESH_CONTRACT section 3), hand-made."""
    from mmengine.structures import BaseDataElement
    from mmpose.structures import PoseDataSample
    g = torch.Generator().manual_seed(1)
    inputs, samples = [], []
    for i in range(n):
        inputs.append(torch.randint(0, 256, (3, 256, 256), generator=g,
                                    dtype=torch.uint8))
        mask = torch.ones(30, 1)
        mask[5] = 0
        gt = dict(
            joints=torch.rand(30, 2, generator=g) * 63,
            joints_mask=mask,
            orig_joint_img=torch.rand(30, 3, generator=g) * 63,
            fit_joint_img=torch.rand(30, 3, generator=g) * 63,
            orig_joint_cam=torch.randn(30, 3, generator=g) * 0.3,
            fit_joint_cam=torch.randn(30, 3, generator=g) * 0.3,
            pose_param=torch.randn(72, generator=g) * 0.2,
            shape_param=torch.randn(10, generator=g),
            orig_joint_valid=torch.ones(30, 1),
            orig_joint_trunc=torch.ones(30, 1),
            fit_param_valid=torch.ones(72),
            fit_joint_trunc=torch.ones(30, 1),
            is_valid_fit=torch.tensor(1.),
            is_3D=torch.tensor(float(i == 0)))
        if with_mesh:
            gt['smpl_mesh_cam'] = torch.randn(6890, 3, generator=g)
        ds = PoseDataSample(metainfo=dict(
            img_path=f'img{i}.jpg', id=i, input_size=(256, 256),
            bbox=np.array([0., 0., 100., 100.], np.float32)))
        ds.gt_mesh = BaseDataElement(**gt)
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


LOSS_NAMES = {
    'loss_body_joint_img', 'loss_smpl_joint_img', 'loss_smpl_pose',
    'loss_smpl_shape', 'loss_body_joint_proj', 'loss_body_joint_cam',
    'loss_smpl_joint_cam'
}


def _loss_and_grads(model):
    model.train()
    data = model.data_preprocessor(_batch(), training=True)
    losses = model(**data, mode='loss')
    sum(losses.values()).backward()
    return losses


def _grad_norm(module):
    grads = [p.grad.abs().sum() for p in module.parameters()
             if p.grad is not None]
    return float(sum(grads)) if grads else 0.0


def test_estimator_loss_backward(mesh_cfg):
    model = _build(mesh_cfg)
    losses = _loss_and_grads(model)
    assert set(losses) == LOSS_NAMES
    for name, value in losses.items():
        assert value.ndim == 0 and torch.isfinite(value), name
        assert value > 0, name
    for part in (model.backbone.patch_embed, model.backbone.layers[0],
                 model.backbone.layers[-1], model.backbone.ln1,
                 model.pose2feat, model.position_net,
                 model.rotation_net.graph, model.rotation_net.pose_out,
                 model.rotation_net.root_pose_out,
                 model.rotation_net.shape_out, model.rotation_net.cam_out,
                 model.feature_projection):
        assert _grad_norm(part) > 0, part
    assert model.backbone.pos_embed.grad.abs().sum() > 0
    # VPoser and SMPL: frozen, nothing to train, nothing in the checkpoint
    assert not list(model.vposer.parameters())
    assert not list(model.smpl.parameters())
    keys = model.state_dict().keys()
    assert not [k for k in keys if k.startswith(('vposer.', 'smpl.'))]
    assert 'feature_projection.weight' in keys


def test_estimator_frozen_projection_flag(mesh_cfg):
    model = _build(mesh_cfg, train_feature_projection=False)
    _loss_and_grads(model)
    assert not model.feature_projection.weight.requires_grad
    assert model.feature_projection.weight.grad is None
    assert _grad_norm(model.backbone.layers[0]) > 0
    assert _grad_norm(model.position_net) > 0


def test_estimator_init_follows_release(mesh_cfg):
    model = _build(mesh_cfg)
    for m in (model.pose2feat.conv[0], model.position_net.conv):
        assert abs(float(m.weight.detach().std()) - 0.001) < 0.0003
        assert (m.bias == 0).all()
    lin = model.rotation_net.pose_out
    assert abs(float(lin.weight.detach().std()) - 0.01) < 0.002
    bn = model.pose2feat.conv[1]
    assert (bn.weight == 1).all() and (bn.bias == 0).all()
    # the projection keeps PyTorch's default (kaiming-uniform, bound
    # 1/sqrt(fan_in)): far wider than N(0, 0.001)
    w = model.feature_projection.weight.detach()
    assert float(w.abs().max()) <= 32**-0.5 + 1e-6
    assert float(w.std()) > 0.05


def test_estimator_predict_contract(mesh_cfg):
    model = _build(mesh_cfg).eval()
    batch = _batch(with_mesh=True)
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        out = model(**data, mode='predict')
        raw = model(**data, mode='tensor')
    assert len(out) == 2
    for i, ds in enumerate(out):
        pred = ds.pred_instances
        assert pred.vertices.shape == (1, 6890, 3)
        assert pred.cam_trans.shape == (1, 3)
        assert pred.keypoints.shape == (1, 15, 2)
        assert pred.smpl_pose.shape == (1, 72)
        assert pred.smpl_shape.shape == (1, 10)
        assert torch.isfinite(pred.vertices).all()
        # PositionNet joints: 8 bins over the 256 px crop
        torch.testing.assert_close(pred.keypoints[0],
                                   raw['joint_img'][i, :, :2] * 32)
        torch.testing.assert_close(
            ds.gt_instances.vertices[0],
            batch['data_samples'][i].gt_mesh.smpl_mesh_cam)
        assert ds.img_path == f'img{i}.jpg'
    assert model.focal == (5000., 5000.) and model.princpt == (128., 128.)


def test_estimator_camera_and_projection(mesh_cfg, mesh_body_files):
    model = _build(mesh_cfg).eval()
    cam = torch.tensor([[0.1, -0.2, 0.3]])
    k = np.sqrt(5000 * 5000 * 2.5**2 / (256 * 256))
    np.testing.assert_allclose(
        model.camera_translation(cam)[0].numpy(),
        [0.1, -0.2, k / (1 + np.exp(-0.3))], rtol=1e-6)
    batch = _batch()
    data = model.data_preprocessor(batch, training=False)
    seen, fused, projected = [], [], []

    def keep_pose2feat(module, args, out):
        seen.extend(args)
        fused.append(out)

    hooks = [
        model.pose2feat.register_forward_hook(keep_pose2feat),
        model.feature_projection.register_forward_hook(
            lambda m, args, out: projected.append(args[0]))
    ]
    with torch.no_grad():
        raw = model(**data, mode='tensor')
        # early part: patch embedding + position + block 0 only
        vit = model.backbone
        tokens = vit.patch_embed(data['inputs'])[0] + vit.pos_embed
        early = vit.layers[0](tokens)
        torch.testing.assert_close(
            seen[0], early.transpose(1, 2).reshape(2, 32, 16, 16))
        # late part: the other blocks + last norm, every 2nd cell (8x8)
        x = fused[0].flatten(2).transpose(1, 2)
        for layer in vit.layers[1:]:
            x = layer(x)
        late = vit.ln1(x).transpose(1, 2).reshape(2, 32, 16, 16)
        torch.testing.assert_close(projected[0], late[:, :, ::2, ::2])
    for hook in hooks:
        hook.remove()
    seen = seen[1:]
    # Pose2Feat sees the 64x64 Gaussians (sigma 2.5) at every 4th pixel
    # (nearest resize to 16x16), the masked joint 5 blank
    yy, xx = np.mgrid[0:64:4, 0:64:4]
    for i in range(2):
        joints = batch['data_samples'][i].gt_mesh.joints.numpy()
        for j in (0, 5, 29):
            ref = np.exp(-((xx - joints[j, 0])**2 + (yy - joints[j, 1])**2) /
                         (2 * 2.5**2)) * (j != 5)
            np.testing.assert_allclose(seen[0][i, j].numpy(), ref,
                                       atol=1e-6)
    data_np = _load_pkl(mesh_body_files['smpl']['neutral'])
    reg = np.concatenate([
        data_np['J_regressor'].toarray(),
        np.eye(6890)[list(FACE_VERTICES)],
        np.load(mesh_body_files['extra'])[3:4]])
    for i in range(2):
        j = reg @ raw['mesh_cam_render'][i].double().numpy()
        x = j[:, 0] / (j[:, 2] + 1e-4) * 5000 + 128
        y = j[:, 1] / (j[:, 2] + 1e-4) * 5000 + 128
        np.testing.assert_allclose(
            raw['joint_proj'][i].numpy(), np.stack([x, y], 1) / 4,
            rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(raw['joint_cam'][i].numpy(), j - j[0],
                                   atol=1e-4)
        # the mesh is the SMPL of the predicted pose / shape / translation
        np.testing.assert_allclose(
            raw['mesh_cam_render'][i].numpy(),
            _numpy_smpl(data_np, raw['pose'][i].double().numpy(),
                        raw['shape'][i].double().numpy(),
                        raw['cam_trans'][i].double().numpy()),
            atol=1e-4)


# ---------------------------------------------------------------- parts
def test_mesh_losses_match_release_formulas():
    from hap_mm.models.mesh import mesh_losses
    rng = np.random.default_rng(5)
    B = 3

    def r(*shape, scale=1.0):
        return rng.normal(0, scale, shape)

    pred = dict(joint_img=r(B, 15, 3, scale=3), joint_proj=r(B, 30, 2) * 20,
                joint_cam=r(B, 30, 3), pose=r(B, 72), shape=r(B, 10))
    gt = dict(
        orig_joint_img=r(B, 30, 3) * 20, fit_joint_img=r(B, 30, 3) * 20,
        orig_joint_cam=r(B, 30, 3), fit_joint_cam=r(B, 30, 3),
        pose_param=r(B, 72), shape_param=r(B, 10),
        orig_joint_valid=rng.integers(0, 2, (B, 30, 1)).astype(float),
        orig_joint_trunc=rng.integers(0, 2, (B, 30, 1)).astype(float),
        fit_joint_trunc=rng.integers(0, 2, (B, 30, 1)).astype(float),
        fit_param_valid=rng.integers(0, 2, (B, 72)).astype(float),
        is_valid_fit=np.array([1., 0., 1.]), is_3D=np.array([1., 1., 0.]))
    out = mesh_losses({k: torch.tensor(v) for k, v in pred.items()},
                      {k: torch.tensor(v) for k, v in gt.items()})
    g = list(GRAPH_IN_SMPL)
    fit = gt['is_valid_fit']
    d = np.abs(pred['joint_img'] * 8 - gt['orig_joint_img'][:, g]) * \
        gt['orig_joint_trunc'][:, g]
    d[:, :, 2] *= gt['is_3D'][:, None]
    ref = dict(
        loss_body_joint_img=d.mean() / 8,
        loss_smpl_joint_img=(np.abs(pred['joint_img'] * 8 -
                                    gt['fit_joint_img'][:, g]) *
                             gt['fit_joint_trunc'][:, g] *
                             fit[:, None, None]).mean() / 8,
        loss_smpl_pose=(np.abs(pred['pose'] - gt['pose_param']) *
                        gt['fit_param_valid'] * fit[:, None]).mean(),
        loss_smpl_shape=(np.abs(pred['shape'] - gt['shape_param']) *
                         fit[:, None]).mean(),
        loss_body_joint_proj=(np.abs(pred['joint_proj'] -
                                     gt['orig_joint_img'][:, :, :2]) *
                              gt['orig_joint_trunc']).mean() / 8,
        loss_body_joint_cam=(np.abs(pred['joint_cam'] - gt['orig_joint_cam'])
                             * gt['orig_joint_valid'] *
                             gt['is_3D'][:, None, None]).mean(),
        loss_smpl_joint_cam=(np.abs(pred['joint_cam'] - gt['fit_joint_cam'])
                             * fit[:, None, None]).mean())
    assert set(out) == set(ref) == LOSS_NAMES
    for name in ref:
        np.testing.assert_allclose(out[name].item(), ref[name], rtol=1e-10,
                                   err_msg=name)


def test_gaussian_heatmaps_and_pose2feat_resize():
    from hap_mm.models.mesh.mesh_nets import gaussian_heatmaps
    joints = torch.tensor([[[10.0, 20.0], [33.5, 7.25]]])
    mask = torch.tensor([[[1.0], [0.0]]])
    hm = gaussian_heatmaps(joints, mask, (64, 64), 2.5)
    yy, xx = np.mgrid[0:64, 0:64]
    ref = np.exp(-((xx - 10)**2 + (yy - 20)**2) / (2 * 2.5**2))
    np.testing.assert_allclose(hm[0, 0].numpy(), ref, atol=1e-6)
    assert (hm[0, 1] == 0).all()


def test_position_net_soft_argmax_and_score():
    from hap_mm.models.mesh import PositionNet
    torch.manual_seed(0)
    net = PositionNet(in_channels=4, num_joints=2, depth=8)
    torch.nn.init.normal_(net.conv.weight, std=2.0)
    feat = torch.randn(1, 4, 8, 8)
    coords, scores = net(feat)
    logits = net.conv(feat).detach().double().numpy().reshape(2, 8, 8, 8)
    for j in range(2):  # channel j * 8 + z, then (y, x)
        p = np.exp(logits[j] - logits[j].max())
        p /= p.sum()
        zz, yy, xx = np.meshgrid(np.arange(8), np.arange(8), np.arange(8),
                                 indexing='ij')
        c = [(p * xx).sum(), (p * yy).sum(), (p * zz).sum()]
        np.testing.assert_allclose(coords[0, j].detach().numpy(), c,
                                   rtol=1e-5)
        # trilinear interpolation of p at (z, y, x) = c reversed
        x, y, z = c
        x0, y0, z0 = int(np.floor(x)), int(np.floor(y)), int(np.floor(z))
        s = 0.0
        for dz in (0, 1):
            for dy in (0, 1):
                for dx in (0, 1):
                    w = (1 - abs(x - x0 - dx)) * (1 - abs(y - y0 - dy)) * \
                        (1 - abs(z - z0 - dz))
                    s += w * p[min(z0 + dz, 7), min(y0 + dy, 7),
                               min(x0 + dx, 7)]
        np.testing.assert_allclose(scores[0, j, 0].item(), s, rtol=1e-5)


def test_graph_adjacency_normalised():
    from hap_mm.datasets.mesh.joint_sets import GRAPH_FLIP_PAIRS, GRAPH_SKELETON
    from hap_mm.models.mesh import graph_adjacency
    adj = graph_adjacency(15, GRAPH_SKELETON, GRAPH_FLIP_PAIRS)
    # neighbours of each joint (bones and left/right pairs), by hand
    neighbours = {0: {1, 2, 7}, 7: {0, 8, 9, 10}, 1: {0, 3, 2},
                  14: {12, 13}, 8: {7}}
    deg = {0: 4, 7: 5, 1: 4, 14: 3, 8: 2, 2: 4, 12: 4, 13: 3, 9: 4, 10: 4,
           3: 4}
    for i, nb in neighbours.items():
        for j in range(15):
            expected = 1 / np.sqrt(deg[i] * deg[j]) if (
                j in nb or j == i) else 0.0
            if j in deg or expected == 0:
                assert adj[i, j] == pytest.approx(expected), (i, j)
    np.testing.assert_allclose(adj, adj.T)


# ---------------------------------------------------------------- init
def _tiny_vit_state(img_size, seed, cls_slot):
    """``backbone.*`` tensors of a tiny HAPViT at ``img_size``; the position
    embedding gets a (non-zero) CLS slot in front when ``cls_slot``."""
    from hap_mm.models.backbones import HAPViT
    torch.manual_seed(seed)
    cfg = {k: v for k, v in TINY_VIT.items() if k != 'type'}
    cfg['img_size'] = img_size
    vit = HAPViT(**cfg)
    for p in vit.parameters():
        torch.nn.init.normal_(p)
    state = {'backbone.' + k: v.clone() for k, v in vit.state_dict().items()}
    if cls_slot:
        pos = state['backbone.pos_embed']
        state['backbone.pos_embed'] = torch.cat(
            [torch.randn(1, 1, pos.shape[-1]), pos], 1)
        state['backbone.cls_token'] = torch.randn(1, 1, pos.shape[-1])
    return state


def _bicubic(pos, src, dst):
    """Independent resize of a (1, H*W, C) grid embedding."""
    grid = pos.reshape(1, *src, -1).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(grid, size=dst, mode='bicubic',
                                          align_corners=False)
    return out.permute(0, 2, 3, 1).reshape(1, dst[0] * dst[1], -1)


def test_init_from_pose2d_checkpoint(mesh_cfg, tmp_path):
    state = _tiny_vit_state((256, 192), 7, cls_slot=False)
    # leftovers of a split multi-dataset model, and a head
    state['backbone.layers.0.ffn.layers.1.experts.0.weight'] = torch.zeros(
        8, 64)
    state['head.final_layer.weight'] = torch.zeros(17, 32, 1, 1)
    path = str(tmp_path / 'pose2d.pth')
    torch.save({'state_dict': state, 'meta': {}}, path)
    model = _build(mesh_cfg, init_checkpoint=path)
    assert state['backbone.pos_embed'].shape == (1, 192, 32)
    torch.testing.assert_close(
        model.backbone.pos_embed.data,
        _bicubic(state['backbone.pos_embed'], (16, 12), (16, 16)))
    for key in ('layers.1.attn.qkv.weight', 'layers.2.ffn.layers.1.weight',
                'ln1.weight', 'patch_embed.projection.weight'):
        torch.testing.assert_close(model.backbone.state_dict()[key],
                                   state['backbone.' + key])
    # an unsplit MoE model, and a checkpoint of another grid: clear errors
    from hap_mm.models.mesh import load_mesh_backbone
    from hap_mm.models.utils.checkpoint import CheckpointLoadError
    moe = dict(state)
    moe['backbone.layers.0.ffn.layers.1.shared.weight'] = moe.pop(
        'backbone.layers.0.ffn.layers.1.weight')
    torch.save({'state_dict': moe}, tmp_path / 'moe.pth')
    with pytest.raises(CheckpointLoadError, match='split_moe'):
        load_mesh_backbone(model.backbone, str(tmp_path / 'moe.pth'))
    with pytest.raises(CheckpointLoadError, match=r'\(16, 8\)'):
        load_mesh_backbone(model.backbone, path, 'hap')


def test_init_from_hap_checkpoint(mesh_cfg, tmp_path):
    state = _tiny_vit_state((256, 128), 8, cls_slot=True)
    state['backbone.mask_token'] = torch.zeros(1, 1, 32)
    path = str(tmp_path / 'hap.pth')
    torch.save({'state_dict': state}, path)
    model = _build(mesh_cfg, init_checkpoint=path, init_source='hap')
    pos = state['backbone.pos_embed']
    # ViTPose adds the CLS slot to every patch (HAP's is zero)
    torch.testing.assert_close(
        model.backbone.pos_embed.data,
        _bicubic(pos[:, 1:] + pos[:, :1], (16, 8), (16, 16)))
    torch.testing.assert_close(model.backbone.ln1.weight.data,
                               state['backbone.ln1.weight'])
