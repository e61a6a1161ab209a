"""tools/visualization/show_mesh.py and its drawing functions on synthetic
meshes, against projections computed by hand."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hap_mm.visualization import affine_points, draw_mesh_points, project_points

REPO = Path(__file__).resolve().parents[1]
ORANGE = (255, 96, 32)  # nearest vertex colour
BLUE = (32, 96, 255)  # farthest vertex colour


def _show_mesh():
    spec = importlib.util.spec_from_file_location(
        'hap_tool_show_mesh', REPO / 'tools/visualization/show_mesh.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_projection_and_affine_map_by_hand():
    pts = project_points(
        np.array([[0.1, -0.2, 5.0], [0.0, 0.0, -1.0], [0.0, 0.0, 2.0]]),
        (5000, 4000), (128, 100))
    # 5000 * 0.1 / 5 + 128 = 228; 4000 * -0.2 / 5 + 100 = -60
    np.testing.assert_allclose(pts[0], [228, -60])
    assert np.isnan(pts[1]).all()  # behind the camera
    np.testing.assert_allclose(pts[2], [128, 100])
    trans = np.array([[2.0, 0, 5], [0, 3.0, -1]])
    np.testing.assert_allclose(affine_points(np.array([[10.0, 20]]), trans),
                               [[25, 59]])
    with pytest.raises(ValueError, match=r'\(V, 3\)'):
        project_points(np.zeros((4, 2)), (1, 1), (0, 0))


def test_nearest_vertex_wins_and_outside_points_are_skipped():
    img = np.zeros((10, 12, 3), np.uint8)
    points = np.array([[2, 3], [2, 3], [7, 7], [50, 2], [np.nan, 1]],
                      dtype=np.float64)
    depth = np.array([1.0, 2.0, 3.0, 1.5, 1.0])
    out = draw_mesh_points(img, points, depth, radius=0, alpha=1.0)
    assert tuple(out[3, 2]) == ORANGE  # depth 1 over depth 2
    assert tuple(out[7, 7]) == BLUE
    assert (out > 0).any(-1).sum() == 2
    assert not img.any()  # the input is not drawn on
    # radius 1: 3x3 squares, alpha 0.5 over grey
    grey = np.full((10, 12, 3), 100, np.uint8)
    out = draw_mesh_points(grey, points[:1], depth[:1], radius=1, alpha=0.5)
    changed = (out != 100).any(-1)
    assert changed.sum() == 9 and changed[2:5, 1:4].all()
    assert tuple(out[3, 2]) == (178, 98, 66)  # (100 + colour) / 2, rounded


def test_mesh_panels_draw_where_the_virtual_camera_projects():
    show_mesh = _show_mesh()
    rng = np.random.default_rng(0)
    # a 4 cm ball 5 m in front of the camera, 5 cm right of the axis: it
    # projects around (128 + 5000 * 0.05 / 5, 128) = (178, 128), radius
    # about 5000 * 0.04 / 5 = 40 px
    ball = rng.normal(0, 1, (6890, 3))
    ball = 0.04 * ball / np.linalg.norm(ball, axis=1, keepdims=True)
    vertices = ball + [0.05, 0, 5]
    crop = np.full((256, 256, 3), 128, np.uint8)
    image = np.full((400, 600, 3), 128, np.uint8)
    # input px -> image px: x0.5, then (+100, +50)
    bb2img = np.array([[0.5, 0, 100], [0, 0.5, 50]])
    crop_drawn, image_drawn = show_mesh.mesh_panels(
        crop, image, vertices, (5000, 5000), (128, 128), bb2img)
    ys, xs = np.nonzero((crop_drawn != 128).any(-1))
    assert abs(xs.mean() - 178) < 3 and abs(ys.mean() - 128) < 3
    assert xs.min() >= 178 - 41 and xs.max() <= 178 + 41  # the ball's extent
    assert ys.min() >= 128 - 41 and ys.max() <= 128 + 41
    ys, xs = np.nonzero((image_drawn != 128).any(-1))
    # (178, 128) -> (0.5 * 178 + 100, 0.5 * 128 + 50) = (189, 114)
    assert abs(xs.mean() - 189) < 3 and abs(ys.mean() - 114) < 3
    assert xs.max() <= 189 + 20 + 2 and xs.min() >= 189 - 20 - 2
