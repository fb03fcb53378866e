"""Time-major convolution kernels for training the audio conv stacks faster on a CPU.

The WaveNet and VQ-VAE stacks are narrow (16-128 channels) and long (thousands of
samples). ``nn.Conv1d`` runs them channels-first through oneDNN, whose backward pass and
small-channel kernels use a CPU poorly. Here activations are kept time-major,
``(batch, time, channels)``, so every convolution becomes a few large matrix products:
a kernel tap ``q`` that reads ``x[t + offset_q]`` is one GEMM of the (shifted, strided)
input rows with that tap's ``(in, out)`` matrix, accumulated in place into the output.
Strided and transposed convolutions are the same thing over a ``(time / stride,
stride * channels)`` view, so one autograd function (:func:`tap_conv`) covers dilated
"same" and causal convolutions, the VQ-VAE's stride-2 down-sampling convs and its
transposed up-sampling convs. Its backward pass is hand-written for the same reason:
the input gradient is the transposed taps accumulated in place, and each weight
gradient is one GEMM (or a batched one for shifted taps), with no zero-filled slice
gradients to add up. The exception is training the VQ-VAE stacks: a residual block's
centred conv and the stacks' other convs run by oneDNN on the channels-last view that a
time-major tensor already is (no copy either way, :func:`onednn_conv1d`), which beat the
tap GEMMs at 32 channels on an AMD EPYC (Zen 4) and was level with them on an Intel Xeon
(``docs/performance.md``).

The modules keep their ``nn.Conv1d`` / ``nn.ConvTranspose1d`` parameters (same names and
shapes, so checkpoints load unchanged); the tap matrices are views of them taken at
forward time, and their gradients flow back to the parameters through autograd.
Every module that has such a path has a ``fast_path`` attribute (default True);
:func:`use_fast_path` flips it for a whole model, which the equivalence tests and
``benchmarks/training.py`` use to run the reference path side by side. The path is a CPU
one: on a GPU, or under autocast, :func:`fast_path_applies` sends the module through its
reference ``nn.Conv1d`` path (cuDNN) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.nn import gate_fused, relu_fused

# One tap: (time offset read by output row t, first input column, first output column).
Tap = tuple[int, int, int]


def use_fast_path(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every submodule with a ``fast_path`` flag to the fast (or reference) path."""
    for module in model.modules():
        if hasattr(module, "fast_path"):
            module.fast_path = enabled
    return model


