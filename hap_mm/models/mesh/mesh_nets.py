"""The 3DCrowdNet heads on the ViT features: Pose2Feat, PositionNet,
RotationNet (graph convolution over the 15 ``GRAPH_JOINTS``)."""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def graph_adjacency(num_joints: int, skeleton: Sequence[Tuple[int, int]],
                    flip_pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Normalised adjacency of the joint graph, as 3DCrowdNet builds it.

    Bones and left/right pairs are edges (both ways); with self-loops added,
    ``A_hat = D^-1/2 (A + I) D^-1/2``, ``D`` the degrees (+ I).

    Returns:
        np.ndarray: (J, J) float64, symmetric.
    """
    adj = np.eye(num_joints)
    for i, j in list(skeleton) + list(flip_pairs):
        adj[i, j] = adj[j, i] = 1
    d = 1 / np.sqrt(adj.sum(0))
    return d[:, None] * adj * d[None, :]


def gaussian_heatmaps(joints: torch.Tensor, mask: torch.Tensor,
                      size: Tuple[int, int], sigma: float) -> torch.Tensor:
    """Gaussian blobs at 2-D joints, zero for masked joints.

    Args:
        joints (torch.Tensor): (B, J, 2) x, y in heatmap pixels.
        mask (torch.Tensor): (B, J, 1), 0 = invalid joint (no blob).
        size (tuple): (H, W) of the heatmap.
        sigma (float): Standard deviation in heatmap pixels.

    Returns:
        torch.Tensor: (B, J, H, W), peak 1 at each valid joint.
    """
    ys = torch.arange(size[0], device=joints.device, dtype=joints.dtype)
    xs = torch.arange(size[1], device=joints.device, dtype=joints.dtype)
    dx = (xs[None, None, None, :] - joints[..., 0, None, None]) / sigma
    dy = (ys[None, None, :, None] - joints[..., 1, None, None]) / sigma
    return torch.exp(-(dx**2) / 2 - (dy**2) / 2) * mask[..., None]


class Pose2Feat(nn.Module):
    """Fuse joint heatmaps into early ViT features: concat + Conv3x3 + BN +
    ReLU.

    Args:
        in_channels (int): Feature channels (768 for ViT-B).
        num_joints (int): Heatmap channels (30).

    Shapes: feat (B, C, h, w) and heatmaps (B, J, h, w) -> (B, C, h, w).
    """

    def __init__(self, in_channels: int = 768, num_joints: int = 30) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + num_joints, in_channels, 3, padding=1),
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))

    def forward(self, feat: torch.Tensor,
                heatmaps: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((feat, heatmaps), 1))


class PositionNet(nn.Module):
    """3-D joint heatmaps by a 1x1 conv, 3-D soft-argmax and a score per
    joint (the softmaxed heatmap sampled at the argmax).

    Args:
        in_channels (int): Feature channels (2048).
        num_joints (int): Joints (15 ``GRAPH_JOINTS``).
        depth (int): Depth bins (8, the 8x8 feature grid's side).

    Shapes: (B, C, H, W) -> coords (B, J, 3) x, y, z in bins of the
    H x W x depth grid, scores (B, J, 1) in [0, 1].
    """

    def __init__(self,
                 in_channels: int = 2048,
                 num_joints: int = 15,
                 depth: int = 8) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.depth = depth
        self.conv = nn.Conv2d(in_channels, num_joints * depth, 1)

    def forward(self, feat: torch.Tensor):
        B, _, H, W = feat.shape
        J, D = self.num_joints, self.depth
        prob = F.softmax(
            self.conv(feat).reshape(B, J, D * H * W), -1).reshape(B, J, D, H, W)
        x = (prob.sum((2, 3)) * torch.arange(W, device=feat.device)).sum(-1)
        y = (prob.sum((2, 4)) * torch.arange(H, device=feat.device)).sum(-1)
        z = (prob.sum((3, 4)) * torch.arange(D, device=feat.device)).sum(-1)
        coords = torch.stack((x, y, z), -1)
        grid = torch.stack((x / (W - 1), y / (H - 1), z / (D - 1)), -1) * 2 - 1
        scores = F.grid_sample(
            prob.reshape(B * J, 1, D, H, W),
            grid.reshape(B * J, 1, 1, 1, 3),
            align_corners=True).reshape(B, J, 1)
        return coords, scores


class GraphConvBlock(nn.Module):
    """A Linear + BatchNorm1d per joint, then ``A_hat @ x`` and ReLU.

    Shapes: (B, J, C_in) -> (B, J, C_out).
    """

    def __init__(self, adj: torch.Tensor, in_channels: int,
                 out_channels: int) -> None:
        super().__init__()
        self.register_buffer('adj', adj, persistent=False)
        self.fcbn = nn.ModuleList(
            nn.Sequential(
                nn.Linear(in_channels, out_channels),
                nn.BatchNorm1d(out_channels)) for _ in range(adj.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.stack([f(x[:, j]) for j, f in enumerate(self.fcbn)], 1)
        return F.relu(torch.matmul(self.adj, x))


class GraphResBlock(nn.Module):
    """Two ``GraphConvBlock`` plus the input. (B, J, C) -> (B, J, C)."""

    def __init__(self, adj: torch.Tensor, channels: int) -> None:
        super().__init__()
        self.block1 = GraphConvBlock(adj, channels, channels)
        self.block2 = GraphConvBlock(adj, channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(x)) + x


class RotationNet(nn.Module):
    """SMPL parameters and camera from joint features on the joint graph.

    Image features are sampled (bilinear) at each PositionNet joint and
    concatenated with its x, y, z and score; GraphConvBlock (C+4 -> 128) and
    4 GraphResBlocks (128); Linear heads on the flattened (J x 128) features.

    Args:
        adj (np.ndarray): (J, J) normalised adjacency
            (:func:`graph_adjacency`).
        in_channels (int): Feature channels (2048).
        hidden (int): Graph feature channels (128).
        latent_dim (int): VPoser latent size (32).
        num_betas (int): SMPL shape size (10).

    Shapes: feat (B, C, H, W), coords (B, J, 3) in feature-grid bins, scores
    (B, J, 1) -> root pose 6-D (B, 6), latent (B, 32), shape (B, 10),
    camera (B, 3).
    """

    def __init__(self,
                 adj: np.ndarray,
                 in_channels: int = 2048,
                 hidden: int = 128,
                 latent_dim: int = 32,
                 num_betas: int = 10) -> None:
        super().__init__()
        adj = torch.as_tensor(adj, dtype=torch.float32)
        self.num_joints = adj.shape[0]
        self.graph = nn.Sequential(
            GraphConvBlock(adj, in_channels + 4, hidden),
            *[GraphResBlock(adj, hidden) for _ in range(4)])
        flat = self.num_joints * hidden
        self.root_pose_out = nn.Linear(flat, 6)
        self.pose_out = nn.Linear(flat, latent_dim)
        self.shape_out = nn.Linear(flat, num_betas)
        self.cam_out = nn.Linear(flat, 3)

    def forward(self, feat: torch.Tensor, coords: torch.Tensor,
                scores: torch.Tensor):
        H, W = feat.shape[-2:]
        grid = torch.stack(
            (coords[..., 0] / (W - 1), coords[..., 1] / (H - 1)), -1) * 2 - 1
        sampled = F.grid_sample(
            feat.float(), grid[:, :, None], align_corners=True)[..., 0]
        x = torch.cat((sampled.transpose(1, 2), coords, scores), -1)
        x = self.graph(x).flatten(1)
        return (self.root_pose_out(x), self.pose_out(x), self.shape_out(x),
                self.cam_out(x))
