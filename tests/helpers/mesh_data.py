"""Tiny mesh data sets in the PUBLIC layouts (key names and nesting as the
3DCrowdNet / I2L-MeshNet loaders read them), for the mesh tests.

``write_mesh_data(root, image)`` writes ``root/{PW3D,Human36M,MuCo,MSCOCO,
MPII}`` with one copy of ``image`` (a real JPEG of ``IMG_W`` x ``IMG_H``)
at every image path the annotations name. The values are chosen so that
tests can state the expected reader output by hand (see
tests/test_mesh_datasets.py). ``tests/`` is imported by path (importlib
mode), so a test loads this module by path (see tests/test_mesh_datasets.py).
"""
import json
import shutil
from pathlib import Path

IMG_W, IMG_H = 640, 425

# SMPL parameters: pose (72,), shape (10,), trans (3,) m.
POSE = [0.01 * i for i in range(72)]
SHAPE = [0.1 * i for i in range(10)]
TRANS = [0.1, -0.2, 4.0]

# 3DPW: OpenPose's 18 stored joints (x, y, conf), OPENPOSE_JOINTS order.
# Valid joints span x 200..300, y 100..300; R_Eye (14) sits at the 0.05
# threshold and L_Eye (15) below it, both far outside that span.
PW3D_OPENPOSE = [
    [250, 100, 0.9], [250, 130, 0.9], [220, 140, 0.9], [210, 180, 0.9],
    [205, 220, 0.9], [280, 140, 0.9], [290, 180, 0.9], [295, 220, 0.9],
    [220, 250, 0.8], [215, 280, 0.9], [200, 300, 0.9], [280, 250, 0.5],
    [285, 280, 0.9], [300, 300, 0.9], [600, 400, 0.05], [5, 5, 0.04],
    [240, 105, 0.9], [260, 105, 0.9]]
PW3D_BBOX = [100, 50, 80, 200]
PW3D_CLIPPED_BBOX = [-20, 300, 100, 200]
PW3D_CAM = {'focal': [1500.0, 1500.0], 'princpt': [320.0, 212.0]}

# Human3.6M: camera (world -> camera X_c = R X + t, t mm) and joints.
H36M_R = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
H36M_T = [100.0, 200.0, 3000.0]
H36M_F = [1000.0, 1100.0]
H36M_C = [320.0, 212.0]
H36M_FRAMES = (0, 3, 5, 10, 64)


def h36m_world_joints(frame):
    """(17, 3) world mm of a frame: joint j at (10 j + f, -5 j, 1000 + j)."""
    return [[10.0 * j + frame, -5.0 * j, 1000.0 + j] for j in range(17)]


def _coco(images, annotations):
    return {'images': images, 'annotations': annotations,
            'categories': [{'id': 1, 'name': 'person'}]}


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _image(image: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, path)


def write_pw3d(root: Path, image: Path) -> None:
    seq = 'courtyard_basketball_00'
    _image(image, root / 'imageFiles' / seq / 'image_00000.jpg')
    img = {'id': 7, 'file_name': 'image_00000.jpg', 'sequence': seq,
           'width': IMG_W, 'height': IMG_H, 'cam_param': PW3D_CAM}
    flat = [v for joint in PW3D_OPENPOSE for v in joint]
    smpl = {'pose': POSE, 'shape': SHAPE, 'trans': TRANS, 'gender': 'female'}
    anns = [
        # OpenPose joints as above.
        {'id': 11, 'image_id': 7, 'bbox': PW3D_BBOX, 'smpl_param': smpl,
         'openpose_result': flat},
        # No OpenPose joint above the threshold: the GT box is used.
        {'id': 12, 'image_id': 7, 'bbox': PW3D_CLIPPED_BBOX,
         'smpl_param': dict(smpl, gender='male'),
         'openpose_result': [0.0] * 54},
        # Malformed: 17 OpenPose joints.
        {'id': 13, 'image_id': 7, 'bbox': PW3D_BBOX, 'smpl_param': smpl,
         'openpose_result': flat[:51]},
        # Empty box: dropped as in the release.
        {'id': 14, 'image_id': 7, 'bbox': [10, 10, 0, 50],
         'smpl_param': smpl, 'openpose_result': flat},
    ]
    for split in ('train', 'validation', 'test'):
        _dump(root / 'data' / f'3DPW_latest_{split}.json', _coco([img], anns))


