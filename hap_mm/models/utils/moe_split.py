"""Split a multi-dataset (ViT-MoE) pose model into one plain model per
dataset."""
import re
from typing import Dict, Sequence

import torch

_EXPERT = re.compile(
    r'^(?P<fc2>backbone\.layers\.\d+\.ffn\.layers\.1\.)'
    r'(?:shared|experts\.(?P<expert>\d+))\.(?P<name>weight|bias)$')
_AUX_HEAD = re.compile(r'^aux_heads\.(?P<k>\d+)\.(?P<rest>.*)$')


def split_moe_state_dict(
        state_dict: Dict[str, torch.Tensor], dataset_names: Sequence[str],
        num_keypoints: Sequence[int]) -> Dict[str, Dict[str, torch.Tensor]]:
    """One ``TopdownPoseEstimator`` state dict per dataset from a
    ``TopdownMoEPoseEstimator`` one.

    Dataset ``k`` gets: every backbone tensor, each block's fc2 as the
    shared part followed by expert ``k`` along the output rows
    (``backbone.layers.i.ffn.layers.1.{weight,bias}``, a plain ViT's fc2),
    and its head (``head.*`` for dataset 0, ``aux_heads.{k-1}.*`` for the
    others) as ``head.*`` with the final layer's output channels cut to its
    ``num_keypoints[k]``. Other experts and heads are left out, so a plain
    ``HAPViT`` + ``HeatmapHead`` model loads the result with no missing or
    unexpected keys.

    Args:
        state_dict (dict): The multi-dataset model's tensors.
        dataset_names (Sequence[str]): Dataset of each expert, in order.
        num_keypoints (Sequence[int]): Keypoints of each dataset.

    Returns:
        dict: ``{dataset name: state dict}``.

    Raises:
        ValueError: not an MoE model, or its experts / heads do not match
            ``dataset_names``.
    """
    num = len(dataset_names)
    if len(num_keypoints) != num:
        raise ValueError(f'{num} datasets but {len(num_keypoints)} '
                         'keypoint counts')
    shared, experts, heads, common = {}, {}, {}, {}
    for key, value in state_dict.items():
        expert = _EXPERT.match(key)
        aux = _AUX_HEAD.match(key)
        if expert:
            fc2 = expert['fc2'] + expert['name']
            if expert['expert'] is None:
                shared[fc2] = value
            else:
                experts.setdefault(int(expert['expert']), {})[fc2] = value
        elif aux:
            heads.setdefault(int(aux['k']) + 1, {})[aux['rest']] = value
        elif key.startswith('head.'):
            heads.setdefault(0, {})[key[len('head.'):]] = value
        else:
            common[key] = value
    if not shared:
        raise ValueError('no expert layers (backbone.layers.*.ffn.layers.1.'
                         'shared.*): not a HAPViTMoE model')
    if sorted(experts) != list(range(num)) or sorted(heads) != list(
            range(num)):
        raise ValueError(
            f'the model has experts {sorted(experts)} and heads '
            f'{sorted(heads)}; {num} datasets {list(dataset_names)} need '
            f'0..{num - 1} of each')
    out = {}
    for k, (name, joints) in enumerate(zip(dataset_names, num_keypoints)):
        plain = dict(common)
        for fc2, value in shared.items():
            if fc2 not in experts[k]:
                raise ValueError(f'expert {k} has no {fc2}')
            plain[fc2] = torch.cat([value, experts[k][fc2]], dim=0)
        for key, value in heads[k].items():
            if key.startswith('final_layer.'):
                if value.shape[0] < joints:
                    raise ValueError(
                        f'head of {name}: final layer has {value.shape[0]} '
                        f'channels, fewer than its {joints} keypoints')
                value = value[:joints]
            plain['head.' + key] = value.clone()
        out[name] = plain
    return out
