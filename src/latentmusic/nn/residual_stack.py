"""A stack of residual blocks as one autograd node, for training on a CPU.

Each block is ``x + res(relu(conv(relu(x) or x)))`` (:func:`timemajor.residual_block`).
As a stack, the batch's examples are split over torch's threads
(:mod:`latentmusic.nn.example_threads`), each thread taking its share through all the
blocks with single-threaded kernels, and the backward adds each block's input gradient
into the running one in place. Translation's encoder (64 channels, 8 x 4000): forward and
backward 264-278 -> 205-237 ms on two threads (2026-12-06), the same on one. (Its share all at once, not one
example at a time as the decoder layers go: at 3 x 64 x 64 the per-example GEMMs were too
short to gain from the cache, 250 ms.) The element-wise steps are
:mod:`latentmusic.nn.relu_fused`'s kernels (float32) or torch's ops (float64); the tests pin
the stack to the blocks one by one (float64 to 1e-10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from latentmusic.nn import example_threads, relu_fused
from latentmusic.nn import timemajor as tm

ONE_NODE = True  # benchmarks/training.py turns it off to measure the lever on its own


@dataclass(frozen=True)
class _Plan:
    taps: tuple[tuple[tm.Tap, ...], ...]  # per block
    pre_relu: bool  # relu(x) into the conv (NSynth, VQ-VAE) or x itself (UMT)
    fused: bool  # relu_fused's kernels (float32) or torch's ops
    workers: int  # threads the examples are split over


def _rows(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, x.shape[-1])


def _bias_relu_(x: torch.Tensor, bias: torch.Tensor, fused: bool) -> None:
    if fused:
        relu_fused.bias_relu_(x, bias, threaded=False)
    else:
        x.add_(bias).clamp_(min=0)


def _relu_grad_colsum_(grad: torch.Tensor, out: torch.Tensor, fused: bool) -> torch.Tensor:
    if fused:
        return relu_fused.relu_grad_colsum_(grad, out, threaded=False)
    grad.mul_(out > 0)
    return grad.sum(0)


def _masked_add_(
    dx: torch.Tensor, src: torch.Tensor, grad: torch.Tensor, fused: bool
) -> torch.Tensor:
    if fused:
        return relu_fused.masked_add_(dx, src, grad, threaded=False)
    return dx.mul_(src > 0).add_(grad)


class _ResidualStack(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        plan: _Plan,
        *weights: torch.Tensor,
    ) -> torch.Tensor:
        n = len(plan.taps)
        batch, length, c = x.shape
        mats, conv_bias, res_w, res_b = _unpack(weights, plan.taps)
        if plan.pre_relu:  # the backward reads relu(x) only: two buffers take turns as x
            inner = [x.new_empty(batch, length, c) for _ in range(n)]
            turns = [x.new_empty(batch, length, c), x.new_empty(batch, length, c)]
            xs = [x] + [turns[i % 2] for i in range(n)]
        else:  # the conv reads x itself: every block's input is kept
            xs = [x] + [x.new_empty(batch, length, c) for _ in range(n)]
            inner = xs[:n]
        hidden = [x.new_empty(batch, length, w.shape[0]) for w in res_w]
        groups = example_threads.groups(batch, plan.workers)

        def examples(k: int) -> None:
            part = slice(groups[k].start, groups[k].stop)
            for i in range(n):
                x3, in3, h3, out3 = xs[i][part], inner[i][part], hidden[i][part], xs[i + 1][part]
                if plan.pre_relu:
                    torch.clamp(x3, min=0, out=in3)
                tm.taps_forward(in3, mats[i], plan.taps[i], h3, None)
                _bias_relu_(h3, conv_bias[i], plan.fused)
                torch.addmm(_rows(x3), _rows(h3), res_w[i], out=_rows(out3))
                out3.add_(res_b[i])

        example_threads.run(examples, len(groups))
        ctx.plan = plan
        # Made here, so nothing else can change them; x (an input) is saved the usual way.
        ctx.intermediates = (inner if plan.pre_relu else inner[1:], hidden)
        ctx.save_for_backward(x, *weights)
        return xs[n]

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):  # type: ignore[override]
        plan = ctx.plan
        x, *weights = ctx.saved_tensors
        kept, hidden = ctx.intermediates
        inner = kept if plan.pre_relu else [x, *kept]
        n = len(plan.taps)
        mats, _, res_w, _ = _unpack(weights, plan.taps)
        dx = grad.contiguous().clone()  # the running input gradient, updated in place
        batch = dx.shape[0]
        groups = example_threads.groups(batch, plan.workers)
        sums = [[torch.zeros_like(w) for w in weights] for _ in groups]

        def examples(k: int) -> None:
            d_mats, d_conv_bias, d_res_w, d_res_b = _unpack(sums[k], plan.taps)
            part = slice(groups[k].start, groups[k].stop)
            g3 = dx[part]  # the gradient of block i's output, then of its input
            for i in reversed(range(n)):
                in3, h3 = inner[i][part], hidden[i][part]
                g = _rows(g3)
                d_res_b[i].add_(g.sum(0))
                d_res_w[i].addmm_(_rows(h3).t(), g)
                d_hidden = g @ res_w[i].t()
                d_conv_bias[i].add_(_relu_grad_colsum_(d_hidden, _rows(h3), plan.fused))
                d_hidden = d_hidden.view(h3.shape)
                for tap, w, acc in zip(plan.taps[i], mats[i], d_mats[i], strict=True):
                    acc.add_(tm.taps_weight_grad(in3, d_hidden, w, tap))
                if plan.pre_relu:  # through relu(x): a branch gradient, masked, then added
                    branch = torch.empty_like(g3)
                    tm.taps_input_grad(d_hidden, mats[i], plan.taps[i], branch)
                    g3 = _masked_add_(branch, in3, g3, plan.fused)
                else:  # x itself: the branch gradient adds into the identity's
                    tm.taps_input_grad(d_hidden, mats[i], plan.taps[i], g3, True)
            if g3.data_ptr() != dx[part].data_ptr():
                dx[part].copy_(g3)

        example_threads.run(examples, len(groups))
        d_weights = example_threads.summed(sums)
        return (dx, None, *d_weights)


def _unpack(
    weights: Sequence[torch.Tensor], taps: Sequence[Sequence[tm.Tap]]
) -> tuple[list[list[torch.Tensor]], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(tap matrices per block, conv biases, res weights (H, C), res biases) from the flat
    tensor list the autograd function takes."""
    mats, at = [], 0
    for block in taps:
        mats.append(list(weights[at : at + len(block)]))
        at += len(block)
    n = len(taps)
    rest = weights[at:]
    return mats, list(rest[:n]), list(rest[n : 2 * n]), list(rest[2 * n :])


