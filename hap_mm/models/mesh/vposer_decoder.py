"""The decoder of VPoser v1.0 (human_body_prior), frozen."""
import os.path as osp
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.checkpoint import CheckpointLoadError, load_checkpoint_file
from .rotations import rot6d_to_axis_angle

DEFAULT_VPOSER_CKPT = \
    'data/mesh/body_models/vposer/vposer_v1_0/snapshots/TR00_E096.pt'
LATENT_DIM = 32
NUM_NEURONS = 512
NUM_BODY_JOINTS = 21  # SMPL joints 1..21: no root, no hands
# Decoder keys of a VPoser v1.0 snapshot -> shape.
VPOSER_DECODER_KEYS = {
    'bodyprior_dec_fc1.weight': (NUM_NEURONS, LATENT_DIM),
    'bodyprior_dec_fc1.bias': (NUM_NEURONS, ),
    'bodyprior_dec_fc2.weight': (NUM_NEURONS, NUM_NEURONS),
    'bodyprior_dec_fc2.bias': (NUM_NEURONS, ),
    'bodyprior_dec_out.weight': (NUM_BODY_JOINTS * 6, NUM_NEURONS),
    'bodyprior_dec_out.bias': (NUM_BODY_JOINTS * 6, ),
}
_GET_VPOSER = ('download VPoser v1.0 (vposer_v1_0.zip) from '
               'https://smpl-x.is.tue.mpg.de (licence required) and unzip it '
               'into data/mesh/body_models/vposer/')


def load_vposer_decoder(path: str) -> Dict[str, torch.Tensor]:
    """The decoder tensors of a VPoser v1.0 snapshot, checked.

    Args:
        path (str): ``vposer_v1_0/snapshots/TR00_E096.pt``, a state dict
            ``torch.save``-d by human_body_prior (``bodyprior_enc_*`` and
            ``bodyprior_dec_*`` keys; a ``module.`` prefix is accepted).

    Returns:
        dict: the keys of :data:`VPOSER_DECODER_KEYS`, float32.

    Raises:
        FileNotFoundError: no such file (names it and where to get it).
        CheckpointLoadError: unreadable, a key missing or a wrong shape.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'VPoser snapshot not found: expected {path} (a state dict with '
            f'keys {sorted(VPOSER_DECODER_KEYS)}); {_GET_VPOSER}')
    state = load_checkpoint_file(path)
    if not isinstance(state, dict):
        raise CheckpointLoadError(f'{path} is not a VPoser state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    out = {}
    for key, shape in VPOSER_DECODER_KEYS.items():
        value = state.get(key)
        if not isinstance(value, torch.Tensor):
            raise CheckpointLoadError(
                f'{path} is not a VPoser v1.0 snapshot: key {key!r} is '
                f'missing (expected {sorted(VPOSER_DECODER_KEYS)}; VPoser '
                'v2 checkpoints have another layout)')
        if tuple(value.shape) != shape:
            raise CheckpointLoadError(
                f'{path}: {key!r} has shape {tuple(value.shape)}, expected '
                f'{shape} (VPoser v1.0: latent 32, 512 neurons, 21 joints)')
        out[key] = value.float()
    return out


class VPoserDecoder(nn.Module):
    """VPoser v1.0's decoder: a 32-d latent code -> SMPL body pose.

    ``Linear(32, 512)`` + LeakyReLU(0.2) + Dropout (identity: VPoser is
    used in eval mode) + ``Linear(512, 512)`` + LeakyReLU(0.2) +
    ``Linear(512, 126)`` -> 21 continuous 6-D rotations -> axis-angle. As in
    3DCrowdNet, two zero rotations are appended for the hands (SMPL joints
    22, 23), giving the 69-d body pose without the root.

    The weights are non-persistent buffers: frozen, moved with the model,
    never written into a checkpoint (the VPoser licence does not allow
    redistribution). Gradients flow through to the latent code.

    Args:
        checkpoint (str): The VPoser v1.0 snapshot (see
            :func:`load_vposer_decoder`).
    """

    def __init__(self, checkpoint: str = DEFAULT_VPOSER_CKPT) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        for key, value in load_vposer_decoder(checkpoint).items():
            self.register_buffer(
                key.replace('bodyprior_dec_', '').replace('.', '_'), value,
                persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, 32) latent -> (N, 69) axis-angle of SMPL joints 1..23 (rad),
        the last two (hands) zero."""
        x = F.leaky_relu(F.linear(z, self.fc1_weight, self.fc1_bias), 0.2)
        x = F.leaky_relu(F.linear(x, self.fc2_weight, self.fc2_bias), 0.2)
        x = F.linear(x, self.out_weight, self.out_bias)
        pose = rot6d_to_axis_angle(x.reshape(-1, NUM_BODY_JOINTS, 6))
        hands = pose.new_zeros(pose.shape[0], 2, 3)
        return torch.cat((pose, hands), 1).reshape(pose.shape[0], -1)