def write_human36m(root: Path, image: Path) -> None:
    ann_dir = root / 'annotations'
    for subject in (1, 5, 6, 7, 8, 9, 11):
        images, anns, joints, fits = [], [], {}, {}
        for cam in (1, 4):
            for frame in H36M_FRAMES:
                name = (f's_{subject:02d}_act_02_subact_01_ca_{cam:02d}/'
                        f's_{subject:02d}_act_02_subact_01_ca_{cam:02d}_'
                        f'{frame + 1:06d}.jpg')
                _image(image, root / 'images' / name)
                img_id = subject * 1000 + cam * 100 + frame
                images.append({
                    'id': img_id, 'file_name': name, 'width': IMG_W,
                    'height': IMG_H, 'subject': subject, 'action_name':
                    'Directions', 'action_idx': 2, 'subaction_idx': 1,
                    'cam_idx': cam, 'frame_idx': frame})
                anns.append({'id': img_id, 'image_id': img_id,
                             'bbox': [100, 50, 80, 200],
                             'keypoints_vis': [True] * 17})
        for frame in H36M_FRAMES:
            joints[str(frame)] = h36m_world_joints(frame)
            if frame != 10:  # frame 10 has no SMPL fit
                fits[str(frame)] = {'pose': POSE, 'shape': SHAPE,
                                    'trans': TRANS}
        cam = {'R': H36M_R, 't': H36M_T, 'f': H36M_F, 'c': H36M_C}
        prefix = f'Human36M_subject{subject}_'
        _dump(ann_dir / f'{prefix}data.json', _coco(images, anns))
        _dump(ann_dir / f'{prefix}camera.json', {'1': cam, '4': cam})
        _dump(ann_dir / f'{prefix}joint_3d.json', {'2': {'1': joints}})
        _dump(ann_dir / f'{prefix}smpl_param.json', {'2': {'1': fits}})


def muco_person(x0, depth):
    """(21, 2) image px and (21, 3) camera mm of a MuCo person: joint j at
    (x0 + j, 100 + 2 j), depth ``depth`` + j (pelvis = joint 14)."""
    img = [[x0 + j, 100.0 + 2 * j] for j in range(21)]
    cam = [[float(j), float(2 * j), depth + j] for j in range(21)]
    return img, cam


# MuCo people of image 1: (ann id, tight box, x0, depth). 32 is the closest;
# 31 overlaps it (IoU 0.164), 34 barely (IoU 0.053 < 0.1), 33 not at all.
MUCO_PEOPLE = ((31, [150, 100, 80, 200], 150.0, 5000.0),
               (32, [100, 50, 80, 200], 100.0, 3000.0),
               (33, [400, 50, 80, 200], 400.0, 4000.0),
               (34, [172, 50, 80, 200], 172.0, 6000.0))


def write_muco(root: Path, image: Path) -> None:
    data = root / 'data'
    images = []
    for img_id, name in ((1, 'augmented_set/000001.jpg'),
                         (2, 'unaugmented_set/000002.jpg')):
        _image(image, data / name)
        images.append({'id': img_id, 'file_name': name, 'width': IMG_W,
                       'height': IMG_H, 'f': [1500.0, 1500.0],
                       'c': [320.0, 212.0]})
    anns = []
    for aid, box, x0, depth in MUCO_PEOPLE:
        kimg, kcam = muco_person(x0, depth)
        anns.append({'id': aid, 'image_id': 1, 'bbox': box,
                     'keypoints_img': kimg, 'keypoints_cam': kcam})
    kimg, kcam = muco_person(300.0, 3500.0)
    anns.append({'id': 41, 'image_id': 2, 'bbox': [300, 100, 60, 120],
                 'keypoints_img': kimg, 'keypoints_cam': kcam})
    _dump(data / 'MuCo-3DHP.json', _coco(images, anns))
    _dump(data / 'smpl_param.json',
          {'32': {'pose': POSE, 'shape': SHAPE, 'trans': TRANS}})