def fast_path_applies(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``module`` runs its time-major path on ``x``: a float32 CPU path only. On a
    GPU cuDNN's convolutions are the fast ones, and under autocast the reference path
    lets autocast choose each op's precision (the hand-written kernels accumulate in
    place, which needs one dtype throughout)."""
    return (
        getattr(module, "fast_path", False)
        and x.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
    )


def tap_rows(t_in: int, t_out: int, offset: int) -> tuple[int, int]:
    """Output rows ``[lo, hi)`` whose input row ``t + offset`` lies inside ``[0, t_in)``."""
    return max(0, -offset), min(t_out, t_in - offset)


def _covering_tap(
    taps: Sequence[Tap],
    mats: Sequence[torch.Tensor],
    t_in: int,
    t_out: int,
    width: int,
    output: bool,
) -> int | None:
    """Index of a tap whose GEMM touches every row and all ``width`` columns of the output
    (``output``) or of the input gradient, or None."""
    if t_in != t_out:
        return None
    for j, ((off, i0, o0), w) in enumerate(zip(taps, mats, strict=True)):
        start, size = (o0, w.shape[1]) if output else (i0, w.shape[0])
        if off == 0 and start == 0 and size == width:
            return j
    return None


def taps_forward(
    x: torch.Tensor,
    mats: Sequence[torch.Tensor],
    taps: Sequence[Tap],
    out: torch.Tensor,
    bias: torch.Tensor | None,
    accumulate: bool = False,
) -> None:
    """out[b, t, o0:o0+n] = sum over taps of x[b, t + off, i0:i0+k] @ W, plus ``bias`` rows
    (1 or B, frames, c_out); ``x`` contiguous, ``out`` freshly allocated (``accumulate``:
    ``out`` holds values the taps are added to, and ``bias`` is None)."""
    batch, t_in, c_in = x.shape
    _, t_out, c_out = out.shape
    flat_x, flat_out = x.view(-1, c_in), out.view(-1, c_out)
    # The tap that covers every output element writes the output (and a constant bias)
    # in one GEMM; zero-filling or copying the bias first was a full extra pass.
    first = _covering_tap(taps, mats, t_in, t_out, c_out, output=True)
    per_frame = bias is not None and bias.shape[:2] != (1, 1)
    if accumulate:
        first = None
    elif first is None or per_frame:
        first = None
        if bias is None:
            out.zero_()
        else:  # bias (1 or B, frames, c_out): row t reads frame t // (t_out // frames)
            frames = bias.shape[1]
            out.view(batch, frames, t_out // frames, c_out).copy_(bias.unsqueeze(2))
    else:
        i0, w = taps[first][1], mats[first]
        if bias is None:
            torch.mm(flat_x[:, i0 : i0 + w.shape[0]], w, out=flat_out)
        else:
            torch.addmm(bias.reshape(-1), flat_x[:, i0 : i0 + w.shape[0]], w, out=flat_out)
    for j, ((off, i0, o0), w) in enumerate(zip(taps, mats, strict=True)):
        if j == first:
            continue
        k, n = w.shape
        lo, hi = tap_rows(t_in, t_out, off)
        if hi <= lo:
            continue
        if off == 0 and t_in == t_out:
            flat_out[:, o0 : o0 + n].addmm_(flat_x[:, i0 : i0 + k], w)
        else:
            out[:, lo:hi, o0 : o0 + n].baddbmm_(
                x[:, lo + off : hi + off, i0 : i0 + k], w.expand(batch, k, n)
            )


def taps_input_grad(
    grad: torch.Tensor,
    mats: Sequence[torch.Tensor],
    taps: Sequence[Tap],
    dx: torch.Tensor,
    accumulate: bool = False,
) -> None:
    """dx = the transposed taps applied to ``grad`` (contiguous), written into fresh ``dx``
    (or added to it: ``accumulate``): tap (off, i0, o0) with W is, backwards, tap
    (-off, o0, i0) with W.T from grad to dx."""
    transposed = [(-off, o0, i0) for off, i0, o0 in taps]
    taps_forward(grad, [w.t() for w in mats], transposed, dx, None, accumulate)


def taps_weight_grad(
    x: torch.Tensor, grad: torch.Tensor, w: torch.Tensor, tap: Tap
) -> torch.Tensor:
    """The gradient of one tap's matrix: the input rows it read against the output gradient."""
    off, i0, o0 = tap
    k, n = w.shape
    batch, t_in, c_in = x.shape
    t_out = grad.shape[1]
    lo, hi = tap_rows(t_in, t_out, off)
    if hi <= lo:
        return torch.zeros_like(w)
    if off == 0 and t_in == t_out:
        return x.view(-1, c_in)[:, i0 : i0 + k].t() @ grad.view(-1, grad.shape[-1])[:, o0 : o0 + n]
    src = x[:, lo + off : hi + off, i0 : i0 + k]
    return torch.bmm(src.transpose(1, 2), grad[:, lo:hi, o0 : o0 + n]).sum(0)


def add_tap_weight_grad(acc: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, tap: Tap) -> None:
    """acc += one tap's weight gradient for one example: the rows of ``x`` (T_in, C_in) the
    tap read, against ``grad`` (T_out, C_out)."""
    off, i0, o0 = tap
    k, n = acc.shape
    lo, hi = tap_rows(x.shape[0], grad.shape[0], off)
    if hi > lo:
        acc.addmm_(x[lo + off : hi + off, i0 : i0 + k].t(), grad[lo:hi, o0 : o0 + n])


