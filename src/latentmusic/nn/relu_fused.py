"""The residual blocks' element-wise steps, each in one pass over memory (numba).

Why: the conv stacks of the VQ-VAE and of the WaveNet encoders are narrow (32-64
channels), so their GEMMs are short and the passes between them cost as much: in torch a
block's bias-then-ReLU is a bias copy and a ReLU, and its backward a ReLU gradient, a bias
gradient sum and the residual gradient's addition, each a full read or write of a
(batch x time, channels) tensor. These kernels do each step in one pass, in place.

Float32, C-contiguous (rows, channels) arrays; rows are split over the threads torch may
use. :func:`available` is False without numba, and callers keep their torch path.
"""

from __future__ import annotations

import numpy as np
import torch

from latentmusic.nn.numba_support import as_rows, launch, numba, parallel_jit
from latentmusic.nn.numba_support import available as available  # re-exported for callers

ROWS_PER_TASK = 1024  # rows one thread handles at a time: a few hundred KiB


if numba is not None:
    from numba import prange

    @parallel_jit
    def _bias_relu(x, bias):  # noqa: ANN001, ANN202
        n, c = x.shape
        zero = np.float32(0.0)
        for task in prange((n + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
            for i in range(task * ROWS_PER_TASK, min(n, (task + 1) * ROWS_PER_TASK)):
                for j in range(c):
                    x[i, j] = max(x[i, j] + bias[j], zero)

    @parallel_jit
    def _relu_grad_colsum(grad, out, partial):  # noqa: ANN001, ANN202
        n, c = grad.shape
        zero = np.float32(0.0)
        for task in prange(partial.shape[0]):
            acc = np.zeros(c, dtype=np.float64)
            for i in range(task * ROWS_PER_TASK, min(n, (task + 1) * ROWS_PER_TASK)):
                for j in range(c):
                    g = grad[i, j] if out[i, j] > zero else zero
                    grad[i, j] = g
                    acc[j] += g
            for j in range(c):
                partial[task, j] = acc[j]

    @parallel_jit
    def _masked_add(dx, mask_src, grad):  # noqa: ANN001, ANN202
        n, c = dx.shape
        zero = np.float32(0.0)
        for task in prange((n + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
            for i in range(task * ROWS_PER_TASK, min(n, (task + 1) * ROWS_PER_TASK)):
                for j in range(c):
                    d = dx[i, j] if mask_src[i, j] > zero else zero
                    dx[i, j] = grad[i, j] + d


def bias_relu_(x: torch.Tensor, bias: torch.Tensor, threaded: bool = True) -> torch.Tensor:
    """x = relu(x + bias) in place; ``x`` contiguous (..., C), ``bias`` (C,).

    ``threaded=False`` (here and below): run in the calling thread only."""
    launch(_bias_relu, as_rows(x), bias.detach().contiguous().numpy(), threaded=threaded)
    return x


def relu_grad_colsum_(grad: torch.Tensor, out: torch.Tensor, threaded: bool = True) -> torch.Tensor:
    """grad = grad * (out > 0) in place (the gradient through a ReLU whose output is
    ``out``); returns the column sums of the result (a bias's gradient), shape (C,)."""
    rows = as_rows(grad)
    partial = np.empty(((rows.shape[0] + ROWS_PER_TASK - 1) // ROWS_PER_TASK, rows.shape[1]))
    launch(_relu_grad_colsum, rows, as_rows(out), partial, threaded=threaded)
    return torch.from_numpy(partial.sum(0)).to(grad.dtype)


def masked_add_(
    dx: torch.Tensor, mask_src: torch.Tensor, grad: torch.Tensor, threaded: bool = True
) -> torch.Tensor:
    """dx = grad + dx * (mask_src > 0) in place: a residual block's input gradient, the
    identity path's ``grad`` plus the branch's ``dx`` through the ReLU at the input."""
    launch(_masked_add, as_rows(dx), as_rows(mask_src), as_rows(grad), threaded=threaded)
    return dx