def coco_keypoints(x0, visible=None):
    """51 values: keypoint k at (x0 + 3 k, 60 + 10 k), visibility 2 unless
    ``visible[k]`` says otherwise."""
    out = []
    for k in range(17):
        out += [x0 + 3.0 * k, 60.0 + 10 * k,
                2 if visible is None else visible[k]]
    return out


# Person 101: left hip (11) unlabelled, so the pelvis is invalid; nose
# labelled but occluded (v 1, valid).
COCO_VIS_101 = [1] + [2] * 10 + [0] + [2] * 5


def write_coco(root: Path, image: Path) -> None:
    _image(image, root / 'images' / 'train2017' / '000000000785.jpg')
    img = {'id': 785, 'file_name': '000000000785.jpg', 'width': IMG_W,
           'height': IMG_H}
    person = {'image_id': 785, 'category_id': 1, 'iscrowd': 0,
              'num_keypoints': 16}
    anns = [
        dict(person, id=101, bbox=[100, 50, 80, 200],
             keypoints=coco_keypoints(100.0, COCO_VIS_101)),
        dict(person, id=102, bbox=[100, 50, 80, 200], iscrowd=1,
             keypoints=coco_keypoints(100.0)),
        dict(person, id=103, bbox=[100, 50, 80, 200], num_keypoints=0,
             keypoints=[0.0] * 51),
        dict(person, id=104, bbox=[150, 100, 80, 200],
             keypoints=coco_keypoints(150.0)),
        dict(person, id=105, bbox=[150, 100, 80, 200],
             keypoints=coco_keypoints(150.0)[:50]),
    ]
    _dump(root / 'annotations' / 'person_keypoints_train2017.json',
          _coco([img], anns))
    fit = {'smpl_param': {'pose': POSE, 'shape': SHAPE, 'trans': TRANS},
           'cam_param': {'focal': [5000.0, 5000.0],
                         'princpt': [320.0, 212.5]}}
    _dump(root / 'annotations' / 'MSCOCO_train_SMPL_NeuralAnnot.json',
          {'101': fit})


def mpii_keypoints(x0):
    """48 values: MPII joint k at (x0 + 4 k, 70 + 9 k), visible except the
    head top (9)."""
    out = []
    for k in range(16):
        out += [x0 + 4.0 * k, 70.0 + 9 * k, 0 if k == 9 else 1]
    return out


def write_mpii(root: Path, image: Path) -> None:
    _image(image, root / 'data' / 'images' / '015601864.jpg')
    img = {'id': 3, 'file_name': 'images/015601864.jpg', 'width': IMG_W,
           'height': IMG_H}
    anns = [{'id': 201, 'image_id': 3, 'bbox': [100, 50, 80, 200],
             'keypoints': mpii_keypoints(100.0), 'num_keypoints': 15},
            {'id': 202, 'image_id': 3, 'bbox': [150, 100, 80, 200],
             'keypoints': mpii_keypoints(150.0), 'num_keypoints': 15}]
    ann_dir = root / 'data' / 'annotations'
    _dump(ann_dir / 'train.json', _coco([img], anns))
    fit = {'smpl_param': {'pose': POSE, 'shape': SHAPE, 'trans': TRANS},
           'cam_param': {'focal': [5000.0, 5000.0],
                         'princpt': [320.0, 212.5]}}
    _dump(ann_dir / 'MPII_train_SMPL_NeuralAnnot.json', {'202': fit})


def write_mesh_data(root: Path, image: Path) -> Path:
    """All five sets under ``root`` (the ``data/mesh`` of the layout)."""
    write_pw3d(root / 'PW3D', image)
    write_human36m(root / 'Human36M', image)
    write_muco(root / 'MuCo', image)
    write_coco(root / 'MSCOCO', image)
    write_mpii(root / 'MPII', image)
    return root
