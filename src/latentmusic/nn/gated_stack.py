"""The WaveNet decoder's gated residual layers as one autograd node, for training on a CPU.

Two reasons, both measured (docs/performance.md):

- Through autograd, layer by layer, the backward pass added every gradient that has two
  consumers in a pass of its own (the gate output feeds the skip and residual 1x1s, the
  residual stream the dilated conv and the next layer), and each skip weight gradient came
  out in the slower of the two GEMM orientations. Here each gradient is written once: the
  gate's gradient starts as the skip term and the residual term is added by its GEMM in
  place, the taps' input gradients accumulate into one residual-stream gradient, and the
  skip sum's gradient, the same for every layer, is read as it is.
- Whole-batch GEMMs stream 8-16 MB operands through memory and scale poorly over two
  cores. Here every example goes through all the layers on its own (its activations,
  1-2 MB a layer, stay in cache between the GEMMs and the gate), and the examples are
  split over as many threads as torch may use, each running single-threaded kernels;
  weight gradients are summed per thread, then over threads.

The forward pass computes what :meth:`WaveNetDecoder._gated_layers_per_op` computes, and
the tests pin both passes to it (float64 to 1e-10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from latentmusic.nn import example_threads, gate_fused
from latentmusic.nn import timemajor as tm

ONE_NODE = True  # benchmarks/training.py turns it off to measure the lever on its own


@dataclass(frozen=True)
class _Plan:
    taps: tuple[tuple[tm.Tap, ...], ...]  # per layer
    fused: bool  # the numba gate (float32) or torch's ops
    workers: int  # threads the examples are split over


def _gate(a: torch.Tensor, bias: torch.Tensor, out: torch.Tensor, fused: bool) -> None:
    """out = tanh * sigmoid of ``a`` (1, T, 2R) plus per-frame ``bias`` (1, F, 2R)."""
    if fused:
        gate_fused.gate_forward_frames(a, bias, out, threaded=False)
    else:
        out.copy_(tm.gated_activation(tm.plus_frames(a, bias), dim=-1))


def _gate_backward(
    a: torch.Tensor, bias: torch.Tensor, grad: torch.Tensor, fused: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of :func:`_gate` for ``a`` (1, T, 2R) and per frame for ``bias``."""
    if fused:
        return gate_fused.gate_backward_frames(a, bias, grad, threaded=False)
    r = a.shape[-1] // 2
    z = tm.plus_frames(a, bias)
    t, s = torch.tanh(z[..., :r]), torch.sigmoid(z[..., r:])
    d = tm.gate_grad(t, s, grad.view(t.shape))
    batch, length, width = a.shape
    frames = bias.shape[1]
    return d, d.view(batch, frames, length // frames, width).sum(2)


class _GatedStack(torch.autograd.Function):
    """skip sum += sum over layers of gate(taps(h_l) + cond rows) @ W_skip, with
    h_{l+1} = h_l + gate(...) @ W_res + b_res; returns the skip sum (written in place)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        h: torch.Tensor,
        skip_sum: torch.Tensor,
        table: torch.Tensor,
        plan: _Plan,
        *weights: torch.Tensor,
    ) -> torch.Tensor:
        n = len(plan.taps)
        batch, length, r = h.shape
        mats, skips, res, res_bias = _unpack(weights, plan.taps)
        hs = [h] + [h.new_empty(batch, length, r) for _ in range(n - 1)]  # each layer's input
        pre = [h.new_empty(batch, length, 2 * r) for _ in range(n)]  # gate pre-activations
        gates = [h.new_empty(batch, length, r) for _ in range(n)]
        skip3 = skip_sum.view(batch, length, -1)
        groups = example_threads.groups(batch, plan.workers)

        def examples(k: int) -> None:
            for b in groups[k]:
                one = slice(b, b + 1)
                for i in range(n):
                    tm.taps_forward(hs[i][one], mats[i], plan.taps[i], pre[i][one], None)
                    rows = table[one, :, 2 * r * i : 2 * r * (i + 1)]
                    _gate(pre[i][one], rows, gates[i][one], plan.fused)
                    skip3[b].addmm_(gates[i][b], skips[i])
                    if i < n - 1:
                        torch.addmm(hs[i][b], gates[i][b], res[i], out=hs[i + 1][b])
                        hs[i + 1][b].add_(res_bias[i])

        example_threads.run(examples, len(groups))
        ctx.plan = plan
        ctx.intermediates = (hs[1:], pre, gates)  # made here: nothing else can change them
        ctx.mark_dirty(skip_sum)
        ctx.save_for_backward(h, table, *weights)
        return skip_sum

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, d_skip: torch.Tensor):  # type: ignore[override]
        plan = ctx.plan
        h, table, *weights = ctx.saved_tensors
        later, pre, gates = ctx.intermediates
        hs = [h, *later]
        n = len(plan.taps)
        batch, length, r = h.shape
        mats, skips, res, res_bias = _unpack(weights, plan.taps)
        d_skip3 = d_skip.contiguous().view(batch, length, -1)
        d_table = table.new_empty(table.shape)
        dh = torch.empty_like(h)
        groups = example_threads.groups(batch, plan.workers)
        # Per thread: every weight's gradient, summed over its examples.
        sums = [[torch.zeros_like(w) for w in weights] for _ in groups]

        def examples(k: int) -> None:
            acc = _unpack(sums[k], plan.taps)
            d_mats, d_skips, d_res, d_res_bias = acc
            for b in groups[k]:
                one = slice(b, b + 1)
                ds = d_skip3[b]
                dh_b: torch.Tensor | None = None  # the gradient of layer i's output stream
                for i in reversed(range(n)):
                    g = gates[i][b]
                    # The gate output feeds the skip (whose sum's gradient every layer
                    # shares) and the residual 1x1: the first GEMM, the second in place.
                    dg = ds @ skips[i].t()
                    d_skips[i].addmm_(g.t(), ds)
                    if dh_b is not None:  # every layer but the last
                        dg.addmm_(dh_b, res[i].t())
                        d_res[i].addmm_(g.t(), dh_b)
                        d_res_bias[i].add_(dh_b.sum(0))
                    rows = table[one, :, 2 * r * i : 2 * r * (i + 1)]
                    da, d_rows = _gate_backward(
                        pre[i][one], rows, dg.view(1, length, r), plan.fused
                    )
                    d_table[one, :, 2 * r * i : 2 * r * (i + 1)] = d_rows
                    for tap, acc_w in zip(plan.taps[i], d_mats[i], strict=True):
                        tm.add_tap_weight_grad(acc_w, hs[i][b], da[0], tap)
                    # h_i feeds this layer's taps and, through the identity, h_{i+1}.
                    if dh_b is None:
                        tm.taps_input_grad(da, mats[i], plan.taps[i], dh[one])
                    else:
                        tm.taps_input_grad(da, mats[i], plan.taps[i], dh[one], accumulate=True)
                    dh_b = dh[b]

        example_threads.run(examples, len(groups))
        d_weights = sums[0]
        for other in sums[1:]:
            for total, part in zip(d_weights, other, strict=True):
                total.add_(part)
        return (dh, d_skip, d_table, None, *d_weights)


def _unpack(
    weights: Sequence[torch.Tensor], taps: Sequence[Sequence[tm.Tap]]
) -> tuple[list[list[torch.Tensor]], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(tap matrices per layer, skip (R, S) per layer, residual (R, R) and bias per layer
    but the last) from the flat tensor list the autograd function takes."""
    mats, at = [], 0
    for layer in taps:
        mats.append(list(weights[at : at + len(layer)]))
        at += len(layer)
    n = len(taps)
    skips = list(weights[at : at + n])
    res = list(weights[at + n : at + 2 * n - 1])
    res_bias = list(weights[at + 2 * n - 1 :])
    return mats, skips, res, res_bias


def applies(h: torch.Tensor, layers: Sequence[nn.Module]) -> bool:
    """Whether :func:`gated_layers` runs the layers as one node: a training pass (grad
    enabled) on a CPU of a decoder whose last layer alone lacks a residual 1x1."""
    return (
        ONE_NODE
        and torch.is_grad_enabled()
        and h.device.type == "cpu"
        and h.dtype in (torch.float32, torch.float64)
        and layers[-1].res is None
        and all(layer.res is not None for layer in layers[:-1])
    )


def gated_layers(
    h: torch.Tensor,
    skip_sum: torch.Tensor,
    table: torch.Tensor,
    layers: Sequence[nn.Module],
    kernel: int,
) -> torch.Tensor:
    """Run the decoder's gated ``layers`` on the residual stream ``h`` (B, T, R).

    ``skip_sum`` (B*T, S) holds the skip sum's start (its biases, the start 1x1) and gets
    every layer's skip term added in place; ``table`` (B, F, >= 2R * layers) holds each
    layer's conditioning rows with its dilated conv's bias folded in, layer i in columns
    2R*i .. 2R*(i+1). For layers where :func:`applies` holds.
    """
    r = h.shape[-1]
    mats: list[torch.Tensor] = []
    taps = []
    for layer in layers:
        m, t = tm.conv_taps(layer.dilated.weight, layer.dilation, (kernel - 1) * layer.dilation)
        mats += m
        taps.append(tuple(t))
    skips = [layer.skip.weight[:, :, 0].t() for layer in layers]
    res = [layer.res.weight[:, :, 0].t() for layer in layers[:-1]]
    res_bias = [layer.res.bias for layer in layers[:-1]]
    fused = gate_fused.available() and h.dtype == torch.float32 and tm.FUSED_GATE
    plan = _Plan(tuple(taps), fused, torch.get_num_threads())
    return _GatedStack.apply(
        h.contiguous(),
        skip_sum,
        table[:, :, : 2 * r * len(layers)].expand(h.shape[0], -1, -1),
        plan,
        *mats,
        *skips,
        *res,
        *res_bias,
    )
