"""Our pitch-grid translation model: a shared encoder whose latents live on a semitone grid,
and note-bank decoders that read each semitone's latents with one network shared by all.

Why: the note bank (notebank.py) behind a free 64-dim latent vector had to learn, pitch by
pitch, which latent direction means "this note sounds"; on two CPU cores it settled on one
fixed chord and the loudness envelope (docs/results.md). Here the question "does pitch k
sound now, and how" is asked the same way for every k: the encoder is a convolution over
(pitch, time) of a harmonically stacked semitone spectrum, so its weights are shared across
pitches (a note learnt in one register is learnt in all), and each decoder reads the
``grid_channels`` latents of one semitone through one small network shared by every
semitone. Timbre, the domain's part, stays in the decoders: a learnt harmonic profile per
pitch, brightness and envelope from the shared per-pitch network, noise and a room.

The paper's method is unchanged around it: one encoder shared by all domains, domain
confusion on the latents (flattened to ``(B, grid_channels x pitches, F)``, the interface
every translation decoder reads), one decoder per domain, trained only to reconstruct its
own domain.

Shapes (K pitches MIDI low..low+K-1, C = grid_channels, hop = spectrum_hop)::

    encoder: audio (B, T) -> semitone spectrum (B, 85, T/hop), log
             -> stack harmonics: channel j of grid pitch k = spectrum at k + HARMONIC_OFFSETS[j]
             -> (B, J, K, T/hop) -> conv 3x3 over (pitch, time) x layers (residual, GELU)
             -> 1x1 -> C -> avg pool over time -> (B, C, K, F) -> flatten (B, C*K, F)
    decoder: (B, C*K, F) -> per pitch (B*K, C, F) -> 1x1 + pitch embedding -> causal convs
             -> transposed conv x pool/hop -> causal convs -> level (1) and brightness
             (harmonics) per pitch and control frame; noise from the mean over pitches
             -> the note bank's additive synthesizer, noise and room (notebank.py)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from latentmusic.nsynth.harmonic import exp_sigmoid
from latentmusic.translation.notebank import NoteBankDecoder
from latentmusic.translation.spectral_encoder import (
    LOW_PITCH,
    N_FFT,
    log_semitone_spectrum,
    semitone_filters,
)

# Semitones from a pitch to its sub-octave and its harmonics 1..8 (round(12 log2 h)): the
# evidence for "pitch k sounds" sits at these rows of the semitone spectrum.
HARMONIC_OFFSETS = (-12, 0, 12, 19, 24, 28, 31, 34, 36)


class PitchGridEncoder(nn.Module):
    """Audio -> (B, channels x pitches, F) latents on a semitone grid (see the module doc)."""

    def __init__(
        self,
        *,
        channels: int,
        layers: int,
        grid_channels: int,
        low_pitch: int,
        pitches: int,
        pool: int,
        hop: int,
        sample_rate: int,
    ) -> None:
        super().__init__()
        self.pool, self.hop, self.layers = pool, hop, layers
        self.grid_channels, self.pitches = grid_channels, pitches
        self.register_buffer("filters", semitone_filters(N_FFT, sample_rate), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        rows = self.filters.shape[0]
        # rows[j, k] = the spectrum row holding harmonic j of grid pitch k (rows outside the
        # spectrum point at an extra all-floor row).
        grid = torch.arange(pitches)[None, :] + (low_pitch - LOW_PITCH)
        index = grid + torch.tensor(HARMONIC_OFFSETS)[:, None]
        index = torch.where((index >= 0) & (index < rows), index, torch.full_like(index, rows))
        self.register_buffer("rows", index, persistent=False)
        n_in = len(HARMONIC_OFFSETS)
        self.inp = nn.Conv2d(n_in, channels, 1)
        # The register matters a little (low notes blur across FFT bins): a learnt offset
        # per (channel, pitch) on top of the shared weights.
        self.register_bias = nn.Parameter(torch.zeros(channels, pitches, 1))
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, dilation=(1, 2**i), padding=(1, 2**i))
            for i in range(layers)
        )
        self.out = nn.Conv2d(channels, grid_channels, 1)

    def context(self) -> int:
        """Samples on each side that influence one latent frame's inputs."""
        return N_FFT // 2 + self.hop * 2**self.layers

    def grid(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) audio -> (B, C, K, F) latents, the grid before flattening."""
        semis = log_semitone_spectrum(audio, self.filters, self.window, self.hop)
        semis = F.pad(semis, (0, 0, 0, 1))  # the all-floor row
        x = semis[:, self.rows] * 0.1  # (B, J, K, T/hop)
        h = self.inp(x) + self.register_bias
        for conv in self.convs:
            h = h + F.gelu(conv(h))
        z = self.out(h)  # (B, C, K, T/hop)
        return F.avg_pool2d(z, (1, self.pool // self.hop))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) audio, T a multiple of pool -> (B, C*K, T / pool)."""
        return self.grid(audio).flatten(1, 2)


