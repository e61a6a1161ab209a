import math
import subprocess
import sys

import pytest
import torch

from hap_mm.models.losses import StructureInvariantAlignLoss


def _hand_loss(z1, z2, t, weight):
    """The spec's formula with explicit loops, in float64."""
    def unit(rows):
        return [[x / math.sqrt(sum(y * y for y in v)) for x in v]
                for v in rows.double().tolist()]

    z1, z2 = unit(z1), unit(z2)

    def ce(q, k):
        total = 0.0
        for i, qi in enumerate(q):
            logits = [sum(a * b for a, b in zip(qi, kj)) / t for kj in k]
            total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
        return total / len(q) * 2 * t

    return weight * (ce(z1, z2) + ce(z2, z1))


def test_value_matches_hand_computation():
    torch.manual_seed(0)
    z1, z2 = torch.randn(3, 4), torch.randn(3, 4)
    loss = StructureInvariantAlignLoss(temperature=0.2, loss_weight=0.05)
    assert loss(z1, z2).item() == pytest.approx(
        _hand_loss(z1, z2, 0.2, 0.05), rel=1e-5)


def test_identical_views_score_lower_than_unrelated_ones():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    loss = StructureInvariantAlignLoss(loss_weight=1.0)
    assert loss(z, z) < loss(z, torch.randn(16, 8))


def test_rejects_non_positive_temperature():
    with pytest.raises(ValueError, match='temperature'):
        StructureInvariantAlignLoss(temperature=0)


def test_two_process_gloo_equals_one_process(tmp_path, repo_root):
    """Loss and gradients of a 2-rank gloo run equal one process's."""
    script = repo_root / 'tests' / 'helpers' / 'align_loss_ranks.py'
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29611', str(script), str(tmp_path)
    ],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref_loss, ref_grad = torch.load(tmp_path / 'single.pt')
    for rank in range(2):
        loss, grad = torch.load(tmp_path / f'rank{rank}.pt')
        assert loss.item() == pytest.approx(ref_loss.item(), abs=1e-6)
        assert torch.allclose(grad, ref_grad, atol=1e-6)


def test_value_under_cpu_autocast_equals_float32():
    """Under autocast (bf16 on CPU) the contrast still runs in float32: the
    loss equals the float32 loss to 1e-5 relative, for float32 and bf16
    features alike (ViT-B-sized CLS tokens, views alike as after training;
    a bf16 matmul, the old ``.float()``-only code, was off by 1e-3 to 5e-3
    relative on these)."""
    loss = StructureInvariantAlignLoss(loss_weight=1.0)
    for seed in range(3):
        torch.manual_seed(seed)
        z1 = torch.randn(8, 768)
        z2 = z1 + 0.5 * torch.randn(8, 768)
        want = loss(z1, z2)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = loss(z1, z2)
            got_bf16 = loss(z1.bfloat16(), z2.bfloat16())
        assert got.dtype == torch.float32
        assert got.item() == pytest.approx(want.item(), rel=1e-5)
        want_bf16 = loss(z1.bfloat16(), z2.bfloat16())
        assert got_bf16.item() == pytest.approx(want_bf16.item(), rel=1e-5)
    z1, z2 = torch.randn(6, 16), torch.randn(6, 16)
    assert loss.infonce(z1, z2).item() == pytest.approx(
        _hand_loss(z1, z2, 0.2, 1.0), rel=1e-5)
