"""reid_metrics (Market-1501 protocol) and ReIDMetric on hand-made cases."""
import numpy as np
import pytest
import torch

from hap_mm.evaluation import ReIDMetric, reid_metrics, reid_metrics_from_features


def _reference(distmat, q_pids, g_pids, q_camids, g_camids):
    """Per-query loop, written from the protocol's definition."""
    aps, first = [], []
    for i in range(len(q_pids)):
        order = sorted(range(len(g_pids)), key=lambda j: distmat[i, j])
        order = [
            j for j in order
            if not (g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i])
        ]
        hits = [g_pids[j] == q_pids[i] for j in order]
        if not any(hits):
            continue
        ranks = [r + 1 for r, h in enumerate(hits) if h]
        aps.append(np.mean([(n + 1) / r for n, r in enumerate(ranks)]))
        first.append(ranks[0])
    first = np.array(first)
    return 100 * np.mean(aps), {k: 100 * np.mean(first <= k)
                                for k in (1, 5, 10)}


def test_same_pid_same_camera_gallery_entries_are_removed():
    # ranked: g2 (same pid+cam: removed), g1 pid 2, g0 hit, g4 pid 3, g3 hit
    distmat = np.array([[0.3, 0.1, 0.05, 0.5, 0.4]])
    out = reid_metrics(distmat, np.array([1]), np.array([1, 2, 1, 1, 3]),
                       np.array([0]), np.array([1, 1, 0, 2, 1]))
    assert out['mAP'] == pytest.approx(100 * (1 / 2 + 2 / 4) / 2)
    assert out['rank1'] == 0 and out['rank5'] == out['rank10'] == 100
    assert out['num_valid_queries'] == 1


def test_same_camera_other_pid_is_kept():
    distmat = np.array([[0.1, 0.2]])
    out = reid_metrics(distmat, np.array([1]), np.array([7, 1]),
                       np.array([0]), np.array([0, 1]))
    assert out['mAP'] == pytest.approx(50.0)
    assert out['rank1'] == 0.0


def test_query_without_valid_match_is_skipped():
    g_pids, g_camids = np.array([1, 2, 4]), np.array([1, 1, 0])
    # query 0: pid 1, hit first (AP 1); query 1: pid 4 only in its own
    # camera 0 -> skipped; query 2: pid 2 ranked second (AP 0.5)
    distmat = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    out = reid_metrics(distmat, np.array([1, 4, 2]), g_pids,
                       np.array([0, 0, 0]), g_camids)
    assert out['num_valid_queries'] == 2
    assert out['mAP'] == pytest.approx(75.0)
    assert out['rank1'] == pytest.approx(50.0)
    assert out['rank5'] == pytest.approx(100.0)


def test_all_queries_skipped_is_an_error():
    with pytest.raises(ValueError, match='no query has a true match'):
        reid_metrics(
            np.zeros((2, 2)), np.array([1, 2]), np.array([1, 2]),
            np.array([0, 0]), np.array([0, 0]))


@pytest.mark.parametrize('gallery_pids,ap', [([2, 1], 50.0), ([1, 2],
                                                                100.0)])
def test_ties_keep_gallery_order(gallery_pids, ap):
    out = reid_metrics(
        np.zeros((1, 2)), np.array([1]), np.array(gallery_pids),
        np.array([0]), np.array([1, 1]))
    assert out['mAP'] == pytest.approx(ap)


def test_matches_a_per_query_loop_over_several_query_blocks():
    rng = np.random.RandomState(0)
    num_q, num_g = 300, 60  # more queries than one vectorised block
    distmat = rng.randint(0, 20, size=(num_q, num_g)).astype(float)  # ties
    q_pids, g_pids = rng.randint(0, 8, num_q), rng.randint(0, 8, num_g)
    q_cams, g_cams = rng.randint(0, 3, num_q), rng.randint(0, 3, num_g)
    out = reid_metrics(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=5)
    m_ap, ranks = _reference(distmat, q_pids, g_pids, q_cams, g_cams)
    assert out['mAP'] == pytest.approx(m_ap)
    for k, value in ranks.items():
        assert out[f'rank{k}'] == pytest.approx(value)
    assert out['cmc'].shape == (5, )
    assert out['cmc'][0] == pytest.approx(out['rank1'])
    assert out['cmc'][4] == pytest.approx(out['rank5'])


