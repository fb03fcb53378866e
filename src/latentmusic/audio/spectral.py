"""Spectral features and losses: STFT magnitude, mel, CQT, multi-resolution STFT loss.

The multi-resolution STFT loss is Jukebox's spectral term: a waveform loss alone lets a
VQ-VAE decoder blur high frequencies, while magnitude spectra at three window sizes
(2048/240/1200, 1024/120/600, 512/50/240) penalise that at every time-frequency trade-off.
The same measure, with no gradient, is the evaluation distance; spectral convergence in dB
is the number Jukebox reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from latentmusic.errors import ConfigError, InputError

DEFAULT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = (
    (2048, 240, 1200),
    (1024, 120, 600),
    (512, 50, 240),
)
MAG_FLOOR = 1e-7  # on the squared magnitude: keeps sqrt/log finite and differentiable at 0


def _as_tensor(audio: Any) -> tuple[torch.Tensor, bool]:
    if isinstance(audio, torch.Tensor):
        return audio, False
    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), True


def _stft_mag(
    x: torch.Tensor, n_fft: int, hop_length: int, win_length: int, window: torch.Tensor
) -> torch.Tensor:
    """|STFT| of (..., T) -> (..., n_fft // 2 + 1, frames); short inputs are zero-padded."""
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    if x.shape[-1] < n_fft:
        x = nn.functional.pad(x, (0, n_fft - x.shape[-1]))
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    mag = torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=MAG_FLOOR))
    return mag.reshape(*lead, *mag.shape[-2:])


