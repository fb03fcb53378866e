"""The WaveNet decoder's gated residual layers as one autograd node, for training on a CPU.

Two reasons, both measured (docs/performance.md):

- Through autograd, layer by layer, the backward pass added every gradient that has two
  consumers in a pass of its own (the gate output feeds the skip and residual 1x1s, the
  residual stream the dilated conv and the next layer), and each skip weight gradient came
  out in the slower of the two GEMM orientations. Here each gradient is written once: the
  skip and residual 1x1s are one (R, S + R) matrix, so the gate's gradient and both weight
  gradients are one GEMM each against [skip-sum gradient | residual-stream gradient] (the
  skip sum's gradient, the same for every layer, copied in once per example), and the
  taps' input gradients accumulate into that residual-stream gradient in place.
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
    taps: tuple[tuple[tm.Tap, ...], ...]  # per layer, one per tap matrix
    fused: bool  # the numba gate (float32) or torch's ops
    workers: int  # threads the examples are split over


def _gate(a: torch.Tensor, bias: torch.Tensor, out: torch.Tensor, fused: bool) -> None:
    """out = tanh * sigmoid of ``a`` (1, T, 2R) plus per-frame ``bias`` (1, F, 2R)."""
    if fused:
        gate_fused.gate_forward_frames(a, bias, out, threaded=False)
    else:
        out.copy_(tm.gated_activation(tm.plus_frames(a, bias), dim=-1))


def _gate_backward(
    a: torch.Tensor, bias: torch.Tensor, grad: torch.Tensor, out: torch.Tensor, fused: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of :func:`_gate` for ``a`` (1, T, 2R), into ``out`` when fused, and per
    frame for ``bias``."""
    if fused:
        return gate_fused.gate_backward_frames(a, bias, grad, threaded=False, out=out)
    r = a.shape[-1] // 2
    z = tm.plus_frames(a, bias)
    t, s = torch.tanh(z[..., :r]), torch.sigmoid(z[..., r:])
    d = tm.gate_grad(t, s, grad.view(t.shape))
    batch, length, width = a.shape
    frames = bias.shape[1]
    return d, d.view(batch, frames, length // frames, width).sum(2)


class _GatedStack(torch.autograd.Function):
    """skip sum += sum over layers of gate(taps(h_l) + cond rows) @ W_skip, with
    h_{l+1} = h_l + gate(...) @ W_res + b_res; returns the skip sum (written in place).

    The backward's per-example buffers (the joined upstream gradient, the gate's input and
    output gradients) are allocated once per thread and reused, so they stay in cache;
    with fresh tensors per layer, and the skip and residual terms as two GEMMs each, the
    translation decoder's backward took 500-530 ms on two threads against 455-475 now.
    """

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
        mats, outs, res_bias = _unpack(weights, plan.taps)
        s = outs[-1].shape[1]
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
                    skip3[b].addmm_(gates[i][b], outs[i][:, :s])
                    if i < n - 1:
                        torch.addmm(hs[i][b], gates[i][b], outs[i][:, s:], out=hs[i + 1][b])
                        hs[i + 1][b].add_(res_bias[i])

        example_threads.run(examples, len(groups))
        ctx.plan = plan
        ctx.intermediates = (hs, pre, gates)  # made here: nothing else can change them
        ctx.mark_dirty(skip_sum)
        ctx.save_for_backward(table, *weights)
        return skip_sum

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, d_skip: torch.Tensor):  # type: ignore[override]
        plan = ctx.plan
        table, *weights = ctx.saved_tensors
        hs, pre, gates = ctx.intermediates
        n = len(plan.taps)
        batch, length, r = gates[0].shape
        mats, outs, _ = _unpack(weights, plan.taps)
        s = outs[-1].shape[1]
        d_skip3 = d_skip.contiguous().view(batch, length, -1)
        d_table = table.new_empty(table.shape)
        dh = gates[0].new_empty(batch, length, r)
        groups = example_threads.groups(batch, plan.workers)
        # Per thread: every weight's gradient, summed over its examples.
        sums = [[torch.zeros_like(w) for w in weights] for _ in groups]

        def examples(k: int) -> None:
            d_mats, d_outs, d_res_bias = _unpack(sums[k], plan.taps)
            # [skip-sum gradient | gradient of the residual stream after the layer]
            grads = gates[0].new_empty(length, s + r)
            d_stream = grads[:, s:]
            dg = gates[0].new_empty(length, r)
            da = gates[0].new_empty(1, length, 2 * r)
            for b in groups[k]:
                one = slice(b, b + 1)
                grads[:, :s].copy_(d_skip3[b])
                d_stream.zero_()  # after the last layer: its output is the skip term alone
                for i in reversed(range(n)):
                    g = gates[i][b]
                    # The gate output feeds the skip 1x1 (whose sum's gradient every layer
                    # shares) and the residual 1x1 (all but the last layer): one GEMM each.
                    upstream = grads if i < n - 1 else grads[:, :s]
                    torch.mm(upstream, outs[i].t(), out=dg)
                    d_outs[i].addmm_(g.t(), upstream)
                    if i < n - 1:
                        d_res_bias[i].add_(d_stream.sum(0))
                    rows = table[one, :, 2 * r * i : 2 * r * (i + 1)]
                    d_pre, d_rows = _gate_backward(
                        pre[i][one], rows, dg.view(1, length, r), da, plan.fused
                    )
                    d_table[one, :, 2 * r * i : 2 * r * (i + 1)] = d_rows
                    # h_i feeds this layer's taps and, through the identity, h_{i+1}.
                    for tap, w, d_w in zip(plan.taps[i], mats[i], d_mats[i], strict=True):
                        tm.add_tap_weight_grad(d_w, hs[i][b], d_pre[0], tap)
                        lo, hi = tm.tap_rows(length, length, tap[0])
                        if hi > lo:  # the rows this tap read get its input gradient
                            d_stream[lo + tap[0] : hi + tap[0]].addmm_(d_pre[0, lo:hi], w.t())
                dh[b].copy_(d_stream)

        example_threads.run(examples, len(groups))
        d_weights = example_threads.summed(sums)
        return (dh, d_skip, d_table, None, *d_weights)


