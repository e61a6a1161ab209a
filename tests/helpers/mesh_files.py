"""Synthetic body-model files in the real formats, for the 3-D mesh tests.

The SMPL model files are licence-gated, so tests never read real ones. These
writers produce files with the real key names, dtypes and shapes (6,890
vertices, 24 joints, 13,776 faces, 10 shape components, 207 pose blend
shapes) and random values, so the loading code runs exactly as on the real
files. Tests reach them through the ``mesh_body_files`` fixture or
``conftest.load_test_helper('mesh_files')``.
"""
import os.path as osp
import pickle

import numpy as np
import scipy.sparse

NUM_VERTICES = 6890
NUM_JOINTS = 24
NUM_FACES = 13776
NUM_BETAS = 10
# The SMPL kinematic tree (parent of each of the 24 joints; -1 for the root).
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16,
                17, 18, 19, 20, 21)
GENDER_FILES = {
    'neutral': 'SMPL_NEUTRAL.pkl',
    'male': 'SMPL_MALE.pkl',
    'female': 'SMPL_FEMALE.pkl',
}


def _row_normalised(rng, rows, cols, nonzero_per_row):
    """A (rows, cols) sparse CSC matrix whose rows are convex weights."""
    mat = np.zeros((rows, cols), dtype=np.float64)
    for r in range(rows):
        idx = rng.choice(cols, nonzero_per_row, replace=False)
        w = rng.random(nonzero_per_row) + 0.1
        mat[r, idx] = w / w.sum()
    return mat


def smpl_model_dict(seed=0):
    """The content of an SMPL ``.pkl`` (as the SMPLify release ships it, with
    chumpy arrays replaced by NumPy ones, the form smplx reads).

    Returns:
        dict: ``v_template`` (6890, 3) metres, ``shapedirs`` (6890, 3, 10),
        ``posedirs`` (6890, 3, 207), ``J_regressor`` scipy CSC (24, 6890),
        ``weights`` (6890, 24), ``kintree_table`` (2, 24) uint32, ``f``
        (13776, 3) uint32, ``J`` (24, 3), ``bs_style``, ``bs_type``.
    """
    rng = np.random.default_rng(seed)
    v_template = rng.normal(0, 0.3, (NUM_VERTICES, 3))
    v_template[:, 1] *= 3  # a tall, person-sized point cloud
    j_reg = _row_normalised(rng, NUM_JOINTS, NUM_VERTICES, 8)
    weights = rng.random((NUM_VERTICES, NUM_JOINTS)) ** 4
    weights /= weights.sum(1, keepdims=True)
    kintree = np.zeros((2, NUM_JOINTS), dtype=np.uint32)
    kintree[0] = [4294967295 if p < 0 else p for p in SMPL_PARENTS]
    kintree[1] = np.arange(NUM_JOINTS)
    faces = rng.integers(0, NUM_VERTICES, (NUM_FACES, 3)).astype(np.uint32)
    return dict(
        v_template=v_template,
        shapedirs=rng.normal(0, 0.01, (NUM_VERTICES, 3, NUM_BETAS)),
        posedirs=rng.normal(0, 0.001, (NUM_VERTICES, 3, 207)),
        J_regressor=scipy.sparse.csc_matrix(j_reg),
        J_regressor_prior=scipy.sparse.csc_matrix(j_reg),
        weights=weights,
        weights_prior=weights,
        kintree_table=kintree,
        f=faces,
        J=j_reg @ v_template,
        vert_sym_idxs=np.arange(NUM_VERTICES),
        bs_style='lbs',
        bs_type='lrotmin',
    )


def write_smpl_models(model_dir, genders=('neutral', 'male', 'female')):
    """Write ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` into ``model_dir``.

    Each gender gets a different seed, so a test can tell them apart.

    Returns:
        dict: gender -> file path.
    """
    paths = {}
    for seed, gender in enumerate(genders):
        path = osp.join(model_dir, GENDER_FILES[gender])
        with open(path, 'wb') as f:
            pickle.dump(smpl_model_dict(seed), f, protocol=2)
        paths[gender] = path
    return paths


def write_joint_regressors(out_dir, seed=100):
    """Write ``J_regressor_extra.npy`` (9, 6890) and
    ``J_regressor_h36m_correct.npy`` (17, 6890), dense float64 arrays with
    convex rows, as the SPIN / I2L-MeshNet releases ship them.

    Returns:
        dict: ``extra`` and ``h36m`` -> file path.
    """
    rng = np.random.default_rng(seed)
    paths = dict(
        extra=osp.join(out_dir, 'J_regressor_extra.npy'),
        h36m=osp.join(out_dir, 'J_regressor_h36m_correct.npy'))
    np.save(paths['extra'], _row_normalised(rng, 9, NUM_VERTICES, 6))
    np.save(paths['h36m'], _row_normalised(rng, 17, NUM_VERTICES, 6))
    return paths


def vposer_state_dict(seed=200):
    """A VPoser v1.0 state dict (human_body_prior's ``VPoser(num_neurons=
    512, latentD=32, data_shape=[1, 21, 3])``, as ``TR00_E096.pt`` holds
    it): encoder ``bodyprior_enc_{bn1,fc1,bn2,fc2,mu,logvar}`` and decoder
    ``bodyprior_dec_{fc1,fc2,out}`` with the real shapes, random values.

    Returns:
        dict: key -> float32 tensor (int64 ``num_batches_tracked``).
    """
    import torch
    g = torch.Generator().manual_seed(seed)

    def linear(name, out_f, in_f):
        bound = in_f**-0.5
        return {
            f'{name}.weight': (torch.rand(out_f, in_f, generator=g) * 2 - 1)
            * bound,
            f'{name}.bias': (torch.rand(out_f, generator=g) * 2 - 1) * bound,
        }

    def bn(name, n):
        return {
            f'{name}.weight': torch.rand(n, generator=g) + 0.5,
            f'{name}.bias': torch.randn(n, generator=g) * 0.1,
            f'{name}.running_mean': torch.randn(n, generator=g) * 0.1,
            f'{name}.running_var': torch.rand(n, generator=g) + 0.5,
            f'{name}.num_batches_tracked': torch.tensor(1000),
        }

    state = {}
    state.update(bn('bodyprior_enc_bn1', 63))
    state.update(linear('bodyprior_enc_fc1', 512, 63))
    state.update(bn('bodyprior_enc_bn2', 512))
    state.update(linear('bodyprior_enc_fc2', 512, 512))
    state.update(linear('bodyprior_enc_mu', 32, 512))
    state.update(linear('bodyprior_enc_logvar', 32, 512))
    state.update(linear('bodyprior_dec_fc1', 512, 32))
    state.update(linear('bodyprior_dec_fc2', 512, 512))
    state.update(linear('bodyprior_dec_out', 126, 512))
    return state


def write_vposer_snapshot(out_dir, seed=200):
    """Write ``<out_dir>/vposer_v1_0/snapshots/TR00_E096.pt`` (the layout of
    the VPoser v1.0 download) holding :func:`vposer_state_dict`.

    Returns:
        str: the snapshot path.
    """
    import os

    import torch
    snap_dir = osp.join(out_dir, 'vposer_v1_0', 'snapshots')
    os.makedirs(snap_dir, exist_ok=True)
    path = osp.join(snap_dir, 'TR00_E096.pt')
    torch.save(vposer_state_dict(seed), path)
    return path
