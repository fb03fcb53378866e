"""The WaveNet decoder's gated residual layers as one autograd node, for training.

Layer by layer through autograd, the decoder's backward pass added every gradient that has
two consumers in a pass of its own: the gate output feeds the skip and the residual 1x1s,
the residual stream feeds the dilated conv and the next layer (~40 such sums of 4-8 MB a
step for translation's ``small`` decoder), and each skip 1x1's weight gradient came out in
the transposed GEMM orientation of autograd's ``addmm`` (~25 % slower at these shapes).
Here the backward is written out: the gate's gradient starts as the skip term and the
residual term is added by its GEMM in place; the taps' input gradients accumulate in place
into one residual-stream gradient; the skip sum's gradient, the same for every layer, is
read as it is. The forward pass is the same operations as the per-op path
(:meth:`latentmusic.nn.wavenet.WaveNetDecoder._features_time_major`), in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from latentmusic.nn import gate_fused
from latentmusic.nn import timemajor as tm


def _gate(a: torch.Tensor, bias: torch.Tensor, fused: bool) -> torch.Tensor:
    """tanh * sigmoid of ``a`` (B, T, 2R) plus per-frame ``bias`` (B, F, 2R), as (B*T, R)."""
    if fused:
        return gate_fused.gate_forward_frames(a, bias).view(-1, a.shape[-1] // 2)
    return tm.gated_activation(_plus_frames(a, bias), dim=-1).view(-1, a.shape[-1] // 2)


def _gate_backward(
    a: torch.Tensor, bias: torch.Tensor, grad: torch.Tensor, fused: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of :func:`_gate` for ``a`` (B, T, 2R) and per frame for ``bias`` (B, F, 2R)."""
    if fused:
        return gate_fused.gate_backward_frames(a, bias, grad.view(*a.shape[:-1], -1))
    r = a.shape[-1] // 2
    z = _plus_frames(a, bias)
    t, s = torch.tanh(z[..., :r]), torch.sigmoid(z[..., r:])
    g = grad.view(t.shape)
    d = torch.cat((g * s * (1 - t * t), g * t * s * (1 - s)), -1)
    batch, length, width = a.shape
    frames = bias.shape[1]
    return d, d.view(batch, frames, length // frames, width).sum(2)


def _plus_frames(a: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    batch, length, width = a.shape
    frames = bias.shape[1]
    return (a.view(batch, frames, length // frames, width) + bias.unsqueeze(2)).view(a.shape)


class _GatedStack(torch.autograd.Function):
    """skip sum += sum over layers of gate(taps(h_l) + cond rows) @ W_skip, with
    h_{l+1} = h_l + gate(...) @ W_res + b_res; returns the skip sum (written in place)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        h: torch.Tensor,
        skip_sum: torch.Tensor,
        table: torch.Tensor,
        taps: tuple[tuple[tm.Tap, ...], ...],
        fused: bool,
        *weights: torch.Tensor,
    ) -> torch.Tensor:
        n_layers = len(taps)
        batch, length, r = h.shape
        mats, skips, res, res_bias = _unpack(weights, taps)
        saved: list[torch.Tensor] = []
        for i in range(n_layers):
            a = h.new_empty(batch, length, 2 * r)
            tm.taps_forward(h, mats[i], taps[i], a, None)
            g = _gate(a, table[:, :, 2 * r * i : 2 * r * (i + 1)], fused)
            skip_sum.addmm_(g, skips[i])
            saved += [h, a, g]
            if i < n_layers - 1:
                h = torch.addmm(h.view(-1, r), g, res[i]).add_(res_bias[i]).view(h.shape)
        ctx.taps, ctx.fused = taps, fused
        ctx.mark_dirty(skip_sum)
        ctx.save_for_backward(table, *saved, *weights)
        return skip_sum

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, d_skip: torch.Tensor):  # type: ignore[override]
        taps, fused = ctx.taps, ctx.fused
        table, *rest = ctx.saved_tensors
        n_layers = len(taps)
        saved, weights = rest[: 3 * n_layers], rest[3 * n_layers :]
        mats, skips, res, res_bias = _unpack(weights, taps)
        d_skip = d_skip.contiguous()
        r = saved[0].shape[-1]
        d_mats: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]
        d_skips: list[torch.Tensor] = []
        d_res: list[torch.Tensor] = []
        d_res_bias: list[torch.Tensor] = []
        d_table = table.new_empty(table.shape)
        dh: torch.Tensor | None = None  # the gradient of layer i's output stream h_{i+1}
        for i in reversed(range(n_layers)):
            h, a, g = saved[3 * i : 3 * i + 3]
            # The gate output feeds the skip (whose sum's gradient every layer shares) and
            # the residual 1x1: its gradient is the first GEMM, the second added in place.
            dg = d_skip @ skips[i].t()
            d_skips.insert(0, g.t() @ d_skip)
            if dh is not None:  # every layer but the last: h_{i+1} = h_i + g @ W_res + b
                flat_dh = dh.view(-1, r)
                dg.addmm_(flat_dh, res[i].t())
                d_res.insert(0, g.t() @ flat_dh)
                d_res_bias.insert(0, flat_dh.sum(0))
            da, d_frames = _gate_backward(a, table[:, :, 2 * r * i : 2 * r * (i + 1)], dg, fused)
            d_table[:, :, 2 * r * i : 2 * r * (i + 1)] = d_frames
            d_mats[i] = [
                tm.taps_weight_grad(h, da, w, tap) for tap, w in zip(taps[i], mats[i], strict=True)
            ]
            # h_i feeds this layer's taps and, through the identity, h_{i+1}.
            if dh is None:
                dh = torch.empty_like(h)
                tm.taps_input_grad(da, mats[i], taps[i], dh)
            else:
                tm.taps_input_grad(da, mats[i], taps[i], dh, accumulate=True)
        flat = [m for layer in d_mats for m in layer]
        return (dh, d_skip, d_table, None, None, *flat, *d_skips, *d_res, *d_res_bias)


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
    enabled) of a decoder whose last layer alone lacks a residual 1x1."""
    return (
        torch.is_grad_enabled()
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
    return _GatedStack.apply(
        h.contiguous(),
        skip_sum,
        table[:, :, : 2 * r * len(layers)],
        tuple(taps),
        fused,
        *mats,
        *skips,
        *res,
        *res_bias,
    )