def applies(x: torch.Tensor) -> bool:
    """Whether :func:`residual_stack` runs as one node: a training pass on a CPU."""
    return (
        ONE_NODE
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
    )


def residual_stack(
    x: torch.Tensor,
    blocks: Sequence[tuple[nn.Conv1d, nn.Conv1d, int]],
    pre_relu: bool,
) -> torch.Tensor:
    """``x`` (B, T, C) through ``blocks`` of (conv, res 1x1, left padding), each
    ``x + res(relu(conv(relu(x) if pre_relu else x)))``; the convs stride 1, their output as
    long as ``x``. For inputs where :func:`applies` holds."""
    mats: list[torch.Tensor] = []
    taps = []
    for conv, _, left in blocks:
        m, t = tm.conv_taps(conv.weight, conv.dilation[0], left)
        mats += m
        taps.append(tuple(t))
    biases = [
        conv.bias if conv.bias is not None else x.new_zeros(conv.out_channels)
        for conv, _, _ in blocks
    ]
    res_w = [res.weight[:, :, 0].t() for _, res, _ in blocks]
    res_b = [
        res.bias if res.bias is not None else x.new_zeros(res.out_channels) for _, res, _ in blocks
    ]
    fused = relu_fused.available() and x.dtype == torch.float32
    plan = _Plan(tuple(taps), pre_relu, fused, torch.get_num_threads())
    return _ResidualStack.apply(x.contiguous(), plan, *mats, *biases, *res_w, *res_b)
