"""HAP ViT + 3DCrowdNet: 3-D human pose and shape from a person crop."""
import math
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from torch import nn

from ...datasets.mesh.joint_sets import (
    GRAPH_FLIP_PAIRS,
    GRAPH_JOINTS,
    GRAPH_SKELETON,
    SMPL_JOINTS,
    SMPL_ROOT_INDEX,
)
from .mesh_init import load_mesh_backbone
from .mesh_losses import mesh_losses
from .mesh_nets import (
    Pose2Feat,
    PositionNet,
    RotationNet,
    gaussian_heatmaps,
    graph_adjacency,
)
from .rotations import rot6d_to_axis_angle
from .smpl_body_model import (
    DEFAULT_EXTRA_REGRESSOR,
    DEFAULT_SMPL_DIR,
    SMPLBodyModel,
)
from .vposer_decoder import DEFAULT_VPOSER_CKPT, VPoserDecoder

# ViTPose-style HAP ViT-B at 256x256 (release section 5.1).
DEFAULT_BACKBONE = dict(
    type='mmpretrain.HAPViT',
    arch='b',
    img_size=(256, 256),
    patch_size=16,
    patch_cfg=dict(padding=2),
    with_cls_token=False,
    pos_embed_type='learned',
    drop_path_rate=0.3,
    out_type='featmap')
# The preprocessing HAP was pre-trained with (ImageNet mean / std, RGB).
DEFAULT_PREPROCESSOR = dict(
    type='mmpose.PoseDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
GT_FIELDS = ('joints', 'joints_mask', 'orig_joint_img', 'fit_joint_img',
             'orig_joint_cam', 'fit_joint_cam', 'pose_param', 'shape_param',
             'orig_joint_valid', 'orig_joint_trunc', 'fit_param_valid',
             'fit_joint_trunc', 'is_valid_fit', 'is_3D')


def _init_head(m: nn.Module) -> None:
    """3DCrowdNet's init: Conv N(0, 0.001), Linear N(0, 0.01), BN 1 / 0,
    biases 0."""
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, std=0.001)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.01)
        nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


