"""The spectral losses' distance for training on a CPU: framing, FFT and magnitude distance
as one autograd node whose element-wise work is one numba pass each way.

Why: a multi-resolution STFT loss is cheap in FFTs and expensive in everything around them.
``torch.stft``'s backward scatters every frame back with ``index_add`` into a zero-filled
buffer; ``rfft`` of padded frames fills and copies each one, and its backward zero-fills
the full complex spectrum; the magnitude and the distance to the reference are eight
element-wise kernels on complex tensors, and as many again backward. In a profile of the
Jukebox VQ-VAE step this took about a fifth of the step. Here (:func:`framed_distance`) the
frames are an ``unfold`` view of the padded signal, one kernel reads the spectrum and the
reference magnitudes once (one partial sum per block), and the backward's kernel writes the
spectrum's gradient already scaled for the adjoint of ``rfft`` (an ``irfft``), recomputing
the magnitude instead of storing it.

Float32 CPU tensors only; :func:`available` is False without numba, and callers keep the
torch path.
"""

from __future__ import annotations

import numpy as np
import torch

from latentmusic.audio.spectral import MAG_FLOOR
from latentmusic.errors import InputError
from latentmusic.nn.numba_support import available as available  # re-exported for callers
from latentmusic.nn.numba_support import launch_parallel, numba, parallel_jit

BLOCK = 16384  # spectrum bins one thread sums at a time


if numba is not None:
    from numba import prange

    @parallel_jit
    def _forward(spec, ref, partial):  # noqa: ANN001, ANN202
        batch, n = ref.shape
        blocks = partial.shape[1]
        floor = np.float32(MAG_FLOOR)
        for task in prange(batch * blocks):
            b, k = task // blocks, task % blocks
            acc = 0.0  # float64: a block sums up to BLOCK squares
            for i in range(k * BLOCK, min(n, (k + 1) * BLOCK)):
                re, im = spec[b, i, 0], spec[b, i, 1]
                d = ref[b, i] - np.sqrt(max(re * re + im * im, floor))
                acc += d * d
            partial[b, k] = acc

    @parallel_jit
    def _backward(spec, ref, coef, bins, dspec):  # noqa: ANN001, ANN202
        # dspec = d distance / d spec, scaled for irfft: bin 0 and bin n_fft / 2 by n_fft,
        # the others by n_fft / 2 (see _FramedDistance.backward).
        batch, n = ref.shape
        blocks = (n + BLOCK - 1) // BLOCK
        floor = np.float32(MAG_FLOOR)
        zero = np.float32(0.0)
        n_fft = np.float32(2 * (bins - 1))
        for task in prange(batch * blocks):
            b, k = task // blocks, task % blocks
            c = coef[b] * n_fft
            half = np.float32(0.5) * c
            for i in range(k * BLOCK, min(n, (k + 1) * BLOCK)):
                re, im = spec[b, i, 0], spec[b, i, 1]
                power = re * re + im * im
                if power >= floor:  # clamp_min passes the gradient where power >= floor
                    mag = np.sqrt(power)
                    j = i % bins
                    scale = (c if j == 0 or j == bins - 1 else half) * (mag - ref[b, i]) / mag
                    dspec[b, i, 0] = scale * re
                    dspec[b, i, 1] = scale * im
                else:
                    dspec[b, i, 0] = zero
                    dspec[b, i, 1] = zero


class _FramedDistance(torch.autograd.Function):
    """Per example: || ref - sqrt(max(|rfft(frames * window)|^2, floor)) ||_2 over all bins,
    the frames an ``unfold`` view of the padded signal."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        padded: torch.Tensor,
        window: torch.Tensor,
        ref: torch.Tensor,
        hop: int,
    ) -> torch.Tensor:
        n_fft = window.shape[0]
        batch = padded.shape[0]
        spec = torch.fft.rfft(padded.unfold(-1, n_fft, hop) * window)  # (B, frames, bins)
        pairs = torch.view_as_real(spec).reshape(batch, -1, 2)
        flat_ref = ref.contiguous().reshape(batch, -1)
        if flat_ref.shape[1] != pairs.shape[1]:
            raise InputError(
                f"Reference spectra {tuple(ref.shape)} do not match {tuple(spec.shape)}."
            )
        partial = np.empty((batch, -(-flat_ref.shape[1] // BLOCK)), dtype=np.float64)
        launch_parallel(_forward, pairs.numpy(), flat_ref.numpy(), partial)
        distance = torch.from_numpy(np.sqrt(partial.sum(1))).to(torch.float32)
        ctx.hop, ctx.padded_shape, ctx.spec_shape = hop, padded.shape, spec.shape
        ctx.save_for_backward(pairs, flat_ref, distance, window)
        return distance

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):  # type: ignore[override]
        pairs, ref, distance, window = ctx.saved_tensors
        n_fft = window.shape[0]
        # A zero distance has no direction: its gradient is 0, as torch's norm gives.
        coef = torch.where(distance > 0, grad / distance.clamp_min(1e-30), 0.0)
        dpairs = torch.empty_like(pairs)
        bins = ctx.spec_shape[-1]
        launch_parallel(
            _backward, pairs.numpy(), ref.numpy(), coef.float().numpy(), bins, dpairs.numpy()
        )
        # rfft's adjoint: d x_m = Re sum_k G_k e^(2 pi i k m / N) over the half spectrum,
        # which is irfft of G with the inner bins halved, times N (scaled in the kernel).
        dframes = torch.fft.irfft(torch.view_as_complex(dpairs).view(ctx.spec_shape), n=n_fft)
        dframes.mul_(window)
        dpadded = torch.ops.aten.unfold_backward(
            dframes, list(ctx.padded_shape), -1, n_fft, ctx.hop
        )
        return dpadded, None, None, None


def framed_distance(
    padded: torch.Tensor, window: torch.Tensor, ref: torch.Tensor, hop: int
) -> torch.Tensor:
    """(B,) distances between the floored STFT magnitudes of (B, L) float32 ``padded`` (frames
    of ``len(window)`` samples every ``hop``, each times ``window``) and ``ref`` (B, frames,
    bins); differentiable in ``padded``."""
    return _FramedDistance.apply(padded, window, ref, hop)
