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
