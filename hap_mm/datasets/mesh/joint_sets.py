"""Joint sets of the 3-D human mesh data (names and orders as the
3DCrowdNet / I2L-MeshNet releases define them) and conversion between them.

Every mesh sample is expressed in ``SMPL_JOINTS`` (the 24 SMPL joints plus
nose, eyes, ears and head top, 30 in all); PositionNet predicts the 15
``GRAPH_JOINTS``; 3DPW is evaluated on 14 of the 17 ``H36M_JOINTS``.
"""
import numpy as np

SMPL_JOINTS = (
    'Pelvis', 'L_Hip', 'R_Hip', 'Torso', 'L_Knee', 'R_Knee', 'Spine',
    'L_Ankle', 'R_Ankle', 'Chest', 'L_Toe', 'R_Toe', 'Neck', 'L_Thorax',
    'R_Thorax', 'Head', 'L_Shoulder', 'R_Shoulder', 'L_Elbow', 'R_Elbow',
    'L_Wrist', 'R_Wrist', 'L_Hand', 'R_Hand', 'Nose', 'L_Eye', 'R_Eye',
    'L_Ear', 'R_Ear', 'Head_top')
SMPL_FLIP_PAIRS = ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17),
                   (18, 19), (20, 21), (22, 23), (25, 26), (27, 28))
SMPL_SKELETON = ((0, 1), (1, 4), (4, 7), (7, 10), (0, 2), (2, 5), (5, 8),
                 (8, 11), (0, 3), (3, 6), (6, 9), (9, 14), (14, 17), (17, 19),
                 (19, 21), (21, 23), (9, 13), (13, 16), (16, 18), (18, 20),
                 (20, 22), (9, 12), (12, 24), (24, 15), (24, 25), (24, 26),
                 (25, 27), (26, 28), (24, 29))
SMPL_ROOT_INDEX = 0
# Mesh vertices used as the nose, left/right eye and left/right ear joints,
# and the row of J_regressor_extra.npy used as the head top.
SMPL_FACE_VERTICES = (331, 2802, 6262, 3489, 3990)
HEAD_TOP_EXTRA_ROW = 3
# The 24 SMPL pose parameters whose values are not supervised (their
# rotations are barely observable): ankles, toes, wrists and hands.
SMPL_UNSUPERVISED_PARAMS = ('L_Ankle', 'R_Ankle', 'L_Toe', 'R_Toe', 'L_Wrist',
                            'R_Wrist', 'L_Hand', 'R_Hand')

GRAPH_JOINTS = ('Pelvis', 'L_Hip', 'R_Hip', 'L_Knee', 'R_Knee', 'L_Ankle',
                'R_Ankle', 'Neck', 'Head_top', 'L_Shoulder', 'R_Shoulder',
                'L_Elbow', 'R_Elbow', 'L_Wrist', 'R_Wrist')
GRAPH_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (9, 10), (11, 12), (13, 14))
GRAPH_SKELETON = ((0, 1), (1, 3), (3, 5), (0, 2), (2, 4), (4, 6), (0, 7),
                  (7, 8), (7, 9), (9, 11), (11, 13), (7, 10), (10, 12),
                  (12, 14))

H36M_JOINTS = ('Pelvis', 'R_Hip', 'R_Knee', 'R_Ankle', 'L_Hip', 'L_Knee',
               'L_Ankle', 'Torso', 'Neck', 'Nose', 'Head_top', 'L_Shoulder',
               'L_Elbow', 'L_Wrist', 'R_Shoulder', 'R_Elbow', 'R_Wrist')
H36M_FLIP_PAIRS = ((1, 4), (2, 5), (3, 6), (14, 11), (15, 12), (16, 13))
H36M_ROOT_INDEX = 0
# The 14 joints MPJPE / PA-MPJPE are computed on (3DPW protocol).
H36M_EVAL_JOINTS = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)

MUCO_JOINTS = ('Head_top', 'Thorax', 'R_Shoulder', 'R_Elbow', 'R_Wrist',
               'L_Shoulder', 'L_Elbow', 'L_Wrist', 'R_Hip', 'R_Knee',
               'R_Ankle', 'L_Hip', 'L_Knee', 'L_Ankle', 'Pelvis', 'Spine',
               'Head', 'R_Hand', 'L_Hand', 'R_Toe', 'L_Toe')
MUCO_FLIP_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13),
                   (17, 18), (19, 20))

# COCO's 17 keypoints (the annotation order).
COCO_JOINTS = ('Nose', 'L_Eye', 'R_Eye', 'L_Ear', 'R_Ear', 'L_Shoulder',
               'R_Shoulder', 'L_Elbow', 'R_Elbow', 'L_Wrist', 'R_Wrist',
               'L_Hip', 'R_Hip', 'L_Knee', 'R_Knee', 'L_Ankle', 'R_Ankle')
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14),
                   (15, 16))
# COCO plus the pelvis the releases add (mean of the hips).
COCO_PELVIS_JOINTS = COCO_JOINTS + ('Pelvis', )

MPII_JOINTS = ('R_Ankle', 'R_Knee', 'R_Hip', 'L_Hip', 'L_Knee', 'L_Ankle',
               'Pelvis', 'Thorax', 'Neck', 'Head_top', 'R_Wrist', 'R_Elbow',
               'R_Shoulder', 'L_Shoulder', 'L_Elbow', 'L_Wrist')
MPII_FLIP_PAIRS = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))

# The BODY_25 order of OpenPose's first 19 joints with the mid-hip renamed
# Pelvis, as the 3DPW test inputs (``openpose_result``) are read.
OPENPOSE_JOINTS = ('Nose', 'Neck', 'R_Shoulder', 'R_Elbow', 'R_Wrist',
                   'L_Shoulder', 'L_Elbow', 'L_Wrist', 'R_Hip', 'R_Knee',
                   'R_Ankle', 'L_Hip', 'L_Knee', 'L_Ankle', 'R_Eye', 'L_Eye',
                   'R_Ear', 'L_Ear', 'Pelvis')


def transform_joints(joints, src_names, dst_names):
    """Re-order joint rows from one joint set to another by name.

    Args:
        joints (np.ndarray): (J_src, C) or (N, J_src, C) values in the
            ``src_names`` order.
        src_names (Sequence[str]): J_src names.
        dst_names (Sequence[str]): J_dst names.

    Returns:
        np.ndarray: (J_dst, C) or (N, J_dst, C), same dtype; rows of names
        missing from ``src_names`` are zero.
    """
    joints = np.asarray(joints)
    if joints.shape[-2] != len(src_names):
        raise ValueError(f'joints have {joints.shape[-2]} rows but the source '
                         f'joint set has {len(src_names)} names')
    out = np.zeros(joints.shape[:-2] + (len(dst_names), joints.shape[-1]),
                   dtype=joints.dtype)
    src_index = {name: i for i, name in enumerate(src_names)}
    for j, name in enumerate(dst_names):
        if name in src_index:
            out[..., j, :] = joints[..., src_index[name], :]
    return out
