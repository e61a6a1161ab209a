"""Rotation conversions for the mesh model (batched, differentiable)."""
import torch
import torch.nn.functional as F


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """Continuous 6-D rotation (Zhou et al. 2019) -> rotation matrix.

    The 6 numbers are read as a 3x2 matrix (row-major) whose two columns are
    Gram-Schmidt orthonormalised into the first two columns of the rotation;
    the third is their cross product (VPoser v1's decoder and 3DCrowdNet's
    root pose use this layout).

    Args:
        x (torch.Tensor): (..., 6).

    Returns:
        torch.Tensor: (..., 3, 3) rotation matrices.
    """
    m = x.reshape(*x.shape[:-1], 3, 2)
    b1 = F.normalize(m[..., 0], dim=-1)
    a2 = m[..., 1]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> axis-angle (radians), through a unit quaternion.

    The quaternion is taken from whichever of its four components has the
    largest magnitude (Shepperd's method), so every rotation, 180 degrees
    included, converts stably, and the gradient stays finite.

    Args:
        rotmat (torch.Tensor): (..., 3, 3).

    Returns:
        torch.Tensor: (..., 3), angle in [0, pi] times the unit axis.
    """
    m = rotmat
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 w^2, 4 x^2, 4 y^2, 4 z^2
    sq = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                      1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1).clamp(0)
    # candidate i = (row i of 4 q q_i) / (4 |q_i|), rows (w, x, y, z)
    rows = torch.stack((
        torch.stack((sq[..., 0], m21 - m12, m02 - m20, m10 - m01), -1),
        torch.stack((m21 - m12, sq[..., 1], m10 + m01, m02 + m20), -1),
        torch.stack((m02 - m20, m10 + m01, sq[..., 2], m12 + m21), -1),
        torch.stack((m10 - m01, m20 + m02, m21 + m12, sq[..., 3]), -1),
    ), -2)
    denom = 2 * sq.clamp(min=0.01).sqrt()
    candidates = rows / denom[..., None]
    best = sq.argmax(-1)
    quat = torch.gather(
        candidates, -2, best[..., None, None].expand(*best.shape, 1,
                                                     4)).squeeze(-2)
    quat = F.normalize(quat, dim=-1)
    quat = torch.where(quat[..., :1] < 0, -quat, quat)  # w >= 0
    w, xyz = quat[..., 0], quat[..., 1:]
    sin_half = xyz.norm(dim=-1)
    angle = 2 * torch.atan2(sin_half, w)
    small = sin_half < 1e-6
    # angle / sin(angle / 2) -> 2 as the angle -> 0
    scale = torch.where(small, torch.full_like(angle, 2.0),
                        angle / torch.where(small, torch.ones_like(sin_half),
                                            sin_half))
    return xyz * scale[..., None]


def rot6d_to_axis_angle(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) continuous 6-D rotation -> (..., 3) axis-angle."""
    return rotmat_to_axis_angle(rot6d_to_rotmat(x))