def _unpack(
    weights: Sequence[torch.Tensor], taps: Sequence[Sequence[tm.Tap]]
) -> tuple[list[list[torch.Tensor]], list[torch.Tensor], list[torch.Tensor]]:
    """(tap matrices per layer, [skip | residual] 1x1s (R, S + R) per layer (the last
    layer's skip alone, (R, S)), residual biases) from the flat list the autograd function
    takes."""
    mats, at = [], 0
    for layer in taps:
        mats.append(list(weights[at : at + len(layer)]))
        at += len(layer)
    n = len(taps)
    return mats, list(weights[at : at + n]), list(weights[at + n :])


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
    taps, mats, outs = [], [], []
    for i, layer in enumerate(layers):
        m, t = tm.conv_taps(layer.dilated.weight, layer.dilation, (kernel - 1) * layer.dilation)
        mats += m
        taps.append(tuple(t))
        skip = layer.skip.weight[:, :, 0].t()
        last = i == len(layers) - 1
        outs.append(
            skip.contiguous() if last else torch.cat([skip, layer.res.weight[:, :, 0].t()], 1)
        )
    res_bias = [layer.res.bias for layer in layers[:-1]]
    fused = gate_fused.available() and h.dtype == torch.float32 and tm.FUSED_GATE
    plan = _Plan(tuple(taps), fused, torch.get_num_threads())
    return _GatedStack.apply(
        h.contiguous(),
        skip_sum,
        table[:, :, : 2 * r * len(layers)].expand(h.shape[0], -1, -1),
        plan,
        *mats,
        *outs,
        *res_bias,
    )
