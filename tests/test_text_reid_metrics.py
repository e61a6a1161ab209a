"""Text-to-image retrieval metrics against hand-computed rankings."""
import tracemalloc

import numpy as np
import pytest
import torch

from hap_mm.evaluation import (
    TextImageRetrievalMetric,
    text_image_retrieval_metrics,
    text_image_retrieval_metrics_from_features,
)

GALLERY_PIDS = [1, 2, 1, 3]
QUERY_PIDS = [1, 2, 3, 9]
SIMILARITY = [
    # ranking g0 g1 g3 g2: matches (pid 1) at ranks 1 and 4
    [0.9, 0.8, 0.1, 0.5],
    # ranking g0 g2 g3 g1: the match at rank 4
    [0.9, 0.2, 0.8, 0.7],
    # g1 and g3 tie: gallery order puts g1 first, the match g3 at rank 2
    [0.3, 0.5, 0.2, 0.5],
    # pid 9 is not in the gallery: excluded
    [0.1, 0.2, 0.3, 0.4],
]
# By hand: first-match ranks 1, 4, 2; AP 0.75, 0.25, 0.5; INP 2/4, 1/4, 1/2.
EXPECTED = {
    'R1': 100 / 3, 'R2': 200 / 3, 'R4': 100.0,
    'mAP': 100 * (0.75 + 0.25 + 0.5) / 3,
    'mINP': 100 * (0.5 + 0.25 + 0.5) / 3,
}


@pytest.mark.parametrize('chunk_size', [None, 1, 3])
def test_hand_computed_with_tie_and_unmatched_query(chunk_size):
    out = text_image_retrieval_metrics(
        np.array(SIMILARITY), QUERY_PIDS, GALLERY_PIDS, topk=(1, 2, 4),
        chunk_size=chunk_size)
    for key, value in EXPECTED.items():
        assert out[key] == pytest.approx(value), key
    assert out['num_valid_queries'] == 3
    assert out['num_excluded_queries'] == 1


def test_default_keys_and_errors():
    out = text_image_retrieval_metrics(torch.tensor(SIMILARITY), QUERY_PIDS,
                                       GALLERY_PIDS)
    assert {'R1', 'R5', 'R10', 'mAP', 'mINP'} <= set(out)
    # k beyond the gallery size: every matched query counts.
    assert out['R5'] == out['R10'] == 100.0
    with pytest.raises(ValueError, match='no query has'):
        text_image_retrieval_metrics(np.ones((2, 3)), [7, 8], [1, 2, 3])
    with pytest.raises(ValueError, match='query_pids'):
        text_image_retrieval_metrics(np.ones((2, 3)), [1], [1, 2, 3])
    with pytest.raises(ValueError, match='topk'):
        text_image_retrieval_metrics(np.ones((2, 3)), [1, 2], [1, 2, 3],
                                     topk=(0, ))


def test_from_features_is_cosine_similarity():
    rng = np.random.RandomState(0)
    text, image = rng.randn(9, 5), rng.randn(6, 5)
    q_pids, g_pids = rng.randint(0, 3, 9), np.array([0, 1, 2, 0, 1, 2])
    cosine = (text / np.linalg.norm(text, axis=1, keepdims=True)) @ (
        image / np.linalg.norm(image, axis=1, keepdims=True)).T
    expected = text_image_retrieval_metrics(cosine, q_pids, g_pids)
    # Scaling a feature changes a dot product but not the cosine.
    out = text_image_retrieval_metrics_from_features(
        text * rng.uniform(0.5, 3, (9, 1)), image * rng.uniform(0.5, 3, (6, 1)),
        q_pids, g_pids, chunk_size=2)
    for key in ('R1', 'R5', 'mAP', 'mINP'):
        assert out[key] == pytest.approx(expected[key]), key


def test_work_memory_is_bounded_by_the_chunk():
    # 2,000 captions x 3,074 images: ranking the whole matrix at once would
    # need about 48 B x 6.1M = 295 MB of numpy work arrays.
    rng = torch.Generator().manual_seed(0)
    text, image = torch.randn(2000, 16, generator=rng), torch.randn(
        3074, 16, generator=rng)
    q_pids, g_pids = np.arange(2000) % 1000, np.arange(3074) % 1000
    tracemalloc.start()
    text_image_retrieval_metrics_from_features(text, image, q_pids, g_pids)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 120 * 2**20


def test_metric_class_uses_each_image_once():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    samples = [
        dict(pred_text_feature=torch.tensor([1.0, 0.1]), pred_image_feature=a,
             img_path='a.jpg', gt_label=torch.tensor([1])),
        dict(pred_text_feature=torch.tensor([0.1, 1.0]), pred_image_feature=a,
             img_path='a.jpg', gt_label=torch.tensor([1])),
        dict(pred_text_feature=torch.tensor([0.0, 1.0]), pred_image_feature=b,
             img_path='b.jpg', gt_label=torch.tensor([2])),
    ]
    metric = TextImageRetrievalMetric()
    metric.process(None, samples)
    out = metric.evaluate(3)
    # Gallery {a (pid 1), b (pid 2)}; first-match ranks 1, 2, 1.
    assert out['t2i/R1'] == pytest.approx(200 / 3)
    assert out['t2i/mAP'] == pytest.approx(100 * (1 + 0.5 + 1) / 3)
    assert out['t2i/mINP'] == pytest.approx(100 * (1 + 0.5 + 1) / 3)
    with pytest.raises(KeyError, match='pred_text_feature'):
        metric.process(None, [dict(img_path='a.jpg', gt_label=1)])
