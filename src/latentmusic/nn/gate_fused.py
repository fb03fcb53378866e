"""WaveNet's gated unit for training on a CPU in one pass over memory (numba).

Why: in torch the unit is five element-wise kernels (tanh, sigmoid, product; in the
backward two products, two activation gradients and a concatenation), each a full pass
over a (batch x time, 2R) tensor. The WaveNet steps are bound by memory traffic there: in
a profile of the translation step these passes took about a quarter of the time. Here the
forward reads the pre-activation once and writes the output once; the backward reads the
pre-activation and the output gradient and writes the whole (N, 2R) gradient, recomputing
tanh and the sigmoid (cheaper than storing and re-reading them). Rows are split over the
threads torch is allowed (``torch.get_num_threads``). tanh and the sigmoid use the
rational approximation of :mod:`latentmusic.nn.numba_support` (max error ~1e-7).

Float32 only; :func:`available` is False without numba, and callers keep the torch path.
"""

from __future__ import annotations

import numpy as np
import torch

from latentmusic.nn.numba_support import as_rows, launch, launch_parallel, numba, parallel_jit
from latentmusic.nn.numba_support import available as available  # re-exported for callers

ROWS_PER_TASK = 256  # rows one thread handles at a time: a few hundred KiB of (N, 2R)
BIAS_ROWS = 32  # rows a per-frame bias gradient sums in float32 before adding in float64


if numba is not None:
    from numba import prange

    from latentmusic.nn.numba_support import sigmoid32 as _sigmoid
    from latentmusic.nn.numba_support import tanh32 as _tanh

    @parallel_jit
    def _forward(a, out):  # noqa: ANN001, ANN202
        n, r = out.shape
        for task in prange((n + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
            for i in range(task * ROWS_PER_TASK, min(n, (task + 1) * ROWS_PER_TASK)):
                for j in range(r):
                    out[i, j] = _tanh(a[i, j]) * _sigmoid(a[i, r + j])

    @parallel_jit
    def _backward(a, grad, d):  # noqa: ANN001, ANN202
        n, r = grad.shape
        one = np.float32(1.0)
        for task in prange((n + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
            for i in range(task * ROWS_PER_TASK, min(n, (task + 1) * ROWS_PER_TASK)):
                for j in range(r):
                    t = _tanh(a[i, j])
                    s = _sigmoid(a[i, r + j])
                    g = grad[i, j]
                    d[i, j] = g * s * (one - t * t)
                    d[i, r + j] = g * t * s * (one - s)


if numba is not None:

    @parallel_jit
    def _forward_frames(a, bias, out, hop):  # noqa: ANN001, ANN202
        # a (B, T, 2R), bias (1 or B, F, 2R) added to rows f * hop .. (f + 1) * hop - 1
        batch, _, r = out.shape
        frames = bias.shape[1]
        for task in prange(batch * frames):
            b, f = task // frames, task % frames
            bb = b if bias.shape[0] > 1 else 0
            for i in range(f * hop, (f + 1) * hop):
                for j in range(r):
                    out[b, i, j] = _tanh(a[b, i, j] + bias[bb, f, j]) * _sigmoid(
                        a[b, i, r + j] + bias[bb, f, r + j]
                    )

    @parallel_jit
    def _backward_frames(a, bias, grad, d, d_bias):  # noqa: ANN001, ANN202
        # Also the bias's gradient per (example, frame): the sum of d over the frame's rows.
        batch, _, r = grad.shape
        frames = bias.shape[1]
        hop = grad.shape[1] // frames
        one = np.float32(1.0)
        for task in prange(batch * frames):
            b, f = task // frames, task % frames
            bb = b if bias.shape[0] > 1 else 0
            acc = np.zeros(2 * r, dtype=np.float64)
            # Sums of BIAS_ROWS rows in float32 (the row loop stays vectorised), then float64.
            part = np.empty(2 * r, dtype=np.float32)
            for i0 in range(f * hop, (f + 1) * hop, BIAS_ROWS):
                part[:] = 0
                for i in range(i0, min(i0 + BIAS_ROWS, (f + 1) * hop)):
                    for j in range(r):
                        t = _tanh(a[b, i, j] + bias[bb, f, j])
                        s = _sigmoid(a[b, i, r + j] + bias[bb, f, r + j])
                        g = grad[b, i, j]
                        df = g * s * (one - t * t)
                        dg = g * t * s * (one - s)
                        d[b, i, j] = df
                        d[b, i, r + j] = dg
                        part[j] += df
                        part[r + j] += dg
                for j in range(2 * r):
                    acc[j] += part[j]
            for j in range(2 * r):
                d_bias[b, f, j] = acc[j]


def gate_forward_frames(
    a: torch.Tensor, bias: torch.Tensor, out: torch.Tensor | None = None, threaded: bool = True
) -> torch.Tensor:
    """The gate of ``a`` (B, T, 2R) plus per-frame ``bias`` rows (1 or B, F, 2R), frame f
    covering rows f * T / F .. (f + 1) * T / F - 1, without writing ``a + bias`` first.

    ``out`` (B, T, R) receives it if given; ``threaded=False`` runs it in the calling thread
    (a caller that splits examples over threads of its own)."""
    if out is None:
        out = a.new_empty(*a.shape[:-1], a.shape[-1] // 2)
    hop = a.shape[1] // bias.shape[1]
    launch(
        _forward_frames, a.numpy(), bias.contiguous().numpy(), out.numpy(), hop, threaded=threaded
    )
    return out


def gate_backward_frames(
    a: torch.Tensor,
    bias: torch.Tensor,
    grad: torch.Tensor,
    threaded: bool = True,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of :func:`gate_forward_frames` for ``a`` and per (example, frame) for the
    bias, (B, F, 2R) (summed over examples by the caller for a shared bias). ``out`` (like
    ``a``, contiguous) receives the first if given: a buffer the caller reuses stays in cache."""
    d = torch.empty_like(a) if out is None else out
    d_bias = torch.empty(a.shape[0], bias.shape[1], a.shape[2], dtype=torch.float64)
    args = (a.numpy(), bias.contiguous().numpy(), grad.contiguous().numpy(), d.numpy())
    launch(_backward_frames, *args, d_bias.numpy(), threaded=threaded)
    return d, d_bias.to(a.dtype)


def gate_forward(a: torch.Tensor) -> torch.Tensor:
    """tanh(a[..., :R]) * sigmoid(a[..., R:]) of a contiguous float32 CPU tensor."""
    out = a.new_empty(*a.shape[:-1], a.shape[-1] // 2)
    launch_parallel(_forward, as_rows(a), as_rows(out))
    return out


def gate_backward(a: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`gate_forward` with respect to ``a``, written in one piece."""
    d = torch.empty_like(a)
    launch_parallel(_backward, as_rows(a), as_rows(grad.contiguous()), as_rows(d))
    return d
