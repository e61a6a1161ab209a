"""Pictures of what HAP does: keypoints, chosen parts, masks, reconstructions.
"""
from typing import Optional, Sequence

import numpy as np
from mmengine.visualization import Visualizer
from mmpretrain.registry import VISUALIZERS

from ..datasets.coco_keypoints import SKELETON

GREY = np.array([128, 128, 128], np.uint8)
PART_COLOUR = np.array([255, 64, 64], np.uint8)


def grey_patches(img: np.ndarray, mask: np.ndarray, patch: int) -> np.ndarray:
    """Blend masked patches towards grey.

    Args:
        img (np.ndarray): (H, W, 3) uint8.
        mask (np.ndarray): bool (H/p, W/p), True = masked.
        patch (int): Patch side in pixels.
    """
    pix = np.kron(mask, np.ones((patch, patch), bool))
    out = img.copy()
    out[pix] = (0.25 * out[pix] + 0.75 * GREY).astype(np.uint8)
    return out


def tint_patches(img: np.ndarray, mask: np.ndarray, patch: int) -> np.ndarray:
    """Tint the patches in ``mask`` red (the top-priority part patches)."""
    pix = np.kron(mask, np.ones((patch, patch), bool))
    out = img.copy()
    out[pix] = (0.5 * out[pix] + 0.5 * PART_COLOUR).astype(np.uint8)
    return out


@VISUALIZERS.register_module()
class HAPVisualizer(Visualizer):
    """mmengine ``Visualizer`` that lays out HAP samples as labelled rows.

    Images are RGB uint8 (H, W, 3) throughout.
    """

    def draw_keypoints(self,
                       img: np.ndarray,
                       keypoints: np.ndarray,
                       scores: np.ndarray,
                       score_thr: float = 0.0) -> np.ndarray:
        """Skeleton and joints of one person.

        Args:
            keypoints (np.ndarray): (17, 2) pixels.
            scores (np.ndarray): (17,); joints at or below ``score_thr`` (and
                segments touching them) are not drawn.
        """
        self.set_image(img)
        ok = np.isfinite(keypoints).all(-1) & (scores > score_thr)
        for a, b in SKELETON:
            if ok[a] and ok[b]:
                self.draw_lines(
                    np.array([keypoints[a, 0], keypoints[b, 0]]),
                    np.array([keypoints[a, 1], keypoints[b, 1]]),
                    colors='lime',
                    line_widths=1.5)
        if ok.any():
            self.draw_points(keypoints[ok], colors='yellow', sizes=12)
        return self.get_image()

    def draw_row(self,
                 panels: Sequence[np.ndarray],
                 labels: Sequence[str],
                 gap: int = 4,
                 label_height: int = 16) -> np.ndarray:
        """Panels side by side with a caption above each."""
        h = max(p.shape[0] for p in panels)
        cols = []
        for panel, label in zip(panels, labels):
            canvas = np.full((h + label_height, panel.shape[1], 3), 255,
                             np.uint8)
            canvas[label_height:label_height + panel.shape[0]] = panel
            self.set_image(canvas)
            self.draw_texts(
                label,
                np.array([2, 1]),
                colors='black',
                font_sizes=8,
                vertical_alignments='top')
            cols.append(self.get_image())
            cols.append(np.full((h + label_height, gap, 3), 255, np.uint8))
        return np.concatenate(cols[:-1], axis=1)

    def draw_masked_sample(self,
                           img: np.ndarray,
                           keypoints: Optional[np.ndarray],
                           scores: Optional[np.ndarray],
                           part_mask: np.ndarray,
                           masks: np.ndarray,
                           patch_size: int,
                           score_thr: float = 0.0) -> np.ndarray:
        """Crop with skeleton | chosen part patches | one panel per view.

        Args:
            part_mask (np.ndarray): bool (V, h, w) top-priority part patches.
            masks (np.ndarray): bool (V, h, w), True = masked.
        """
        panels, labels = [], []
        if keypoints is not None:
            panels.append(self.draw_keypoints(img, keypoints, scores,
                                              score_thr))
        else:
            panels.append(img)
        labels.append('crop + keypoints')
        panels.append(tint_patches(img, part_mask.any(0), patch_size))
        labels.append('part patches')
        for v, mask in enumerate(masks):
            panels.append(
                tint_patches(
                    grey_patches(img, mask, patch_size), part_mask[v],
                    patch_size))
            labels.append(f'view {v + 1}: {int(mask.sum())} masked')
        return self.draw_row(panels, labels)