class _TapConv(torch.autograd.Function):
    """out[b, t, o0:o0+n] += x[b, t + off, i0:i0+k] @ W  for every tap, plus bias rows."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        bias: torch.Tensor | None,
        t_out: int,
        c_out: int,
        taps: tuple[Tap, ...],
        *mats: torch.Tensor,
    ) -> torch.Tensor:
        x = x.contiguous()
        out = x.new_empty(x.shape[0], t_out, c_out)
        taps_forward(x, mats, taps, out, bias)
        ctx.taps, ctx.has_bias = taps, bias is not None
        ctx.bias_shape = None if bias is None else tuple(bias.shape)
        ctx.save_for_backward(x, *mats)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):  # type: ignore[override]
        x, *mats = ctx.saved_tensors
        grad = grad.contiguous()
        batch, t_out, c_out = grad.shape
        dx = None
        if ctx.needs_input_grad[0]:
            dx = torch.empty_like(x)
            taps_input_grad(grad, mats, ctx.taps, dx)
        dmats = [
            taps_weight_grad(x, grad, w, tap) if ctx.needs_input_grad[5 + i] else None
            for i, (tap, w) in enumerate(zip(ctx.taps, mats, strict=True))
        ]
        dbias = None
        if ctx.has_bias and ctx.needs_input_grad[1]:
            b_batch, frames, _ = ctx.bias_shape
            dbias = grad.view(batch, frames, t_out // frames, c_out).sum(2)
            if b_batch == 1:
                dbias = dbias.sum(0, keepdim=True)
        return (dx, dbias, None, None, None, *dmats)


def tap_conv(
    x: torch.Tensor,
    mats: Sequence[torch.Tensor],
    taps: Sequence[Tap],
    t_out: int,
    c_out: int,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum of shifted GEMMs over time-major ``x`` (B, T_in, C_in) -> (B, t_out, c_out).

    ``bias`` is ``(c_out,)`` or per-frame rows ``(1 or B, frames, c_out)`` added to output
    rows ``t`` by frame ``t // (t_out // frames)`` (the nearest-upsampled conditioning of
    WaveNet, without materialising the upsampled tensor).
    """
    if bias is not None and bias.dim() == 1:
        bias = bias.view(1, 1, -1)
    return _TapConv.apply(x, bias, t_out, c_out, tuple(taps), *mats)


def conv_taps(
    weight: torch.Tensor, dilation: int, left: int
) -> tuple[list[torch.Tensor], list[Tap]]:
    """Tap matrices and offsets of a stride-1 conv whose output t reads x[t - left + q * dilation]."""
    # One (k, in, out) copy: strided tap views would make every GEMM copy its matrix.
    stacked = weight.permute(2, 1, 0).contiguous()
    mats = list(stacked.unbind(0))
    taps = [(q * dilation - left, 0, 0) for q in range(weight.shape[2])]
    return mats, taps


def conv1d(x: torch.Tensor, conv: nn.Conv1d, left: int, t_out: int | None = None) -> torch.Tensor:
    """A stride-1 ``nn.Conv1d`` (zero padding ``left`` before the input) on time-major ``x``."""
    mats, taps = conv_taps(conv.weight, conv.dilation[0], left)
    t_out = x.shape[1] if t_out is None else t_out
    return tap_conv(x, mats, taps, t_out, conv.out_channels, conv.bias)


