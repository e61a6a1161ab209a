"""SMPL through ``smplx``, read from the model files the user supplies."""
import os.path as osp
import pickle
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from ...datasets.mesh.joint_sets import HEAD_TOP_EXTRA_ROW, SMPL_FACE_VERTICES

NUM_VERTICES = 6890
GENDERS = ('neutral', 'male', 'female')
DEFAULT_SMPL_DIR = 'data/mesh/body_models/smpl'
DEFAULT_EXTRA_REGRESSOR = 'data/mesh/body_models/J_regressor_extra.npy'
# Key -> expected shape of an SMPL model file (None: any size there).
SMPL_KEYS = {
    'v_template': (NUM_VERTICES, 3),
    'shapedirs': (NUM_VERTICES, 3, None),
    'posedirs': (NUM_VERTICES, 3, 207),
    'J_regressor': (24, NUM_VERTICES),
    'weights': (NUM_VERTICES, 24),
    'kintree_table': (2, 24),
    'f': (13776, 3),
}
_GET_SMPL = ('download SMPL (version 1.0.0 for Python, 10 shape PCs, or '
             'SMPLify\'s neutral model) from https://smpl.is.tue.mpg.de and '
             'https://smplify.is.tue.mpg.de (licence required)')


def _fits(shape, expected) -> bool:
    return len(shape) == len(expected) and all(
        e is None or s == e for s, e in zip(shape, expected))


def smpl_model_path(model_dir: str, gender: str) -> str:
    """The SMPL file of ``gender`` in ``model_dir``:
    ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``, or the ``.npz`` of the same name
    when there is no ``.pkl``.

    Raises:
        FileNotFoundError: neither exists (names both, and where to get it).
    """
    if gender not in GENDERS:
        raise ValueError(f'gender must be one of {GENDERS}, got {gender!r}')
    stem = osp.join(model_dir, f'SMPL_{gender.upper()}')
    for ext in ('.pkl', '.npz'):
        if osp.isfile(stem + ext):
            return stem + ext
    raise FileNotFoundError(
        f'SMPL {gender} model not found: expected {stem}.pkl (or {stem}.npz) '
        f'with keys {sorted(SMPL_KEYS)}; {_GET_SMPL}, rename the file to '
        f'SMPL_{gender.upper()}.pkl and put it in {model_dir}')


def _is_chumpy_pickle(path: str) -> bool:
    """Whether a pickle refers to the ``chumpy`` package."""
    with open(path, 'rb') as f:
        return b'chumpy' in f.read()


def load_smpl_data(path: str) -> Dict[str, object]:
    """The arrays of an SMPL ``.pkl`` / ``.npz``, checked.

    Returns:
        dict: at least the keys of :data:`SMPL_KEYS` with those shapes
        (``J_regressor`` may be a scipy sparse matrix).

    Raises:
        ValueError: unreadable file (a chumpy pickle included), a missing key
            or a wrong shape, naming the file and the key.
    """
    try:
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=True) as npz:
                data = {k: npz[k] for k in npz.files}
        else:
            with open(path, 'rb') as f:
                data = pickle.load(f, encoding='latin1')
    except Exception as e:
        if _is_chumpy_pickle(path):
            raise ValueError(
                f'{path} holds chumpy objects (a chumpy-pickled SMPL file, '
                'as the SMPL website ships it): remove them with smplx\'s '
                'tools/clean_ch.py (python tools/clean_ch.py --input-models '
                f'{path} --output-folder OUT) or use the .npz model') from e
        raise ValueError(f'cannot read the SMPL model {path}: '
                         f'{type(e).__name__}: {e}') from e
    if not isinstance(data, dict):
        raise ValueError(f'{path} is not an SMPL model: it holds a '
                         f'{type(data).__name__}, not a dict of arrays')
    for key, expected in SMPL_KEYS.items():
        if key not in data:
            raise ValueError(
                f'{path} is not an SMPL model: key {key!r} is missing '
                f'(expected keys {sorted(SMPL_KEYS)})')
        shape = tuple(getattr(data[key], 'shape', ()))
        if not _fits(shape, expected):
            raise ValueError(
                f'{path}: {key!r} has shape {shape}, expected '
                f'{tuple("any" if e is None else e for e in expected)}')
    if data['shapedirs'].shape[-1] < 10:
        raise ValueError(f'{path}: shapedirs has '
                         f'{data["shapedirs"].shape[-1]} shape components, '
                         'at least 10 are needed')
    return data


