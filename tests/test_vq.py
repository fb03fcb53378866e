"""The EMA vector quantizer: k-means start, EMA updates, random restarts, straight-through."""

from __future__ import annotations

import torch

from latentmusic.nn.vq import VectorQuantizer


def _clusters(n_per: int, centres: torch.Tensor, noise: float = 0.05) -> torch.Tensor:
    """(1, D, N) features drawn around ``centres`` (K, D)."""
    pts = centres.repeat_interleave(n_per, 0) + noise * torch.randn(
        len(centres) * n_per, centres.shape[1]
    )
    return pts[torch.randperm(len(pts))].t()[None]


def test_kmeans_init_puts_codes_on_the_data_and_quantizes_to_nearest() -> None:
    torch.manual_seed(0)
    centres = torch.randn(8, 4) * 3
    vq = VectorQuantizer(8, 4, kmeans_iters=5).train()
    x = _clusters(50, centres)
    out = vq(x)
    assert bool(vq.initialized)
    # every cluster centre has a code within the noise level
    dist = torch.cdist(centres, vq.codebook).min(dim=1).values
    assert (dist < 0.5).all(), dist
    # codes are the nearest codebook rows
    flat = x[0].t()
    nearest = torch.cdist(flat, vq.codebook).argmin(dim=1)
    assert torch.equal(out.codes[0], nearest)
    assert out.stats["used"] == 8 and out.stats["entropy_bits"] > 2.9


def test_straight_through_gradient_and_commit_loss() -> None:
    torch.manual_seed(1)
    vq = VectorQuantizer(16, 3).train()
    x = torch.randn(2, 3, 10, requires_grad=True)
    out = vq(x)
    expected = ((x - vq.dequantize(out.codes)) ** 2).mean()
    assert torch.allclose(out.commit_loss, expected, atol=1e-6)
    out.quantized.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # identity gradient to the encoder
    assert torch.allclose(out.quantized, vq.dequantize(out.codes), atol=1e-6)


def test_ema_moves_used_codes_towards_their_data() -> None:
    torch.manual_seed(2)
    vq = VectorQuantizer(2, 2, decay=0.5, threshold=0.0).train()
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    vq.ema_sum.copy_(vq.codebook)
    vq.ema_count.fill_(1.0)
    vq.initialized.fill_(True)
    x = torch.tensor([[1.0, 1.0], [9.0, 9.0]]).t()[None]  # one point per code
    vq(x)
    # count = 0.5*1 + 0.5*1 = 1; sum = 0.5*old + 0.5*x -> codes move halfway
    assert torch.allclose(vq.codebook, torch.tensor([[0.5, 0.5], [9.5, 9.5]]))
    vq.eval()
    before = vq.codebook.clone()
    vq(x * 3)
    assert torch.equal(vq.codebook, before)  # frozen in eval mode


def test_restarts_revive_dead_codes_and_usage_rises() -> None:
    torch.manual_seed(3)
    k = 32
    centres = torch.randn(k, 8) * 2
    vq = VectorQuantizer(k, 8).train()
    vq(_clusters(20, centres))  # initialise
    # Kill half the codebook: far away from the data and with no usage.
    dead = torch.arange(0, k, 2)
    vq.codebook[dead] = 1e3
    vq.ema_sum[dead] = 1e3
    vq.ema_count[dead] = 0.0
    vq.eval()
    used_before = vq(_clusters(20, centres)).stats["used"]
    assert used_before <= k // 2
    vq.train()
    stats = vq(_clusters(20, centres)).stats
    assert stats["restarted"] >= len(dead)
    # every dead code was re-initialised at (near) an encoder output of the batch
    near = torch.cdist(vq.codebook[dead], centres).min(dim=1).values
    assert (near < 1.0).all(), near
    for _ in range(20):
        vq(_clusters(20, centres))
    vq.eval()
    used_after = vq(_clusters(20, centres)).stats["used"]
    assert used_after > used_before + k // 4, (used_before, used_after)
    assert float((vq.ema_count >= 1.0).float().mean()) > 0.75