def test_shape_mismatch_names_the_argument():
    with pytest.raises(ValueError, match='g_camids'):
        reid_metrics(
            np.zeros((1, 3)), np.array([1]), np.array([1, 2, 3]),
            np.array([0]), np.array([0, 1]))


def _sample(feature, pid, camid, is_query):
    return dict(
        pred_feature=torch.tensor(feature, dtype=torch.float32),
        pid=pid,
        camid=camid,
        is_query=is_query)


def test_reid_metric_ranks_l2_normalised_features():
    # the true match is far in L2 but parallel to the query: it ranks first
    # only once the features are L2-normalised (the release's FEAT_NORM)
    samples = [
        _sample([1.0, 0.0], 1, 0, True),
        _sample([10.0, 1.0], 1, 1, False),
        _sample([0.5, 0.5], 2, 1, False),
    ]
    metric = ReIDMetric(chunk_size=1)
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    assert set(out) == {'mAP', 'rank1', 'rank5', 'rank10'}
    assert out['mAP'] == pytest.approx(100.0)


def _normalised_sq_euclidean(query, gallery):
    """Squared L2 distances of L2-normalised rows, float64 numpy."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    return ((q[:, None, :] - g[None, :, :])**2).sum(-1)


def _ties_case(rng, num_q, num_g):
    """Features with four ones among 12 dims: every distance is one of a few
    exactly representable values, so many gallery entries tie."""
    def rows(n):
        out = np.zeros((n, 12), np.float32)
        for row in out:
            row[rng.choice(12, 4, replace=False)] = 1.0
        return out
    return rows(num_q), rows(num_g)


@pytest.mark.parametrize('case', ['random', 'ties'])
def test_chunked_features_metric_equals_full_matrix(case):
    rng = np.random.RandomState(1)
    num_q, num_g = 37, 90
    if case == 'random':
        query = rng.randn(num_q, 16).astype(np.float32)
        gallery = rng.randn(num_g, 16).astype(np.float32)
    else:
        query, gallery = _ties_case(rng, num_q, num_g)
        assert len(np.unique(_normalised_sq_euclidean(query, gallery))) < 10
    # few ids and cameras: many same-pid same-camera gallery entries
    q_pids, g_pids = rng.randint(0, 6, num_q), rng.randint(0, 6, num_g)
    q_cams, g_cams = rng.randint(0, 2, num_q), rng.randint(0, 2, num_g)
    assert ((q_pids[:, None] == g_pids) & (q_cams[:, None] == g_cams)).any()
    distmat = _normalised_sq_euclidean(query, gallery)
    full = reid_metrics(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    m_ap, ranks = _reference(distmat, q_pids, g_pids, q_cams, g_cams)
    assert full['mAP'] == pytest.approx(m_ap)
    assert full['rank1'] == pytest.approx(ranks[1])
    for chunk_size in (None, 1, 7, 37, 100):
        out = reid_metrics_from_features(
            torch.from_numpy(query), gallery, q_pids, g_pids, q_cams, g_cams,
            max_rank=20, chunk_size=chunk_size)
        assert set(out) == set(full)
        assert out['num_valid_queries'] == full['num_valid_queries']
        for key in ('mAP', 'rank1', 'rank5', 'rank10'):
            assert out[key] == pytest.approx(full[key], abs=1e-9), key
        np.testing.assert_allclose(out['cmc'], full['cmc'])


def test_features_metric_checks_shapes():
    with pytest.raises(ValueError, match='g_camids'):
        reid_metrics_from_features(
            np.ones((1, 4)), np.ones((3, 4)), np.array([1]),
            np.array([1, 2, 3]), np.array([0]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r'\(G, C\)'):
        reid_metrics_from_features(
            np.ones((1, 4)), np.ones((3, 5)), np.array([1]),
            np.array([1, 2, 3]), np.array([0]), np.array([0, 1, 1]))


def test_reid_metric_needs_pid_camid_and_query_flag():
    metric = ReIDMetric()
    with pytest.raises(KeyError, match='camid'):
        metric.process({}, [dict(pred_feature=torch.zeros(2), pid=1,
                                 is_query=True)])


def test_reid_metric_needs_both_query_and_gallery():
    metric = ReIDMetric()
    metric.process({}, [_sample([1.0, 0.0], 1, 0, True)])
    with pytest.raises(ValueError, match='query and gallery'):
        metric.compute_metrics(metric.results)
