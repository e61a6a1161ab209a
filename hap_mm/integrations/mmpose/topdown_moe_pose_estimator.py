"""Top-down pose estimator trained on several datasets at once, with one
backbone expert and one head per dataset (the HAP / ViTPose release's
``TopDownMoE``)."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.structures import PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn


@MODELS.register_module()
class TopdownMoEPoseEstimator(TopdownPoseEstimator):
    """Top-down heatmap estimator for a mix of datasets.

    Every sample carries its dataset's name (``dataset_name`` in its
    metainfo, which mmpose's datasets set and ``PackPoseInputs`` packs); its
    position in ``dataset_names`` is the sample's dataset index. The
    backbone (``mmpretrain.HAPViTMoE``) routes each sample through that
    dataset's expert, and each dataset has its own head: ``head`` for
    dataset 0 and ``aux_heads[k - 1]`` for dataset ``k``.

    Training (as the release): every head runs on the whole batch. Head
    ``k``'s targets and keypoint weights are those of the batch's samples of
    dataset ``k`` and zero for the others, so its MSE mean over the whole
    batch is scaled by the dataset's share of the batch. The heads' losses
    are summed (``loss_kpt_<name>``; ``acc_pose_<name>`` is the PCK of head
    ``k`` on its own samples). All heads have the same number of channels;
    datasets with fewer keypoints give targets zero-padded to it with zero
    weight (``KeypointConverter`` in their pipelines).

    Prediction: each sample goes through its dataset's head; the first
    ``num_keypoints[k]`` channels are decoded by that head's decoder.
    Without data samples (``mode='tensor'``) every sample is dataset 0.

    Args:
        backbone (dict): ``HAPViTMoE`` config, ``num_experts`` =
            ``len(dataset_names)``.
        head (dict): Head of dataset 0.
        aux_heads (list[dict]): Heads of datasets 1, 2, ...
        dataset_names (Sequence[str]): ``dataset_name`` of each dataset, in
            expert order.
        num_keypoints (Sequence[int]): Keypoints of each dataset.
        **kwargs: ``TopdownPoseEstimator`` arguments (neck, test_cfg, ...).
    """

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 aux_heads: Sequence[ConfigType],
                 dataset_names: Sequence[str],
                 num_keypoints: Sequence[int],
                 test_cfg: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(
            backbone=backbone, head=head, test_cfg=test_cfg, **kwargs)
        self.aux_heads = nn.ModuleList(MODELS.build(h) for h in aux_heads)
        for aux_head in self.aux_heads:
            aux_head.test_cfg = self.test_cfg.copy()
        self.dataset_names = tuple(dataset_names)
        self.num_keypoints = tuple(num_keypoints)
        num = len(self.dataset_names)
        if len(self.num_keypoints) != num or len(aux_heads) != num - 1:
            raise ValueError(
                f'{num} dataset_names need {num} num_keypoints and '
                f'{num - 1} aux_heads, got {len(self.num_keypoints)} and '
                f'{len(aux_heads)}')
        experts = getattr(self.backbone, 'num_experts', None)
        if experts != num:
            raise ValueError(f'the backbone has {experts} experts, '
                             f'{num} datasets need {num}')

    @property
    def heads(self) -> List[nn.Module]:
        """Head of each dataset, dataset 0 first."""
        return [self.head, *self.aux_heads]

    def dataset_index(self, data_samples: SampleList,
                      device=None) -> Tensor:
        """(B,) dataset index of every sample, from its ``dataset_name``."""
        index = []
        for sample in data_samples:
            name = sample.metainfo.get('dataset_name')
            if name not in self.dataset_names:
                raise ValueError(
                    f'sample {sample.metainfo.get("img_path")} comes from '
                    f'dataset {name!r}, the model knows '
                    f'{list(self.dataset_names)} (dataset_names)')
            index.append(self.dataset_names.index(name))
        return torch.tensor(index, dtype=torch.long, device=device)

    def extract_feat(self,
                     inputs: Tensor,
                     dataset_idx: Optional[Tensor] = None) -> Tuple[Tensor]:
        """Backbone (+ neck) features, sample ``b`` through expert
        ``dataset_idx[b]`` (all dataset 0 when not given)."""
        if dataset_idx is None:
            dataset_idx = inputs.new_zeros(inputs.shape[0], dtype=torch.long)
        x = self.backbone(inputs, dataset_idx=dataset_idx)
        if self.with_neck:
            x = self.neck(x)
        return x

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Summed losses of the per-dataset heads."""
        idx = self.dataset_index(data_samples, inputs.device)
        feats = self.extract_feat(inputs, idx)
        gt = torch.stack([d.gt_fields.heatmaps for d in data_samples])
        weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in data_samples
        ]).to(gt.dtype)  # KeypointConverter's are float64
        losses = dict()
        for k, (name, head) in enumerate(zip(self.dataset_names, self.heads)):
            pred = head.forward(feats)
            if pred.shape != gt.shape:
                raise ValueError(
                    f'head {name} predicts {tuple(pred.shape)} heatmaps, the '
                    f'targets are {tuple(gt.shape)}: every dataset pipeline '
                    f'must pad its keypoints to {pred.shape[1]} '
                    '(KeypointConverter)')
            own = (idx == k).to(gt.dtype)
            own_gt = gt * own[:, None, None, None]
            own_weights = weights * own[:, None]
            losses[f'loss_kpt_{name}'] = head.loss_module(
                pred, own_gt, own_weights)
            if self.train_cfg.get('compute_acc', True):
                _, acc, _ = pose_pck_accuracy(
                    output=to_numpy(pred),
                    target=to_numpy(own_gt),
                    mask=to_numpy(own_weights) > 0)
                losses[f'acc_pose_{name}'] = torch.tensor(
                    acc, device=gt.device)
        return losses

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Keypoints of every sample from its dataset's expert and head."""
        idx = self.dataset_index(data_samples, inputs.device)
        feats = self.extract_feat(inputs, idx)
        flip_test = self.test_cfg.get('flip_test', False)
        if flip_test:
            feats_flip = self.extract_feat(inputs.flip(-1), idx)
        instances = [None] * len(data_samples)
        fields = [None] * len(data_samples)
        for k in sorted(set(idx.tolist())):
            rows = torch.nonzero(idx == k)[:, 0]
            head, num = self.heads[k], self.num_keypoints[k]
            heatmaps = head.forward(tuple(f[rows] for f in feats))[:, :num]
            if flip_test:
                flip_indices = data_samples[int(rows[0])].metainfo[
                    'flip_indices']
                flipped = head.forward(tuple(f[rows]
                                             for f in feats_flip))[:, :num]
                heatmaps = (heatmaps + flip_heatmaps(
                    flipped,
                    flip_mode=self.test_cfg.get('flip_mode', 'heatmap'),
                    flip_indices=flip_indices,
                    shift_heatmap=self.test_cfg.get('shift_heatmap', False))
                            ) * 0.5
            preds = head.decode(heatmaps)
            for j, row in enumerate(rows.tolist()):
                instances[row] = preds[j]
                fields[row] = PixelData(heatmaps=heatmaps[j].detach())
        if not self.test_cfg.get('output_heatmaps', False):
            fields = None
        return self.add_pred_to_datasample(instances, fields, data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[SampleList] = None):
        """Heatmaps of each sample's head, all heads' channels (tensor
        mode); every sample is dataset 0 without data samples."""
        idx = None if data_samples is None else self.dataset_index(
            data_samples, inputs.device)
        feats = self.extract_feat(inputs, idx)
        if idx is None:
            return self.head.forward(feats)
        out = self.head.forward(feats)
        for k, head in enumerate(self.aux_heads, 1):
            out = torch.where((idx == k)[:, None, None, None],
                              head.forward(feats), out)
        return out
