"""The shared encoder with a semitone-spectrum front end (ours, an option of the config).

The paper's encoder reads 8-bit mu-law samples and has to learn its own filter bank with
dilated convolutions before its latents can say which notes sound; on two CPU cores that
takes longer than a sitting (the first note-bank runs kept chroma similarity at 0.55-0.68
after 1,000 steps). This encoder starts from what a musician's ear starts from: a log
magnitude spectrum on a semitone axis (a fixed, parameter-free projection of a 2048-point
STFT onto triangular filters centred on each equal-tempered pitch), then non-causal residual
convolutions at the control rate and an average pool to the same 20 Hz, 64-dim latents.
It is still one encoder shared by every domain and trained against the confusion network;
only its first stage is fixed instead of learnt.

Shapes (T samples, hop = pool / frames_per_latent)::

    audio (B, T) -> |STFT| (B, n_fft/2 + 1, T / hop) -> semitone filters -> log
    -> 1x1 -> layers x residual conv k3 (dilations 1, 2, 4, ...) -> 1x1 -> avg pool
    -> latents (B, latent_dim, T / pool)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

N_FFT = 2048
LOW_PITCH, HIGH_PITCH = 24, 108  # C1 .. C8: the piano's range and a little below
FLOOR = 1e-4  # log floor of the semitone spectrum (-80 dB of a full-scale sine's bin)


def semitone_filters(n_fft: int, sample_rate: int) -> torch.Tensor:
    """(pitches, n_fft/2 + 1) triangular filters centred on each MIDI pitch, reaching the
    neighbouring semitones' centres (low pitches, narrower than a bin, get the nearest bin)."""
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    midi = torch.arange(LOW_PITCH, HIGH_PITCH + 1, dtype=torch.float64)
    centre = 440.0 * 2.0 ** ((midi - 69) / 12)
    lower, upper = centre * 2.0 ** (-1 / 12), centre * 2.0 ** (1 / 12)
    rising = (bins[None] - lower[:, None]) / (centre - lower)[:, None]
    falling = (upper[:, None] - bins[None]) / (upper - centre)[:, None]
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    nearest = torch.argmin((bins[None] - centre[:, None]).abs(), dim=1)
    empty = weights.sum(dim=1) == 0
    weights[empty, nearest[empty]] = 1.0
    return (weights / weights.sum(dim=1, keepdim=True)).to(torch.float32)


def log_semitone_spectrum(
    audio: torch.Tensor, filters: torch.Tensor, window: torch.Tensor, hop: int
) -> torch.Tensor:
    """(B, T) audio -> (B, pitches, T // hop) log semitone magnitudes, 0 at the floor (-80 dB)
    and about 9 at full scale; frame j is centred on sample j * hop."""
    n = audio.shape[-1]
    spec = torch.stft(audio, N_FFT, hop, window=window, center=True, return_complex=True)
    spec = spec.abs()[..., : n // hop]
    return torch.log(torch.einsum("pf,bft->bpt", filters, spec) + FLOOR) - math.log(FLOOR)


class SpectralEncoder(nn.Module):
    """Audio -> latents through a fixed semitone spectrum and learnt non-causal convolutions."""

    def __init__(
        self,
        *,
        channels: int,
        layers: int,
        latent_dim: int,
        pool: int,
        hop: int,
        sample_rate: int,
    ) -> None:
        super().__init__()
        self.pool, self.hop = pool, hop
        self.register_buffer("filters", semitone_filters(N_FFT, sample_rate), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.inp = nn.Conv1d(self.filters.shape[0], channels, 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, dilation=2**i, padding=2**i) for i in range(layers)
        )
        self.out = nn.Conv1d(channels, latent_dim, 1)
        self.layers = layers

    def context(self) -> int:
        """Samples on each side that influence one latent frame's inputs."""
        return N_FFT // 2 + self.hop * 2**self.layers

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) audio, T a multiple of pool -> (B, latent_dim, T / pool)."""
        x = log_semitone_spectrum(audio, self.filters, self.window, self.hop)
        h = self.inp(x * 0.1)
        for conv in self.convs:
            h = h + F.gelu(conv(h))
        return F.avg_pool1d(self.out(h), self.pool // self.hop)