def linear(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """A 1x1 ``nn.Conv1d`` on time-major ``x``: one GEMM (bias fused)."""
    weight = conv.weight[:, :, 0]
    flat = x.reshape(-1, x.shape[-1])
    if conv.bias is None:
        return (flat @ weight.t()).view(*x.shape[:-1], -1)
    return torch.addmm(conv.bias, flat, weight.t()).view(*x.shape[:-1], -1)


def strided_conv1d(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``nn.Conv1d(kernel 2s, stride s, padding s // 2)`` (s even) on time-major ``x``.

    Output t reads inputs s*t - s/2 .. s*t + 3s/2 - 1: over the (T / s, s * C) view that is
    the block before (its last s/2 samples), block t itself, and the block after (its
    first s/2 samples) -- three GEMMs, no gathered copy of the input.
    """
    s = conv.stride[0]
    batch, t_in, c_in = x.shape
    w = conv.weight  # (out, in, 2s)
    half = s // 2
    blocks = x.reshape(batch, t_in // s, s * c_in)

    def block(q0: int, q1: int) -> torch.Tensor:  # taps q0..q1-1 stacked as (n_taps*in, out)
        return w[:, :, q0:q1].permute(2, 1, 0).reshape((q1 - q0) * c_in, -1)

    mats = [block(half, half + s), block(0, half), block(half + s, 2 * s)]
    taps = [(0, 0, 0), (-1, (s - half) * c_in, 0), (1, 0, 0)]
    return tap_conv(blocks, mats, taps, t_in // s, conv.out_channels, conv.bias)


def transposed_conv1d(x: torch.Tensor, conv: nn.ConvTranspose1d) -> torch.Tensor:
    """``nn.ConvTranspose1d(kernel 2s, stride s, padding s // 2)`` (s even), time-major.

    Output sample s*u + r receives input u through tap r + s/2, input u - 1 through tap
    r + 3s/2 (r < s/2) and input u + 1 through tap r - s/2 (r >= s/2): three GEMMs into
    the (T, s * C_out) view of the output.
    """
    s = conv.stride[0]
    batch, t_in, _ = x.shape
    w = conv.weight  # (in, out, 2s)
    c_out = w.shape[1]
    half = s // 2

    def block(q0: int, q1: int) -> torch.Tensor:  # (in, (q1-q0)*out): slots r in order
        return w[:, :, q0:q1].permute(0, 2, 1).reshape(w.shape[0], -1)

    mats = [block(half, half + s), block(half + s, 2 * s), block(0, half)]
    taps = [(0, 0, 0), (-1, 0, 0), (1, 0, (s - half) * c_out)]
    bias = None if conv.bias is None else conv.bias.repeat(s)
    out = tap_conv(x, mats, taps, t_in, s * c_out, bias)
    return out.view(batch, t_in * s, c_out)


@dataclass(frozen=True)
class BlockConv:
    """How a residual block's conv runs: as tap GEMMs (``taps``: the weights are the tap
    matrices of :func:`conv_taps`), or (``taps`` None) by oneDNN on the channels-last
    view of the time-major tensor (the weight is the conv's own, ``padding`` on each side)."""

    taps: tuple[Tap, ...] | None
    padding: int = 0
    dilation: int = 1

    def forward(
        self, inner: torch.Tensor, weights: Sequence[torch.Tensor], c_out: int
    ) -> torch.Tensor:
        if self.taps is not None:
            hidden = inner.new_empty(*inner.shape[:2], c_out)
            taps_forward(inner, weights, self.taps, hidden, None)
            return hidden
        return _onednn_conv(inner, weights[0], None, 1, self.padding, self.dilation)

    def backward(
        self, inner: torch.Tensor, d_hidden: torch.Tensor, weights: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The input's gradient (contiguous, time-major) and each weight's."""
        if self.taps is not None:
            dweights = [
                taps_weight_grad(inner, d_hidden, w, tap)
                for tap, w in zip(self.taps, weights, strict=True)
            ]
            dx = torch.empty_like(inner)
            taps_input_grad(d_hidden, weights, self.taps, dx)
            return dx, dweights
        dx, dw, _ = _onednn_conv_backward(
            _nhwc(d_hidden), _nhwc(inner), weights[0].unsqueeze(2), self.padding, self.dilation
        )
        return _time_major(dx), [dw.squeeze(2)]


def _onednn_conv_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    padding: int = 0,
    dilation: int = 1,
    bias: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Input, weight and (with ``bias``) bias gradients of a stride-1 conv along the last
    dim of channels-last (B, C, 1, T) views, from one oneDNN backward call."""
    return torch.ops.aten.convolution_backward(
        grad, x, weight, [weight.shape[0]] if bias else None, [1, 1], [0, padding],
        [1, dilation], False, [0, 0], 1, [True, True, bias],
    )  # fmt: skip


# A residual block's 1x1 conv by oneDNN on rows grouped as 16 images (True), or as MKL
# GEMMs. benchmarks/training.py's fast-block-gemm path turns it off to measure the lever.
ONEDNN_POINTWISE = True
_IMAGES = 16  # torch convolves a 1x1 of fewer images on one thread without oneDNN


def _pointwise_by_onednn(rows: torch.Tensor) -> bool:
    return ONEDNN_POINTWISE and rows.shape[0] % _IMAGES == 0


def _as_images(rows: torch.Tensor) -> torch.Tensor:
    """Contiguous (N, C) rows as the channels-last (16, C, 1, N / 16) view of a 1x1 conv:
    a 1x1 treats every row alike, and at 16 images torch hands it to oneDNN on one thread
    too (below that it takes its own im2col path, which ran 1.3-1.4x slower here)."""
    return rows.view(_IMAGES, -1, rows.shape[1]).transpose(1, 2).unsqueeze(2)


def _as_rows(images: torch.Tensor) -> torch.Tensor:
    """oneDNN's channels-last (16, C, 1, N / 16) result back as contiguous (N, C) rows."""
    return images.squeeze(2).transpose(1, 2).reshape(-1, images.shape[1])


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """Time-major (B, T, C) as the (B, C, 1, T) channels-last view oneDNN convolves: no copy.

    One channel (the audio into the VQ-VAE's first conv) is laid out alike either way, and
    torch reads the layout from the strides, which a size-1 dim may carry at any value:
    audio[:, None] viewed time-major read as channels-first, and the first conv's output
    and its gradient were each copied between the layouts (two 8 MB copies a level)."""
    if x.shape[-1] == 1:
        x = x.as_strided(x.shape, (x.stride(0), x.stride(1), 1))
    return x.transpose(1, 2).unsqueeze(2)


def _time_major(y: torch.Tensor) -> torch.Tensor:
    """oneDNN's channels-last (B, C, 1, T) result as time-major (B, T, C): a view, contiguous
    (``.contiguous()`` only guards against a layout oneDNN did not give)."""
    return y.squeeze(2).transpose(1, 2).contiguous()


def _onednn_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int,
    padding: int,
    dilation: int,
    groups: int = 1,
) -> torch.Tensor:
    """A 1-D conv of time-major ``x`` with an (out, in, k) ``weight`` by oneDNN."""
    out = F.conv2d(
        _nhwc(x), weight.unsqueeze(2), bias, (1, stride), (0, padding), (1, dilation), groups
    )
    return _time_major(out)


# The VQ-VAE stacks' other convs (strided, transposed, in and out) in training: by oneDNN
# on the channels-last view (True) or as tap GEMMs. benchmarks/training.py's
# fast-conv-taps path turns it off to measure the lever.
ONEDNN_CONVS = True


def onednn_conv1d(x: torch.Tensor, conv: nn.Conv1d | nn.ConvTranspose1d) -> torch.Tensor:
    """``conv`` (plain or transposed, any stride, padding and dilation) on time-major ``x``
    by oneDNN through the channels-last view: no layout copy in or out, autograd's own
    backward. The output is time-major and contiguous."""
    (s,), (p,), (d,) = conv.stride, conv.padding, conv.dilation
    if isinstance(conv, nn.ConvTranspose1d):
        (o,) = conv.output_padding
        w = conv.weight.unsqueeze(2)
        out = F.conv_transpose2d(
            _nhwc(x), w, conv.bias, (1, s), (0, p), (0, o), conv.groups, (1, d)
        )
        return _time_major(out)
    return _onednn_conv(x, conv.weight, conv.bias, s, p, d, conv.groups)


class _ResidualBlock(torch.autograd.Function):
    """x + relu(conv(relu(x) or x) + b) @ W + c, each gradient written in one piece."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        conv_bias: torch.Tensor,
        res_weight: torch.Tensor,
        res_bias: torch.Tensor,
        pre_relu: bool,
        overwrite: bool,
        block_conv: BlockConv,
        *weights: torch.Tensor,
    ) -> torch.Tensor:
        # x itself is not saved; a view would make autograd clone its base's gradient
        # (CopySlices), which costs more than the copy it saves.
        overwrite = overwrite and pre_relu and x.is_contiguous() and not x._is_view()
        x = x.contiguous()
        inner = torch.relu(x) if pre_relu else x
        hidden = block_conv.forward(inner, weights, res_weight.shape[1])
        relu_fused.bias_relu_(hidden, conv_bias)
        flat_hidden = hidden.view(-1, hidden.shape[-1])
        ctx.block_conv, ctx.pre_relu = block_conv, pre_relu
        ctx.save_for_backward(inner, hidden, res_weight, *weights)
        ctx.pointwise_onednn = _pointwise_by_onednn(flat_hidden)
        if ctx.pointwise_onednn:  # the 1x1 by oneDNN, then the residual sum
            out = F.conv2d(_as_images(flat_hidden), res_weight.unsqueeze(3), res_bias)
            flat_out = _as_rows(out)
            if overwrite:
                ctx.mark_dirty(x)
                return x.add_(flat_out.view(x.shape))
            return flat_out.add_(x.view(-1, x.shape[-1])).view(x.shape)
        w = res_weight[:, :, 0].t()
        if overwrite:  # the sum into x's own memory: no copy of x first
            ctx.mark_dirty(x)
            x.view(-1, x.shape[-1]).addmm_(flat_hidden, w).add_(res_bias)
            return x
        out = torch.addmm(x.view(-1, x.shape[-1]), flat_hidden, w)
        return out.add_(res_bias).view(x.shape)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):  # type: ignore[override]
        inner, hidden, res_weight, *weights = ctx.saved_tensors
        grad = grad.contiguous()
        flat_g = grad.view(-1, grad.shape[-1])
        flat_hidden = hidden.view(-1, hidden.shape[-1])
        if ctx.pointwise_onednn:
            d_flat, d_res_weight, d_res_bias = _onednn_conv_backward(
                _as_images(flat_g), _as_images(flat_hidden), res_weight.unsqueeze(3), bias=True
            )
            d_hidden, d_res_weight = _as_rows(d_flat), d_res_weight.squeeze(3)
        else:
            d_res_bias = flat_g.sum(0)
            d_res_weight = (flat_g.t() @ flat_hidden).unsqueeze(2)
            d_hidden = flat_g @ res_weight[:, :, 0]
        d_conv_bias = relu_fused.relu_grad_colsum_(d_hidden, hidden)
        dx, dweights = ctx.block_conv.backward(inner, d_hidden.view(hidden.shape), weights)
        if ctx.pre_relu:  # inner = relu(x): its gradient passes where inner > 0
            relu_fused.masked_add_(dx, inner, grad)
        else:
            dx.add_(grad)
        return (dx, d_conv_bias, d_res_weight, d_res_bias, None, None, None, *dweights)


# Residual blocks whose conv is centred (as much padding after the input as before) run it
# through oneDNN on the channels-last view; False: tap GEMMs. benchmarks/training.py's
# fast-block-taps path turns it off to measure the lever.
ONEDNN_BLOCK_CONV = True


def residual_block(
    x: torch.Tensor,
    conv: nn.Conv1d,
    res: nn.Conv1d,
    left: int,
    pre_relu: bool,
    overwrite: bool = False,
) -> torch.Tensor:
    """``x + res(relu(conv(relu(x))))`` (``pre_relu``) or ``x + res(relu(conv(x)))`` on
    time-major ``x``: ``conv`` a stride-1 conv with ``left`` zero padding before the input
    and an output as long as it, ``res`` a 1x1 back to the width of ``x``.

    The residual unit of the VQ-VAE stacks and of the non-causal WaveNet encoders. In
    float32 with numba it is one autograd node whose element-wise steps are fused
    (:mod:`latentmusic.nn.relu_fused`): the conv's bias and ReLU in one in-place pass, and
    in the backward the ReLU's gradient with the bias's, and the input ReLU's with the
    residual sum, where autograd made a pass of each. A centred ``conv`` (``left`` is half
    its reach) runs by oneDNN on the channels-last view (:class:`BlockConv`), a causal one
    as tap GEMMs. ``overwrite`` lets a ``pre_relu``
    block write its sum into ``x`` (the caller's own intermediate, which nothing else
    reads) instead of a copy of it.
    """
    # The fused node is for training. Inference (no grad) keeps the torch ops: with its
    # numba launches in the VQ-VAE encodes, the demo's later Jukebox sampling ran 5x slower
    # (15.8 against 3.3 CPU s per second of audio; the mechanism is not pinned down).
    if relu_fused.available() and x.dtype == torch.float32 and torch.is_grad_enabled():
        d, k = conv.dilation[0], conv.kernel_size[0]
        if ONEDNN_BLOCK_CONV and 2 * left == d * (k - 1):
            block_conv, weights = BlockConv(None, left, d), [conv.weight]
        else:
            mats, taps = conv_taps(conv.weight, d, left)
            block_conv, weights = BlockConv(tuple(taps)), mats
        conv_bias = conv.bias if conv.bias is not None else x.new_zeros(conv.out_channels)
        res_bias = res.bias if res.bias is not None else x.new_zeros(res.out_channels)
        return _ResidualBlock.apply(
            x, conv_bias, res.weight, res_bias, pre_relu, overwrite, block_conv, *weights
        )
    return residual_add(x, F.relu(conv1d(F.relu(x) if pre_relu else x, conv, left)), res)


def residual_add(h: torch.Tensor, g: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """h + conv1x1(g) on time-major tensors: one GEMM that starts from h, then the bias."""
    flat = torch.addmm(
        h.reshape(-1, h.shape[-1]), g.reshape(-1, g.shape[-1]), conv.weight[:, :, 0].t()
    )
    return (flat if conv.bias is None else flat.add_(conv.bias)).view(h.shape)


class _Gate(torch.autograd.Function):
    """tanh(a[..., :R]) * sigmoid(a[..., R:]) with a backward that writes one gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, a: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.fused = _fused_gate_applies(a)
        if ctx.fused:  # one pass; the backward recomputes tanh and the sigmoid from ``a``
            a = a.contiguous()
            ctx.save_for_backward(a)
            return gate_fused.gate_forward(a)
        r = a.shape[-1] // 2
        t = torch.tanh(a[..., :r])
        s = torch.sigmoid(a[..., r:])
        ctx.save_for_backward(t, s)
        return t * s

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if ctx.fused:
            (a,) = ctx.saved_tensors
            return gate_fused.gate_backward(a, grad)
        t, s = ctx.saved_tensors
        return gate_grad(t, s, grad)


def gate_grad(t: torch.Tensor, s: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The gate's gradient (filter half, gate half) from its tanh ``t`` and sigmoid ``s``."""
    # Contiguous halves, then one concatenation: the out= variants writing into the
    # strided halves of one buffer ran ~10x slower than this on a CPU.
    d_filter = torch.ops.aten.tanh_backward(grad * s, t)
    d_gate = torch.ops.aten.sigmoid_backward(grad * t, s)
    return torch.cat((d_filter, d_gate), -1)


def plus_frames(a: torch.Tensor, frame_bias: torch.Tensor) -> torch.Tensor:
    """``a`` (B, T, C) plus ``frame_bias`` (1 or B, F, C) broadcast over each frame's rows."""
    batch, length, width = a.shape
    frames = frame_bias.shape[1]
    summed = a.view(batch, frames, length // frames, width) + frame_bias.unsqueeze(2)
    return summed.view(a.shape)


class _GateFrames(torch.autograd.Function):
    """:class:`_Gate` of ``a`` plus per-frame bias rows, the sum never written (fused only)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, a: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        a = a.contiguous()
        ctx.save_for_backward(a, bias)
        return gate_fused.gate_forward_frames(a, bias)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):  # type: ignore[override]
        a, bias = ctx.saved_tensors
        d_a, d_bias = gate_fused.gate_backward_frames(a, bias, grad)
        if bias.shape[0] == 1:
            d_bias = d_bias.sum(0, keepdim=True)
        return d_a, d_bias


FUSED_GATE = True  # benchmarks/training.py turns it off to measure the lever on its own


def _fused_gate_applies(a: torch.Tensor) -> bool:
    return (
        FUSED_GATE
        and gate_fused.available()
        and a.dtype == torch.float32
        and a.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
    )


def gated_activation(a: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """WaveNet's gated unit: tanh of the first half of ``dim`` (the filter) times the sigmoid
    of the second (the gate), in plain torch ops. The decoder's reference training pass and
    the torch sampler call this; :func:`gate` is the same unit with a one-piece backward."""
    filt, gate_half = a.chunk(2, dim=dim)
    return torch.tanh(filt) * torch.sigmoid(gate_half)


def gate(a: torch.Tensor, frame_bias: torch.Tensor | None = None) -> torch.Tensor:
    """WaveNet's gated activation over the last dim: tanh(filter) * sigmoid(gate).

    ``frame_bias`` (1 or B, F, 2R) is added first to ``a`` (B, T, 2R), frame f to rows
    f * T / F onwards (the decoder's per-frame conditioning); the fused kernel reads it per
    row instead of a copy of it being written into ``a``.
    """
    if frame_bias is None:
        return _Gate.apply(a)
    if _fused_gate_applies(a) and frame_bias.dtype == a.dtype:
        return _GateFrames.apply(a, frame_bias)
    return _Gate.apply(plus_frames(a, frame_bias))


def fuses_transposed_then_conv(up: nn.Module, conv: nn.Module) -> bool:
    """Whether :func:`transposed_then_conv1d` computes ``conv(up(x))``."""
    if not (isinstance(up, nn.ConvTranspose1d) and isinstance(conv, nn.Conv1d)):
        return False
    (s,), (k,) = up.stride, conv.kernel_size
    return (
        up.kernel_size == (2 * s,)
        and up.padding == (s // 2,)
        and s % 2 == 0
        and up.output_padding == (0,)
        and up.dilation == (1,)
        and up.groups == 1
        and conv.stride == (1,)
        and conv.dilation == (1,)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and k % 2 == 1
        and conv.padding == ((k - 1) // 2,)
        and conv.in_channels == up.out_channels
    )


def transposed_then_conv1d(
    x: torch.Tensor, up: nn.ConvTranspose1d, conv: nn.Conv1d
) -> torch.Tensor:
    """``conv(up(x))`` on time-major ``x`` (B, U, C_in) -> (B, U * s, C_final), without the
    (B, U * s, C_mid) tensor between them.

    ``up`` is ``ConvTranspose1d(kernel 2s, stride s, padding s // 2)`` (s even) and ``conv``
    a stride-1 ``Conv1d`` of odd kernel with "same" zero padding and a narrow output (the
    VQ-VAE decoder's last up-sampling into 64 channels, then its 64 -> 1 output conv). Both
    are linear, so output phase r of frame u is a sum over the input frames u + delta of
    ``x[u + delta] @ A[delta, r]``, where A collects the products of ``up``'s and ``conv``'s
    taps (a few (C_in, C_final) matrices): one GEMM reads ``x`` once, and its backward writes
    the input gradient once, where the two convolutions passed a 64-channel tensor at the
    output rate several times each way. The composite is exact but for what the two padding
    rules cut: ``conv``'s zero padding at the two ends (no bias there, nor the cropped
    output rows of ``up``), corrected on the few edge samples.
    """
    s, p = up.stride[0], up.stride[0] // 2
    w_up, w_conv = up.weight, conv.weight  # (C_in, C_mid, 2s), (C_final, C_mid, K)
    k_conv = w_conv.shape[2]
    pad = conv.padding[0]
    batch, frames, c_in = x.shape
    c_out = w_conv.shape[0]
    length = frames * s
    # v[q, k] = up's tap q then conv's tap k: (C_in, C_final)
    v = torch.einsum("imq,fmk->qkif", w_up, w_conv)
    # Output s*u + r, conv tap k reads mid row s*u + r + k - pad, which up's tap q writes
    # from input u + delta when q = r + k - pad + p - s * delta.
    terms: dict[tuple[int, int], list[torch.Tensor]] = {}
    for r in range(s):
        for k in range(k_conv):
            for q in range(2 * s):
                shift = r + k - pad + p - q
                if shift % s == 0:
                    terms.setdefault((shift // s, r), []).append(v[q, k])
    deltas = sorted({d for d, _ in terms})
    zero = v.new_zeros(c_in, c_out)
    table = torch.stack(
        [
            torch.stack([sum(terms.get((d, r), [zero])) for r in range(s)])  # (s, C_in, C_f)
            for d in deltas
        ]
    )  # (D, s, C_in, C_final)
    # Edge terms: conv tap k at output t reads mid row t + k - pad outside [0, length):
    # zero padding there, not up's bias, nor up's cropped rows, which up's tap q wrote from
    # input u. Their x[u] @ v[q, k] come out of the same GEMM as extra columns (indexing x
    # itself would give x a full-size gradient to fill and add).
    edge_rows = list(range(min(pad, length))) + list(range(max(0, length - pad), length))
    edges: list[tuple[int, int, int]] = []  # (output row t, conv tap k, input frame u)
    extra: list[torch.Tensor] = []
    for t in edge_rows:
        for k in range(k_conv):
            mid = t + k - pad
            if 0 <= mid < length:
                continue
            for q in range(2 * s):
                u, rem = divmod(mid + p - q, s)
                if rem == 0 and 0 <= u < frames:
                    edges.append((t, k, u))
                    extra.append(v[q, k])
    n_main = len(deltas) * s * c_out
    weights = torch.cat([table.permute(2, 0, 1, 3).reshape(c_in, -1), *extra], 1)
    every = (x.reshape(-1, c_in) @ weights).view(batch, frames, -1)
    products = every[:, :, :n_main].view(batch, frames, len(deltas), s * c_out)
    # out[u] = sum over delta of products[u + delta, delta] (inputs outside [0, frames) give 0)
    out = products[:, :, deltas.index(0)] if 0 in deltas else x.new_zeros(batch, frames, s * c_out)
    for j, d in enumerate(deltas):
        if d != 0:
            lo, hi = max(0, -d), min(frames, frames - d)
            part = products[:, lo + d : hi + d, j]
            out = torch.cat([out[:, :lo], out[:, lo:hi] + part, out[:, hi:]], 1)
    out = out.reshape(batch, length, c_out)
    # Biases: conv's, plus up's through every conv tap that reads inside [0, length).
    through = torch.einsum("m,fmk->kf", up.bias, w_conv) if up.bias is not None else None
    inner = conv.bias if conv.bias is not None else x.new_zeros(c_out)
    if through is not None:
        inner = inner + through.sum(0)
    out = out + inner
    fixes = []
    for t in edge_rows:
        fix = x.new_zeros(batch, c_out)
        for k in range(k_conv):
            if through is not None and not 0 <= t + k - pad < length:
                fix = fix - through[k]
        for j, (t_edge, _, u) in enumerate(edges):
            if t_edge == t:
                fix = fix - every[:, u, n_main + j * c_out : n_main + (j + 1) * c_out]
        fixes.append((t, fix))
    if fixes:
        rows = torch.tensor([t for t, _ in fixes])
        out = out.index_add(1, rows, torch.stack([f for _, f in fixes], 1))
    return out
