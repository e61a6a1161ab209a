"""Pedestrian attribute recognition metrics (label- and instance-based)."""
from typing import Dict

import numpy as np

EPS = 1e-20


def attribute_metrics(scores: np.ndarray,
                      labels: np.ndarray,
                      threshold: float = 0.5) -> Dict[str, float]:
    """Label-based mA and instance-based accuracy, precision, recall, F1.

    An attribute is predicted present when its score is greater than
    ``threshold``. With P the predicted and G the true attribute set of an
    image:

    - ``mA``: mean over attributes of (TPR + TNR) / 2;
    - ``accuracy``: mean over images of |P & G| / |P | G|;
    - ``precision``: mean over images of |P & G| / |P|;
    - ``recall``: mean over images of |P & G| / |G|;
    - ``f1``: 2 * precision * recall / (precision + recall) of those means.

    Every ratio divides by (denominator + 1e-20): an empty P, G, positive or
    negative set contributes 0 to its ratio, never a division by zero.

    Args:
        scores (np.ndarray): Predicted probabilities, (N, A).
        labels (np.ndarray): Ground truth in {0, 1}, (N, A).
        threshold (float): Decision threshold on ``scores``.

    Returns:
        dict: ``mA``, ``accuracy``, ``precision``, ``recall``, ``f1``, all
        floats in percent.

    Raises:
        ValueError: the shapes differ or are not 2-D, or labels hold values
            other than 0 and 1.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or scores.shape != labels.shape:
        raise ValueError('scores and labels must both be (N, A), got '
                         f'{scores.shape} and {labels.shape}')
    if not np.isin(labels, (0, 1)).all():
        raise ValueError('labels must be 0 or 1, got values '
                         f'{np.unique(labels)[:10].tolist()}')
    gt = labels.astype(bool)
    pred = scores > threshold

    true_pos = (pred & gt).sum(0)
    true_neg = (~pred & ~gt).sum(0)
    tpr = true_pos / (gt.sum(0) + EPS)
    tnr = true_neg / ((~gt).sum(0) + EPS)
    mean_acc = float(((tpr + tnr) / 2).mean())

    inter = (pred & gt).sum(1)
    accuracy = float((inter / ((pred | gt).sum(1) + EPS)).mean())
    precision = float((inter / (pred.sum(1) + EPS)).mean())
    recall = float((inter / (gt.sum(1) + EPS)).mean())
    f1 = 2 * precision * recall / (precision + recall + EPS)
    return {
        'mA': mean_acc * 100,
        'accuracy': accuracy * 100,
        'precision': precision * 100,
        'recall': recall * 100,
        'f1': f1 * 100,
    }
