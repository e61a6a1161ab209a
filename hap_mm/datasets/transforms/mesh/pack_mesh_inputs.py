"""Pack a mesh sample into the model's inputs and data sample."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement
from mmpose.registry import TRANSFORMS
from mmpose.structures import PoseDataSample

# Field -> shape (without batch dim) of ``gt_mesh``; all float32.
TRAIN_FIELDS = {
    'orig_joint_img': (30, 3),
    'fit_joint_img': (30, 3),
    'orig_joint_cam': (30, 3),
    'fit_joint_cam': (30, 3),
    'pose_param': (72, ),
    'shape_param': (10, ),
    'orig_joint_valid': (30, 1),
    'orig_joint_trunc': (30, 1),
    'fit_param_valid': (72, ),
    'fit_joint_trunc': (30, 1),
    'is_valid_fit': (),
    'is_3D': (),
}
INPUT_FIELDS = {'joints': (30, 2), 'joints_mask': (30, 1)}
TEST_FIELDS = {'smpl_mesh_cam': (6890, 3)}


@TRANSFORMS.register_module()
class PackMeshInputs(BaseTransform):
    """``inputs`` (3, h, w) uint8 BGR and a ``PoseDataSample`` whose
    ``gt_mesh`` holds the float32 tensors of the mesh contract.

    ``joints`` and ``joints_mask`` are always packed; the training targets
    (``orig_*``, ``fit_*``, ``pose_param``, ``shape_param``,
    ``is_valid_fit``, ``is_3D``) all together when ``orig_joint_img`` is
    present, and ``smpl_mesh_cam`` when present. A missing or mis-shaped
    field is an error naming it and the image.

    Metainfo: ``img_path``, ``id`` (the reader's ``id``, else mmengine's
    ``sample_idx``), ``bbox`` (4,), ``bb2img_trans`` / ``img2bb_trans``
    (2, 3), ``dataset_name``, ``input_size`` (w, h), plus ``meta_keys``.

    Args:
        meta_keys (tuple): Extra result keys copied into the metainfo.
    """

    def __init__(self, meta_keys: tuple = ()) -> None:
        super().__init__()
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _field(results, key, shape):
        if key not in results:
            raise KeyError(f'{results.get("img_path")}: {key!r} missing; '
                           'is the mesh pipeline complete?')
        value = np.array(results[key], dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f'{results.get("img_path")}: {key!r} has shape '
                             f'{value.shape}, expected {shape}')
        return torch.from_numpy(value)

    def transform(self, results: dict) -> dict:
        img = results['img']
        inputs = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1))).to(torch.uint8)
        fields = dict(INPUT_FIELDS)
        if 'orig_joint_img' in results:
            fields.update(TRAIN_FIELDS)
        for key, shape in TEST_FIELDS.items():
            if key in results:
                fields[key] = shape
        gt_mesh = BaseDataElement()
        for key, shape in fields.items():
            gt_mesh.set_field(self._field(results, key, shape), key)
        meta = dict(
            img_path=results.get('img_path'),
            id=results.get('id', results.get('sample_idx')),
            bbox=np.asarray(results['bbox'], dtype=np.float32).reshape(4),
            bb2img_trans=np.asarray(results['bb2img_trans'], np.float32),
            img2bb_trans=np.asarray(results['img2bb_trans'], np.float32),
            dataset_name=results.get('dataset_name'),
            input_size=tuple(results['input_size']))
        for key in self.meta_keys:
            meta[key] = results[key]
        sample = PoseDataSample(metainfo=meta)
        sample.gt_mesh = gt_mesh
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