@MODELS.register_module()
class HAPMeshEstimator(BaseModel):
    """3DCrowdNet with a ViTPose-style HAP ViT (the HAP release's 3-D model).

    Image (B, 3, 256, 256) -> patch embedding + block 0 (B, 768, 16, 16);
    Pose2Feat fuses 30 Gaussian joint heatmaps (sigma 2.5 on 64x64 from
    ``gt_mesh.joints``, masked by ``gt_mesh.joints_mask``, nearest-resized
    to 16x16); blocks 1.. + last norm; nearest resize to 8x8; 1x1 conv to
    2048 channels; PositionNet (15 joints x 8 depth bins); RotationNet (root
    6-D, VPoser latent, shape, camera); VPoser decoder + neutral SMPL ->
    mesh (6890 vertices) and 30 joints, projected with focal 5000 and the
    principal point at the crop centre.

    Differences from the release (which runs the same design):

    - ``train_feature_projection=True`` (default): the 768->2048 1x1 conv
      is trained. The release never puts it into the optimizer, so it stays
      a random projection; ``False`` reproduces that (``requires_grad``
      False, PyTorch's default init).
    - Input normalisation is the data preprocessor's: ImageNet mean / std
      (what HAP was pre-trained with) by default. The release feeds [0, 1]
      pixels: ``mean=[0, 0, 0], std=[255, 255, 255]`` reproduces it.

    Args:
        backbone (dict): ``HAPViT`` config, ``with_cls_token=False``.
        smpl_dir (str): Folder of ``SMPL_NEUTRAL.pkl`` (or ``.npz``).
        extra_regressor (str): ``J_regressor_extra.npy``.
        vposer_checkpoint (str): VPoser v1.0 snapshot ``TR00_E096.pt``.
        train_feature_projection (bool): Train the 768->2048 projection.
        init_checkpoint (str, optional): Weights for the ViT, loaded by
            :meth:`init_weights` with :func:`load_mesh_backbone`.
        init_source (str): 'pose2d' (hap_mm 2-D pose checkpoint, 16x12
            position grid, as the release) or 'hap' (HAP checkpoint, 16x8).
        heatmap_size (int): Side of the input joint heatmaps (64).
        sigma (float): Their Gaussian sigma in heatmap px (2.5).
        feat_channels (int): Projected channels (2048).
        feat_size (int): Side of the projected map and PositionNet grid (8).
        depth_bins (int): PositionNet depth bins (8).
        focal (tuple): Virtual camera focal length in input px (5000).
        camera_3d_size (float): Metres the crop spans at t_z = k (2.5).
        data_preprocessor (dict, optional): Defaults to ImageNet mean/std.
    """

    def __init__(self,
                 backbone: dict = DEFAULT_BACKBONE,
                 smpl_dir: str = DEFAULT_SMPL_DIR,
                 extra_regressor: str = DEFAULT_EXTRA_REGRESSOR,
                 vposer_checkpoint: str = DEFAULT_VPOSER_CKPT,
                 train_feature_projection: bool = True,
                 init_checkpoint: Optional[str] = None,
                 init_source: str = 'pose2d',
                 heatmap_size: int = 64,
                 sigma: float = 2.5,
                 feat_channels: int = 2048,
                 feat_size: int = 8,
                 depth_bins: int = 8,
                 focal=(5000., 5000.),
                 camera_3d_size: float = 2.5,
                 data_preprocessor: Optional[dict] = DEFAULT_PREPROCESSOR,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if self.backbone.cls_token is not None:
            raise ValueError('the mesh backbone has no CLS token (ViTPose): '
                             'set with_cls_token=False')
        embed = self.backbone.embed_dims
        self.input_size = tuple(self.backbone.img_size)  # (H, W)
        self.heatmap_size = (heatmap_size, heatmap_size)
        self.sigma = sigma
        self.feat_size = feat_size
        self.pose2feat = Pose2Feat(embed, len(SMPL_JOINTS))
        self.feature_projection = nn.Conv2d(embed, feat_channels, 1)
        self.train_feature_projection = train_feature_projection
        self.feature_projection.requires_grad_(train_feature_projection)
        self.position_net = PositionNet(feat_channels, len(GRAPH_JOINTS),
                                        depth_bins)
        self.rotation_net = RotationNet(
            graph_adjacency(len(GRAPH_JOINTS), GRAPH_SKELETON,
                            GRAPH_FLIP_PAIRS), feat_channels)
        self.vposer = VPoserDecoder(vposer_checkpoint)
        self.smpl = SMPLBodyModel(smpl_dir, 'neutral', extra_regressor)
        self.init_checkpoint = init_checkpoint
        self.init_source = init_source
        self.focal = tuple(float(f) for f in focal)
        self.princpt = (self.input_size[1] / 2, self.input_size[0] / 2)
        self.camera_3d_size = camera_3d_size

    # ------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Backbone init (and its own ``init_cfg``), the release's head init
        (PyTorch's default for the projection), then ``init_checkpoint``."""
        super().init_weights()
        for part in (self.pose2feat, self.position_net, self.rotation_net):
            part.apply(_init_head)
        if self.init_checkpoint:
            load_mesh_backbone(self.backbone, self.init_checkpoint,
                               self.init_source)

    # ------------------------------------------------------------ forward
    def _early(self, img: torch.Tensor) -> torch.Tensor:
        """Patch embedding + position + block 0: (B, C, h, w)."""
        vit = self.backbone
        x, hw = vit.patch_embed(img)
        if tuple(hw) != tuple(vit.patch_resolution):
            raise ValueError(f'input of {tuple(img.shape[-2:])} px gives a '
                             f'{tuple(hw)} patch grid; the model expects '
                             f'{self.input_size}')
        x = vit.pre_norm(vit.drop_after_pos(x + vit.pos_embed))
        x = vit.layers[0](x)
        return x.transpose(1, 2).reshape(x.shape[0], -1, *hw)

    def _late(self, feat: torch.Tensor) -> torch.Tensor:
        """Blocks 1.. + last norm on (B, C, h, w) -> (B, C, h, w)."""
        vit = self.backbone
        B, C, h, w = feat.shape
        x = feat.flatten(2).transpose(1, 2)
        for layer in vit.layers[1:]:
            x = layer(x)
        x = vit.ln1(x)
        return x.transpose(1, 2).reshape(B, C, h, w)

    def camera_translation(self, cam_param: torch.Tensor) -> torch.Tensor:
        """(B, 3) raw camera -> (B, 3) metres: t_x, t_y as given, t_z =
        k * sigmoid(gamma), k = sqrt(fx fy s^2 / (H W)), s the 3-D size."""
        k = math.sqrt(self.focal[0] * self.focal[1] * self.camera_3d_size**2 /
                      (self.input_size[0] * self.input_size[1]))
        return torch.cat(
            (cam_param[:, :2], k * torch.sigmoid(cam_param[:, 2:])), 1)

    def _batch_gt(self, data_samples, fields) -> Dict[str, torch.Tensor]:
        out = {}
        for name in fields:
            try:
                values = [ds.gt_mesh.get(name) for ds in data_samples]
            except AttributeError as e:
                raise KeyError('data samples need a gt_mesh field '
                               '(PackMeshInputs)') from e
            if any(v is None for v in values):
                raise KeyError(f'gt_mesh.{name} is missing from a data '
                               'sample (PackMeshInputs packs it)')
            out[name] = torch.stack([torch.as_tensor(v) for v in values]).to(
                self.feature_projection.weight.device).float()
        return out

    def _run(self, inputs: torch.Tensor, joints: torch.Tensor,
             joints_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Network + body model; every output named in :meth:`loss`."""
        early = self._early(inputs)
        with torch.no_grad():
            heatmaps = gaussian_heatmaps(joints, joints_mask,
                                         self.heatmap_size, self.sigma)
            heatmaps = F.interpolate(
                heatmaps, size=early.shape[-2:], mode='nearest')
        feat = self._late(self.pose2feat(early, heatmaps))
        feat = F.interpolate(
            feat, size=(self.feat_size, self.feat_size), mode='nearest')
        feat = self.feature_projection(feat)
        joint_img, joint_score = self.position_net(feat)
        root_6d, latent, shape, cam_param = self.rotation_net(
            feat, joint_img.detach(), joint_score.detach())
        pose = torch.cat((rot6d_to_axis_angle(root_6d), self.vposer(latent)),
                         1)
        cam_trans = self.camera_translation(cam_param)
        mesh, joint_cam = self.smpl(pose, shape, cam_trans)
        x = joint_cam[..., 0] / (joint_cam[..., 2] + 1e-4) * self.focal[0] + \
            self.princpt[0]
        y = joint_cam[..., 1] / (joint_cam[..., 2] + 1e-4) * self.focal[1] + \
            self.princpt[1]
        joint_proj = torch.stack(
            (x / self.input_size[1] * self.heatmap_size[1],
             y / self.input_size[0] * self.heatmap_size[0]), -1)
        root = joint_cam[:, SMPL_ROOT_INDEX, None]
        return dict(
            joint_img=joint_img,
            joint_score=joint_score,
            joint_proj=joint_proj,
            joint_cam=joint_cam - root,
            mesh_cam_render=mesh,
            cam_trans=cam_trans,
            pose=pose,
            shape=shape)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[dict, list]:
        """mmengine's modes: 'loss' -> dict of the 7 losses, 'predict' ->
        data samples with ``pred_instances``, 'tensor' -> the raw outputs
        (dict of tensors, see :meth:`_run`)."""
        gt = self._batch_gt(data_samples, ('joints', 'joints_mask'))
        if mode == 'tensor':
            return self._run(inputs, gt['joints'], gt['joints_mask'])
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'invalid mode {mode!r}')

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """The release's 7 L1 losses (:func:`mesh_losses`)."""
        gt = self._batch_gt(data_samples, GT_FIELDS)
        return mesh_losses(
            self._run(inputs, gt['joints'], gt['joints_mask']), gt)

    def predict(self, inputs: torch.Tensor, data_samples: list) -> List:
        """Set ``pred_instances`` (one instance per sample):

        - ``vertices`` (1, 6890, 3) metres, camera frame incl. the predicted
          translation; ``cam_trans`` (1, 3) metres;
        - ``keypoints`` (1, 15, 2) PositionNet joints (``GRAPH_JOINTS``) in
          input px; ``keypoint_scores`` (1, 15);
        - ``smpl_pose`` (1, 72) axis-angle; ``smpl_shape`` (1, 10).

        ``gt_instances.vertices`` (1, 6890, 3) is ``gt_mesh.smpl_mesh_cam``
        when the sample has it. The virtual camera is ``self.focal`` /
        ``self.princpt`` (input px).
        """
        gt = self._batch_gt(data_samples, ('joints', 'joints_mask'))
        out = self._run(inputs, gt['joints'], gt['joints_mask'])
        to_px = out['joint_img'].new_tensor(
            (self.input_size[1] / self.feat_size,
             self.input_size[0] / self.feat_size))
        for i, ds in enumerate(data_samples):
            pred = InstanceData()
            pred.vertices = out['mesh_cam_render'][i:i + 1].detach()
            pred.cam_trans = out['cam_trans'][i:i + 1].detach()
            pred.keypoints = out['joint_img'][i:i + 1, :, :2].detach() * to_px
            pred.keypoint_scores = out['joint_score'][i:i + 1, :, 0].detach()
            pred.smpl_pose = out['pose'][i:i + 1].detach()
            pred.smpl_shape = out['shape'][i:i + 1].detach()
            ds.pred_instances = pred
            gt_mesh = ds.gt_mesh.get('smpl_mesh_cam')
            if gt_mesh is not None:
                gt_inst = ds.get('gt_instances', InstanceData())
                gt_inst.vertices = torch.as_tensor(gt_mesh)[None].float()
                ds.gt_instances = gt_inst
        return data_samples