class NoteGridDecoder(NoteBankDecoder):
    """One domain's decoder: each semitone's latents -> that voice's level and brightness,
    through one network shared by all semitones; the note bank's synthesizer plays them."""

    def __init__(self, grid_channels: int, *, pool: int, hop: int, channels: int,
                 layers: int, low_pitch: int, pitches: int, harmonics: int,
                 noise_bands: int, sample_rate: int, reverb_seconds: float = 0.0) -> None:  # fmt: skip
        # The note bank's network, read per semitone: its input is one semitone's latents.
        super().__init__(
            grid_channels, pool=pool, hop=hop, channels=channels, layers=layers,
            low_pitch=low_pitch, pitches=pitches, harmonics=harmonics,
            noise_bands=noise_bands, sample_rate=sample_rate, reverb_seconds=reverb_seconds,
        )  # fmt: skip
        self.grid_channels = grid_channels
        self.pitch_embedding = nn.Parameter(torch.zeros(pitches, channels, 1))

    def build_heads(self, channels: int) -> None:
        """One voice's level (the network runs once per semitone), its brightness tilt, and
        noise bands read from the features pooled over semitones."""
        self.level = nn.Conv1d(channels, 1, 1)
        self.brightness = nn.Conv1d(channels, self.harmonics, 1)
        self.noise = nn.Conv1d(channels, self.noise_bands, 1)
        for head in (self.level, self.brightness, self.noise):
            nn.init.zeros_(head.weight)
        nn.init.constant_(self.level.bias, -3.0)  # every voice starts quiet (~-55 dB)
        nn.init.zeros_(self.brightness.bias)
        nn.init.constant_(self.noise.bias, -5.0)

    def controls(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, C*K, F) latents -> partial amplitudes (B, N, partials), noise (B, N, bands)."""
        b, _, f = latents.shape
        k = self.pitches
        per_pitch = latents.reshape(b, self.grid_channels, k, f).transpose(1, 2)  # (B, K, C, F)
        h = self.inp(per_pitch.reshape(b * k, self.grid_channels, f))
        h = (h.reshape(b, k, -1, f) + self.pitch_embedding).reshape(b * k, -1, f)
        h = self.control_convs(self.up(self.latent_convs(h)))  # (B*K, H, N)
        n = h.shape[-1]
        level = exp_sigmoid(self.level(h)).reshape(b, k, n).transpose(1, 2)  # (B, N, K)
        tilt = self.brightness(h).reshape(b, k, self.harmonics, n).permute(0, 3, 1, 2)
        shape = torch.softmax(self.profile[None, None] + tilt, dim=-1)  # (B, N, K, harmonics)
        amps = (level[..., None] * shape).flatten(2)[..., self.audible]
        pooled = h.reshape(b, k, -1, n).mean(dim=1)  # (B, H, N)
        noise = exp_sigmoid(self.noise(pooled)).transpose(1, 2)
        return {"amplitudes": amps, "noise": noise}
