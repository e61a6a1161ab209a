"""Pedestrian attributes of images with a trained hap_mm attribute model,
and a picture of them (the crop beside a bar chart of the probabilities)."""
import sys
from typing import List, Sequence, Tuple

import numpy as np
import torch

from .inference import list_images, load_image, pack_batch


@torch.no_grad()
def predict_attributes(model,
                       inputs,
                       batch_size: int = 32,
                       progress: bool = True) -> Tuple[np.ndarray, List]:
    """Attribute probabilities (N, A) float32 from the model's test path
    (``test_step``: the head's sigmoid ``pred_score``), one row per image.

    Args:
        model: An attribute model from :func:`init_model`.
        inputs: A folder, a path, an array, or a list of them (see
            :func:`list_images`).
        batch_size (int): Images per forward.
        progress (bool): A progress bar on stderr.

    Returns:
        (probabilities (N, A), the images as :func:`list_images` lists them).

    Raises:
        FileNotFoundError / ValueError: a missing or undecodable image.
    """
    from mmengine.utils import ProgressBar
    items = list_images(inputs)
    bar = ProgressBar(len(items), file=sys.stderr) if progress else None
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        samples = model.test_step(pack_batch(model, chunk))
        if 'pred_score' not in samples[0]:
            raise ValueError(f'{type(model.head).__name__} gives no '
                             'pred_score: not an attribute model')
        out.append(torch.stack([s.pred_score for s in samples]).float().cpu())
        if bar is not None:
            for _ in chunk:
                bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    return torch.cat(out).numpy(), items


def attribute_names(model, num: int) -> List[str]:
    """The checkpoint's attribute names (``dataset_meta['classes']``), or
    ``attr0`` ... when it has none (or another number of them)."""
    names = list(getattr(model, 'dataset_meta', {}).get('classes') or [])
    return names if len(names) == num else [f'attr{i}' for i in range(num)]


def attribute_picture(image, probs: Sequence[float], names: Sequence[str],
                      threshold: float, height: int = 256) -> np.ndarray:
    """The image (``height`` px high) beside a bar per attribute (its
    probability; green at or above ``threshold``, grey below; a line marks
    the threshold), (H, W, 3) BGR."""
    import cv2
    img = load_image(image)
    width = max(1, round(img.shape[1] * height / img.shape[0]))
    crop = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    row_h, label_w, bar_w, pad = 14, 150, 160, 6
    chart_h = max(height, pad * 2 + row_h * len(names))
    canvas = np.full((chart_h, width + pad + label_w + bar_w + 40 + pad, 3),
                     255, np.uint8)
    canvas[:height, :width] = crop
    x0 = width + pad + label_w
    for i, (name, p) in enumerate(zip(names, probs)):
        y = pad + i * row_h
        color = (0, 160, 0) if p >= threshold else (170, 170, 170)
        cv2.rectangle(canvas, (x0, y + 2), (x0 + int(bar_w * p), y + row_h - 2),
                      color, -1)
        cv2.putText(canvas, str(name)[:24], (width + pad, y + row_h - 3),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f'{p:.2f}', (x0 + bar_w + 4, y + row_h - 3),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    tx = x0 + int(bar_w * threshold)
    cv2.line(canvas, (tx, pad), (tx, pad + row_h * len(names)), (0, 0, 200), 1)
    return canvas
