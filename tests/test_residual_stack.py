"""A stack of residual blocks as one autograd node (latentmusic.nn.residual_stack) computes
what the blocks compute one by one, forward and backward, on one thread or several."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentmusic.nn import relu_fused, residual_stack
from latentmusic.nn import timemajor as tm


def _blocks(dtype: torch.dtype) -> list[tuple[nn.Conv1d, nn.Conv1d, int]]:
    """Three blocks: kernel 3 at dilations 1, 2, 4 ('same' padding), 5 -> 7 -> 5 channels."""
    torch.manual_seed(0)
    blocks = []
    for d in (1, 2, 4):
        conv = nn.Conv1d(5, 7, 3, dilation=d).to(dtype)
        res = nn.Conv1d(7, 5, 1).to(dtype)
        blocks.append((conv, res, d))
    return blocks


def _run(one_node: bool, pre_relu: bool, dtype: torch.dtype) -> list[torch.Tensor]:
    blocks = _blocks(dtype)
    torch.manual_seed(1)
    x = torch.randn(3, 50, 5, dtype=torch.float64).to(dtype).requires_grad_()
    h = x * 1.0  # an intermediate, as in the encoders (the per-block path may write into it)
    if one_node:
        out = residual_stack.residual_stack(h, blocks, pre_relu)
        assert type(out.grad_fn).__name__ == "_ResidualStackBackward"
    else:
        for conv, res, left in blocks:
            h = tm.residual_block(h, conv, res, left, pre_relu)
        out = h
    weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).view(out.shape)
    (out * weights).sum().backward()
    params = [p.grad for conv, res, _ in blocks for p in (*conv.parameters(), *res.parameters())]
    return [out.detach(), x.grad, *params]


@pytest.mark.parametrize("pre_relu", [True, False], ids=["pre-relu", "no-pre-relu"])
def test_one_node_matches_the_blocks_in_float64(pre_relu: bool, node_threads: int) -> None:
    ref = _run(False, pre_relu, torch.float64)
    new = _run(True, pre_relu, torch.float64)
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        assert float(a.abs().max()) > 0, i
        assert torch.allclose(a, b, rtol=0, atol=1e-10 * float(a.abs().max())), i


@pytest.mark.skipif(not relu_fused.available(), reason="the fused float32 kernels need numba")
@pytest.mark.parametrize("pre_relu", [True, False], ids=["pre-relu", "no-pre-relu"])
def test_one_node_with_the_fused_kernels_matches_float64(pre_relu: bool, node_threads: int) -> None:
    ref = _run(False, pre_relu, torch.float64)
    new = _run(True, pre_relu, torch.float32)
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        assert float((b.double() - a).abs().max()) <= 1e-5 * float(a.abs().max()), i


def test_the_node_is_a_training_path_only() -> None:
    x = torch.zeros(2, 10, 5)
    assert residual_stack.applies(x)
    with torch.no_grad():
        assert not residual_stack.applies(x)