def load_extra_regressor(path: str) -> np.ndarray:
    """``J_regressor_extra.npy`` (9, 6890), checked.

    Raises:
        FileNotFoundError / ValueError: missing, unreadable or wrong shape.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'joint regressor not found: expected {path}, a (9, 6890) array '
            '(J_regressor_extra.npy of the SPIN / I2L-MeshNet / 3DCrowdNet '
            'releases)')
    try:
        reg = np.load(path)
    except Exception as e:
        raise ValueError(f'cannot read the joint regressor {path}: '
                         f'{type(e).__name__}: {e}') from e
    if reg.ndim != 2 or reg.shape[1] != NUM_VERTICES or \
            reg.shape[0] <= HEAD_TOP_EXTRA_ROW:
        raise ValueError(f'{path}: shape {reg.shape}, expected (9, 6890)')
    return reg


class SMPLBodyModel(nn.Module):
    """SMPL with the 30 joints of the 3DCrowdNet mesh pipeline.

    The model arrays are read from the user's files (see
    :func:`smpl_model_path`) and kept as non-persistent buffers: they follow
    ``.to(device)`` but are never written into a checkpoint (the SMPL licence
    does not allow redistribution), and nothing here is trainable.

    Joints (``SMPL_JOINTS`` order): the 24 SMPL joints (the file's
    ``J_regressor``), nose / eyes / ears as the mesh vertices
    ``SMPL_FACE_VERTICES`` and the head top as row ``HEAD_TOP_EXTRA_ROW`` of
    ``J_regressor_extra.npy``.

    Args:
        model_dir (str): Folder of ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``
            (or ``.npz``), default layout ``data/mesh/body_models/smpl``.
        gender (str): 'neutral', 'male' or 'female'.
        extra_regressor (str): Path of ``J_regressor_extra.npy`` (9, 6890).

    Attributes:
        faces (np.ndarray): (13776, 3) int64 vertex indices.
        joint_regressor (torch.Tensor): (30, 6890) float32 buffer.
    """

    def __init__(self,
                 model_dir: str = DEFAULT_SMPL_DIR,
                 gender: str = 'neutral',
                 extra_regressor: str = DEFAULT_EXTRA_REGRESSOR) -> None:
        super().__init__()
        import smplx
        from smplx.utils import Struct

        path = smpl_model_path(model_dir, gender)
        data = load_smpl_data(path)
        extra = load_extra_regressor(extra_regressor)
        self.model_path = path
        self.gender = gender
        self.smpl = smplx.SMPL(
            model_path=path,
            data_struct=Struct(**data),
            gender=gender,
            num_betas=10,
            create_betas=False,
            create_global_orient=False,
            create_body_pose=False,
            create_transl=False)
        for module in self.smpl.modules():
            module._non_persistent_buffers_set.update(module._buffers)
        self.faces = np.asarray(data['f'], dtype=np.int64)
        smpl_reg = data['J_regressor']
        if hasattr(smpl_reg, 'toarray'):
            smpl_reg = smpl_reg.toarray()
        face = np.zeros((len(SMPL_FACE_VERTICES), NUM_VERTICES))
        face[np.arange(len(SMPL_FACE_VERTICES)), SMPL_FACE_VERTICES] = 1
        regressor = np.concatenate(
            [np.asarray(smpl_reg), face,
             extra[HEAD_TOP_EXTRA_ROW:HEAD_TOP_EXTRA_ROW + 1]])
        self.register_buffer(
            'joint_regressor',
            torch.from_numpy(regressor.astype(np.float32)),
            persistent=False)

    def forward(self,
                pose: torch.Tensor,
                shape: torch.Tensor,
                trans: Optional[torch.Tensor] = None):
        """Mesh and joints of SMPL parameters.

        Args:
            pose (torch.Tensor): (N, 72) axis-angle, radians (root first).
            shape (torch.Tensor): (N, 10) shape coefficients.
            trans (torch.Tensor, optional): (N, 3) translation in metres;
                None = zero.

        Returns:
            tuple: vertices (N, 6890, 3) and joints (N, 30, 3) in metres,
            ``joints = joint_regressor @ vertices``.
        """
        if trans is None:
            trans = pose.new_zeros(pose.shape[0], 3)
        out = self.smpl(
            betas=shape,
            global_orient=pose[:, :3],
            body_pose=pose[:, 3:],
            transl=trans)
        vertices = out.vertices
        joints = torch.einsum('jv,nvc->njc', self.joint_regressor, vertices)
        return vertices, joints
