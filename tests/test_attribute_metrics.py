"""attribute_metrics and AttributeMetric on hand-computed cases."""
import numpy as np
import pytest
import torch

from hap_mm.evaluation import AttributeMetric, attribute_metrics


def test_hand_computed_case():
    scores = np.array([[0.9, 0.2, 0.7], [0.1, 0.8, 0.6], [0.6, 0.4, 0.1]])
    labels = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0]])
    out = attribute_metrics(scores, labels)
    # attribute 0: TPR 2/2, TNR 1/1; 1: TPR 1/2, TNR 1/1; 2: TPR 1/1,
    # TNR 1/2
    assert out['mA'] == pytest.approx(100 * (1 + 0.75 + 0.75) / 3)
    # image 0: P={0,2} G={0}; image 1: P={1,2} G={1,2}; image 2: P={0}
    # G={0,1}
    assert out['accuracy'] == pytest.approx(100 * (1 / 2 + 1 + 1 / 2) / 3)
    precision, recall = (1 / 2 + 1 + 1) / 3, (1 + 1 + 1 / 2) / 3
    assert out['precision'] == pytest.approx(100 * precision)
    assert out['recall'] == pytest.approx(100 * recall)
    assert out['f1'] == pytest.approx(
        100 * 2 * precision * recall / (precision + recall))


def test_empty_predictions_and_labels_count_zero_without_nan():
    scores = np.array([[0.1, 0.2], [0.9, 0.1], [0.0, 0.0]])
    labels = np.array([[1, 0], [0, 0], [0, 0]])
    # image 0 predicts nothing, image 1 has no label, image 2 neither
    out = attribute_metrics(scores, labels)
    assert all(np.isfinite(v) for v in out.values())
    assert out['accuracy'] == 0.0
    assert out['precision'] == 0.0
    assert out['recall'] == 0.0
    assert out['f1'] == 0.0
    # attribute 0: TPR 0/1, TNR 1/2; attribute 1 has no positive: TPR 0,
    # TNR 3/3
    assert out['mA'] == pytest.approx(100 * (0.25 + 0.5) / 2)


def test_score_equal_to_threshold_is_not_a_prediction():
    out = attribute_metrics(np.array([[0.5]]), np.array([[1]]))
    assert out['recall'] == 0.0


def test_non_binary_labels_are_rejected():
    with pytest.raises(ValueError, match='0 or 1'):
        attribute_metrics(np.zeros((1, 2)), np.array([[1, 2]]))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r'\(N, A\)'):
        attribute_metrics(np.zeros((2, 3)), np.zeros((2, 2)))


def test_attribute_metric_reads_gt_score_or_gt_label():
    by_score = AttributeMetric()
    by_score.process({}, [
        dict(pred_score=torch.tensor([0.9, 0.2]),
             gt_score=torch.tensor([1., 0.])),
        dict(pred_score=torch.tensor([0.7, 0.8]),
             gt_score=torch.tensor([0., 1.])),
    ])
    by_label = AttributeMetric()
    by_label.process({}, [
        dict(pred_score=torch.tensor([0.9, 0.2]), gt_label=torch.tensor([0])),
        dict(pred_score=torch.tensor([0.7, 0.8]), gt_label=torch.tensor([1])),
    ])
    a = by_score.compute_metrics(by_score.results)
    b = by_label.compute_metrics(by_label.results)
    assert a == b
    # attribute 0: TPR 1/1, TNR 0/1; attribute 1: TPR 1/1, TNR 1/1
    assert a['mA'] == pytest.approx(100 * (0.5 + 1.0) / 2)
    assert set(a) == {'mA', 'accuracy', 'precision', 'recall', 'f1'}
