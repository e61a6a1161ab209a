"""3DPW evaluation of predicted meshes (mmpose metric; imports mmpose)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

from ...datasets.mesh.joint_sets import H36M_EVAL_JOINTS, H36M_JOINTS, H36M_ROOT_INDEX
from ...models.mesh.smpl_body_model import NUM_VERTICES, load_smpl_data, smpl_model_path
from ..functional import mesh_metrics

DEFAULT_H36M_REGRESSOR = 'data/mesh/body_models/J_regressor_h36m_correct.npy'
DEFAULT_SMPL_DIR = 'data/mesh/body_models/smpl'


def load_h36m_regressor(path: str) -> np.ndarray:
    """``J_regressor_h36m_correct.npy``: (17, 6890) weights mapping SMPL
    vertices to the Human3.6M joints (``H36M_JOINTS`` order), float64.

    Raises:
        FileNotFoundError / ValueError: missing, unreadable or of another
            shape, naming the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'H36M joint regressor not found: expected {path}, a '
            f'({len(H36M_JOINTS)}, {NUM_VERTICES}) array '
            '(J_regressor_h36m_correct.npy of the I2L-MeshNet / 3DCrowdNet '
            'releases, their data/Human36M folder)')
    try:
        reg = np.load(path)
    except Exception as e:
        raise ValueError(f'cannot read the H36M joint regressor {path}: '
                         f'{type(e).__name__}: {e}') from e
    if reg.shape != (len(H36M_JOINTS), NUM_VERTICES):
        raise ValueError(f'{path}: shape {reg.shape}, expected '
                         f'({len(H36M_JOINTS)}, {NUM_VERTICES})')
    return np.asarray(reg, dtype=np.float64)


def load_smpl_pelvis_regressor(smpl_dir: str) -> np.ndarray:
    """Row 0 (the pelvis) of the neutral SMPL model's ``J_regressor``:
    (6890,) float64 weights over the vertices."""
    reg = load_smpl_data(smpl_model_path(smpl_dir, 'neutral'))['J_regressor']
    row = reg[0].toarray()[0] if hasattr(reg, 'toarray') else reg[0]
    return np.asarray(row, dtype=np.float64)


def _vertices(sample: dict, field: str) -> np.ndarray:
    """``sample[field].vertices`` of the one instance: (6890, 3) metres."""
    if field not in sample or 'vertices' not in sample[field]:
        raise KeyError(f'MeshMetric: data sample {sample.get("img_path")} '
                       f'has no {field}.vertices')
    verts = sample[field]['vertices']
    verts = verts.detach().float().cpu().numpy() if hasattr(
        verts, 'detach') else np.asarray(verts, dtype=np.float32)
    if verts.shape != (1, NUM_VERTICES, 3):
        raise ValueError(f'MeshMetric: {field}.vertices of '
                         f'{sample.get("img_path")} has shape {verts.shape}, '
                         f'expected (1, {NUM_VERTICES}, 3)')
    return verts[0]


@METRICS.register_module()
class MeshMetric(BaseMetric):
    """MPJPE, PA-MPJPE and MPVPE (millimetres) of predicted SMPL meshes, the
    3DPW protocol of 3DCrowdNet's ``PW3D.evaluate``.

    Per sample, from the predicted and the ground-truth mesh (each
    ``pred_instances.vertices`` / ``gt_instances.vertices`` (1, 6890, 3),
    metres, camera frame):

    - the 17 Human3.6M joints by ``J_regressor_h36m_correct.npy``, made
      relative to the H36M pelvis, restricted to the 14 ``H36M_EVAL_JOINTS``
      -> MPJPE and PA-MPJPE (per-sample similarity alignment);
    - the mesh made relative to the SMPL pelvis (row 0 of the neutral SMPL
      model's ``J_regressor``) -> MPVPE.

    Each side is aligned at its own pelvis. Errors are averaged over all
    samples. Which split the numbers are of is in their ``prefix``: the
    configs log the 3DPW validation split as ``pw3d_val/*`` (checkpoints are
    selected there) and the test split as ``pw3d_test/*`` (reported, never
    selected on).

    Args:
        smpl_dir (str): Folder with ``SMPL_NEUTRAL.pkl`` (or ``.npz``).
        h36m_regressor (str): Path of ``J_regressor_h36m_correct.npy``.
        collect_device (str): 'cpu' or 'gpu', for gathering results.
        prefix (str, optional): Metric name prefix; defaults to 'mesh'.

    Raises:
        FileNotFoundError / ValueError: (at construction) a missing or
            malformed regressor or SMPL file, naming it.
    """

    default_prefix: Optional[str] = 'mesh'

    def __init__(self,
                 smpl_dir: str = DEFAULT_SMPL_DIR,
                 h36m_regressor: str = DEFAULT_H36M_REGRESSOR,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.h36m_regressor = load_h36m_regressor(h36m_regressor)
        self.pelvis_regressor = load_smpl_pelvis_regressor(smpl_dir)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the batch's error sums (mm) and its size; the meshes are not
        kept (3DPW test has 35k samples of 6890 vertices)."""
        if not data_samples:
            return
        pred = np.stack([_vertices(s, 'pred_instances')
                         for s in data_samples]).astype(np.float64) * 1000
        gt = np.stack([_vertices(s, 'gt_instances')
                       for s in data_samples]).astype(np.float64) * 1000
        pred_h36m = np.einsum('jv,nvc->njc', self.h36m_regressor, pred)
        gt_h36m = np.einsum('jv,nvc->njc', self.h36m_regressor, gt)
        eval_joints = list(H36M_EVAL_JOINTS)
        pred_j = (pred_h36m - pred_h36m[:, H36M_ROOT_INDEX:H36M_ROOT_INDEX + 1]
                  )[:, eval_joints]
        gt_j = (gt_h36m - gt_h36m[:, H36M_ROOT_INDEX:H36M_ROOT_INDEX + 1]
                )[:, eval_joints]
        pred_v = pred - np.einsum('v,nvc->nc', self.pelvis_regressor,
                                  pred)[:, None]
        gt_v = gt - np.einsum('v,nvc->nc', self.pelvis_regressor, gt)[:, None]
        errors = mesh_metrics(pred_j, gt_j, pred_v, gt_v, root_index=None)
        num = len(data_samples)
        self.results.append(
            dict(num=num, **{k: v * num for k, v in errors.items()}))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The sample-weighted means of the batches' errors, mm."""
        total = sum(r['num'] for r in results)
        if total == 0:
            raise ValueError(f'MeshMetric ({self.prefix}): no samples were '
                             'evaluated (an empty evaluation dataset?)')
        metrics = {
            key: sum(r[key] for r in results) / total
            for key in ('MPJPE', 'PA-MPJPE', 'MPVPE')
        }
        MMLogger.get_current_instance().info(
            f'{self.prefix}: {total} samples, ' +
            ', '.join(f'{k} {v:.2f} mm' for k, v in metrics.items()))
        return metrics