def _centred_frames_input(x: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """(B, T) audio reflect-padded as ``torch.stft(center=True)`` pads it, trimmed to the
    samples its frames read: frame f is ``[f * hop, f * hop + n_fft)`` of the result."""
    if x.shape[-1] < n_fft:
        x = nn.functional.pad(x, (0, n_fft - x.shape[-1]))
    frames = 1 + x.shape[-1] // hop_length
    half = n_fft // 2
    padded = nn.functional.pad(x[:, None], (half, half), mode="reflect")[:, 0]
    return padded[:, : (frames - 1) * hop_length + n_fft]


def _padded_window(window: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``window`` centred in ``n_fft`` samples, as ``torch.stft`` pads it."""
    left = (n_fft - window.shape[0]) // 2
    return nn.functional.pad(window, (left, n_fft - window.shape[0] - left))


def frame_spectrum(
    x: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor
) -> torch.Tensor:
    """The STFT of (B, T) ``x`` as (B, frames, n_fft // 2 + 1): ``torch.stft``'s (centred,
    reflect padding), transposed, with its frames taken as an ``unfold`` view.

    Why: ``unfold``'s backward adds the frames back in one kernel, where ``torch.stft``'s
    strided view scatters them with ``index_add`` after zero-filling.
    """
    padded = _centred_frames_input(x, n_fft, hop_length)
    return torch.fft.rfft(padded.unfold(-1, n_fft, hop_length) * _padded_window(window, n_fft))


def _magnitude(spec: torch.Tensor) -> torch.Tensor:
    """Floored magnitude of a complex spectrum, as ``_stft_mag`` floors it."""
    power = torch.view_as_real(spec).square().sum(-1)
    return torch.sqrt(torch.clamp(power, min=MAG_FLOOR))


def stft_magnitude(
    audio: Any, n_fft: int = 2048, hop_length: int = 512, win_length: int | None = None
) -> Any:
    """Hann-window STFT magnitude of (..., T) audio -> (..., n_fft//2+1, frames).

    Torch in, torch out (differentiable); numpy in, numpy out.
    """
    x, was_numpy = _as_tensor(audio)
    win_length = win_length or n_fft
    window = torch.hann_window(win_length, device=x.device, dtype=x.dtype)
    mag = _stft_mag(x, n_fft, hop_length, win_length, window)
    return mag.numpy() if was_numpy else mag


def mel_spectrogram(
    audio: np.ndarray,
    sr: int,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: float | None = None,
    log: bool = True,
) -> np.ndarray:
    """Mel power spectrogram (n_mels, frames) of (n,) audio; natural log (floored) if ``log``."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
    )
    return np.log(np.maximum(mel, 1e-10)).astype(np.float32) if log else mel.astype(np.float32)


def cqt(
    audio: np.ndarray,
    sr: int,
    hop_length: int = 256,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    fmin: float | None = None,
    filter_scale: float = 1.0,
) -> np.ndarray:
    """Complex constant-Q transform (n_bins, frames) via librosa; log-spaced pitch axis."""
    import librosa

    return librosa.cqt(
        np.asarray(audio, dtype=np.float32),
        sr=sr,
        hop_length=hop_length,
        n_bins=n_bins,
        bins_per_octave=bins_per_octave,
        fmin=fmin,
        filter_scale=filter_scale,
    )


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of spectral convergence + mean |log S - log S_hat|.

    ``forward(input, target)`` takes (B, T) or (B, 1, T) (or (T,)) and returns a scalar.
    Spectral convergence is ||S - S_hat||_F / ||S||_F per example, averaged over the batch.
    ``convergence=False`` puts DDSP's mean |S - S_hat| in its place: training crops of music
    include near-silent ones, whose spectral convergence (a division by their tiny norm)
    reaches hundreds and swamps the batch. ``log_weight`` scales the log-magnitude term.
    """

    def __init__(
        self,
        resolutions: Sequence[tuple[int, int, int]] = DEFAULT_RESOLUTIONS,
        convergence: bool = True,
        log_weight: float = 1.0,
    ):
        super().__init__()
        self.convergence = convergence
        self.log_weight = float(log_weight)
        self.resolutions = tuple((int(n), int(h), int(w)) for n, h, w in resolutions)
        if not self.resolutions:
            raise ConfigError("MultiResolutionSTFTLoss needs at least one resolution")
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            if not (0 < win <= n_fft and hop > 0):
                raise ConfigError(f"bad resolution (n_fft, hop, win)=({n_fft}, {hop}, {win})")
            # Not persistent: a model holding this loss keeps no windows in its checkpoint.
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if input.shape != target.shape:
            raise InputError(f"shape mismatch: input {tuple(input.shape)} vs {tuple(target.shape)}")
        x = input.reshape(-1, input.shape[-1]) if input.dim() != 1 else input[None]
        y = target.reshape(-1, target.shape[-1]) if target.dim() != 1 else target[None]
        total = x.new_zeros(())
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            window = getattr(self, f"window{i}").to(dtype=x.dtype)
            s_hat = _stft_mag(x, n_fft, hop, win, window)
            s = _stft_mag(y, n_fft, hop, win, window)
            if self.convergence:
                diff = torch.linalg.vector_norm(s - s_hat, dim=(-2, -1))
                ref = torch.linalg.vector_norm(s, dim=(-2, -1))
                linear = (diff / ref.clamp_min(1e-8)).mean()
            else:
                linear = (s - s_hat).abs().mean()
            log_mag = (torch.log(s) - torch.log(s_hat)).abs().mean()
            total = total + linear + self.log_weight * log_mag
        return total / len(self.resolutions)


class NormalisedSpectralLoss(nn.Module):
    """Jukebox's multi-resolution spectral loss (``jukebox/vqvae/vqvae.py``: multispectral).

    Mean over STFT resolutions of ||S - S_hat||_F on *linear* magnitudes, divided by the
    batch's mean ||S||_F (the official code divides by the data set's mean spectral norm).
    No log-magnitude term: on sparse tonal spectra a log term rewards a silent output,
    which matches the many near-empty bins, and the VQ-VAE gets stuck there.

    On a CPU in float32 the fast path (``fast_path``, default True) frames the signal with
    :func:`frame_spectrum` and computes the distance in one fused pass
    (:mod:`latentmusic.audio.spectral_fused`); ``fast_path = False`` runs the previous
    ``torch.stft`` implementation. :meth:`reference` computes the target's spectra once for
    several estimates of it (the VQ-VAE's three levels).
    """

    def __init__(self, resolutions: Sequence[tuple[int, int, int]]) -> None:
        super().__init__()
        self.resolutions = tuple((int(n), int(h), int(w)) for n, h, w in resolutions)
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)
        self.fast_path = True

    def fast_path_applies(self, est: torch.Tensor) -> bool:
        """Whether :meth:`forward` takes the fused CPU path for ``est`` (float32, no autocast)."""
        from latentmusic.audio import spectral_fused

        return (
            self.fast_path
            and spectral_fused.available()
            and est.device.type == "cpu"
            and est.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        )

    def reference(self, ref: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per resolution, the (B, frames, bins) magnitudes of ``ref`` and its normaliser
        (the batch's mean ||S||_F), for :meth:`forward`'s ``ref_spectra``."""
        out = []
        with torch.no_grad():
            for i, (n_fft, hop, _) in enumerate(self.resolutions):
                window = getattr(self, f"window{i}")
                s_ref = _magnitude(
                    frame_spectrum(ref.reshape(-1, ref.shape[-1]), n_fft, hop, window)
                )
                out.append((s_ref, s_ref.flatten(1).norm(dim=1).mean().clamp_min(1e-6)))
        return out

    def forward(
        self,
        est: torch.Tensor,
        ref: torch.Tensor,
        ref_spectra: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        if not self.fast_path_applies(est):
            return self._stft_path(est, ref)
        from latentmusic.audio.spectral_fused import framed_distance

        ref_spectra = self.reference(ref) if ref_spectra is None else ref_spectra
        flat = est.reshape(-1, est.shape[-1])
        total = est.new_zeros(())
        for i, ((n_fft, hop, _), (s_ref, scale)) in enumerate(
            zip(self.resolutions, ref_spectra, strict=True)
        ):
            padded = _centred_frames_input(flat, n_fft, hop)
            window = _padded_window(getattr(self, f"window{i}"), n_fft)
            total = total + framed_distance(padded, window, s_ref, hop).mean() / scale
        return total / len(self.resolutions)

    def _stft_path(self, est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        total = est.new_zeros(())
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            window = getattr(self, f"window{i}")
            s_ref = _stft_mag(ref, n_fft, hop, win, window)
            s_est = _stft_mag(est, n_fft, hop, win, window)
            diff = (s_ref - s_est).flatten(1).norm(dim=1)
            scale = s_ref.flatten(1).norm(dim=1).mean().detach().clamp_min(1e-6)
            total = total + diff.mean() / scale
        return total / len(self.resolutions)


def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Numpy/torch audio pair -> float32 tensors of equal length (trimmed to the shorter)."""
    x, y = (
        v.detach().to("cpu", torch.float32)
        if isinstance(v, torch.Tensor)
        else torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
        for v in (a, b)
    )
    n = min(x.shape[-1], y.shape[-1])
    if n == 0:
        raise InputError("cannot compare empty audio")
    x, y = x[..., :n], y[..., :n]
    if x.shape != y.shape:
        raise InputError(f"channel mismatch: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x, y


def multi_resolution_stft_distance(
    a: Any, b: Any, resolutions: Sequence[tuple[int, int, int]] = DEFAULT_RESOLUTIONS
) -> float:
    """The training loss as an evaluation number (``a`` is the reference); lower is closer."""
    ref, est = _pair(a, b)
    with torch.no_grad():
        return float(MultiResolutionSTFTLoss(resolutions)(est, ref))


def spectral_convergence_db(ref: Any, est: Any, n_fft: int = 2048, hop_length: int = 512) -> float:
    """20 log10(||S_ref - S_est||_F / ||S_ref||_F) on a 2048/512 STFT; more negative is better.

    Identical signals give -200 dB (the ratio is floored at 1e-10).
    """
    x, y = _pair(ref, est)
    with torch.no_grad():
        s_ref = stft_magnitude(x, n_fft, hop_length)
        s_est = stft_magnitude(y, n_fft, hop_length)
        ratio = torch.linalg.vector_norm(s_ref - s_est) / torch.linalg.vector_norm(s_ref).clamp_min(
            1e-8
        )
    return 20.0 * math.log10(max(float(ratio), 1e-10))
