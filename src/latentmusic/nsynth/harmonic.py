"""Our fast NSynth decoder: the timbre embedding drives a harmonic-plus-noise synthesizer.

The WaveNet autoencoder spends its capacity (and seconds of CPU per second of audio) on
predicting every sample. A musical note is mostly a sum of harmonics of a known f0 plus some
filtered noise, so this model keeps the NSynth encoder and embedding (16 dims every ``hop``
samples) and replaces the decoder with a small network that sets the knobs of a
differentiable synthesizer (the idea of DDSP, Engel et al. 2020, the NSynth team's own next
step), trained end to end with the multi-resolution STFT loss. It learns in CPU-hours and
decodes far faster than real time.

The note's pitch is a decoder input, not something the embedding has to hold: NSynth notes
come with their MIDI pitch, the synthesizer plays exactly that f0, and the embedding is free
to carry what morphing wants -- timbre and the loudness envelope. Decoding therefore takes a
pitch (``decode(z, pitch=60)``); the audio verbs estimate it from the input sound when none
is given, and ``interpolate`` plays the whole morph at one pitch.

Shapes (T samples, T a multiple of hop; N = T / control_hop control frames)::

    audio (B, T) -> mu-law -> encoder -> embedding (B, 16, T / hop)
    pitch (B,) MIDI -> f0 feature (B, 1)
    [MLP(z), MLP(f0)] -> GRU (embedding rate) -> upsampled to control rate
    [GRU, MLP(upsampled z), MLP(f0)] -> MLP -> amplitude (B, N), harmonic distribution (B, N, K),
                                              noise magnitudes (B, N, bands)
    harmonics: amplitudes linearly interpolated to the sample rate, phase = cumsum(2 pi f0 / sr)
    noise: white noise filtered frame by frame with a frequency-sampled FIR (linear phase)
    audio = harmonics + noise  (B, T)
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from latentmusic.audio.spectral import MAG_FLOOR, MultiResolutionSTFTLoss, stft_magnitude
from latentmusic.errors import InputError, LatentMusicWarning
from latentmusic.nsynth.config import HarmonicConfig
from latentmusic.nsynth.model import nsynth_encoder
from latentmusic.nsynth.verbs import (
    EmbeddingVerbs,
    as_audio_batch,
    as_embedding_batch,
    as_pitch_batch,
)

MU = 255.0  # the encoder reads mu-law companded audio, as the WaveNet autoencoder's does
# Initial biases of the decoder's last layer, so training starts from a plausible note rather
# than from 80 equal harmonics (whose every wrong partial the log-magnitude loss punishes,
# which drives a fresh model to silence its harmonics and play noise instead):
HARMONIC_TILT = 1.5  # harmonic k starts at k ** (-1.5 * ln 10) (-14 dB/octave): few partials
NOISE_BIAS = -5.0  # noise starts ~40 dB below the harmonics (DDSP's offset)


# ---- synthesizer (no parameters; differentiable in every control) ---------------------------


def midi_to_hz(pitch: torch.Tensor) -> torch.Tensor:
    return 440.0 * torch.pow(2.0, (pitch - 69.0) / 12.0)


def exp_sigmoid(x: torch.Tensor, max_value: float = 2.0) -> torch.Tensor:
    """DDSP's scaled sigmoid for amplitudes: positive, spans 70 dB, gradient never vanishes
    at the quiet end the way exp() explodes or softplus flattens."""
    return max_value * torch.sigmoid(x) ** math.log(10.0) + 1e-7


def upsample(controls: torch.Tensor, n_samples: int) -> torch.Tensor:
    """(B, N, C) frame controls -> (B, C, n_samples), linearly interpolated between frame
    centres (held flat before the first and after the last)."""
    return F.interpolate(
        controls.transpose(1, 2), size=n_samples, mode="linear", align_corners=False
    )


def harmonic_synth(
    amplitudes: torch.Tensor, f0_hz: torch.Tensor, n_samples: int, sample_rate: int
) -> torch.Tensor:
    """Additive synthesis: (B, N, K) harmonic amplitudes (already masked) at f0 (B,) Hz.

    The fundamental's phase is the cumulative sum of its angular frequency (so a per-sample
    f0 would glide without clicks), wrapped to [0, 2 pi) in float64 before it is multiplied
    by the integer harmonic numbers, so float32 error does not grow over a long note. The
    amplitudes are linearly interpolated between control-frame centres (``upsample``).

    When each control frame spans a whole number of samples (always, in the model) the sum
    over harmonics is taken frame by frame as a matrix product with the (at most 3) frames
    a sample's interpolation reads, over blocks of ~4096 samples: the same signal as
    upsampling every harmonic's amplitude to the sample rate, without the (B, K, T) tensors
    that made decoding memory-bound (issue 15: the fast decoder's 50x real time).
    """
    # Harmonics above Nyquist for every note of the batch are silent: skip them (for middle C
    # at 16 kHz that is 50 of 80, the bulk of the cost).
    audible = int(math.ceil(sample_rate / 2 / float(f0_hz.min().clamp_min(1e-3))))
    amplitudes = amplitudes[..., : max(1, min(audible, amplitudes.shape[-1]))]
    b, n, n_harm = amplitudes.shape
    k = torch.arange(1, n_harm + 1, device=amplitudes.device, dtype=amplitudes.dtype)
    omega = (2.0 * math.pi * f0_hz.double() / sample_rate)[:, None].expand(-1, n_samples)
    phase = torch.remainder(torch.cumsum(omega, dim=-1) - omega, 2.0 * math.pi)  # starts at 0
    phase = phase.to(amplitudes.dtype)
    if n_samples % n:  # a fractional frame: upsample every harmonic's amplitude
        phases = phase[:, None, :] * k[None, :, None]  # (B, K, T)
        return (upsample(amplitudes, n_samples) * torch.sin(phases)).sum(dim=1)
    h = n_samples // n
    weights = _frame_weights(n, h).to(device=amplitudes.device, dtype=amplitudes.dtype)
    frames = torch.arange(n, device=amplitudes.device)
    neighbours = torch.stack(
        [
            amplitudes[:, (frames - 1).clamp_min(0)],
            amplitudes,
            amplitudes[:, (frames + 1).clamp_max(n - 1)],
        ],
        dim=-1,
    )  # (B, N, K, 3): the frames before, at and after each frame
    block = max(1, _SYNTH_BLOCK // h)
    parts = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        span = slice(start * h, stop * h)
        waves = torch.sin(phase[:, span, None] * k)  # (B, t, K)
        dots = torch.bmm(
            waves.reshape(b * (stop - start), h, n_harm),
            neighbours[:, start:stop].reshape(b * (stop - start), n_harm, 3),
        )  # (B * frames, h, 3): each sample's harmonics weighted by 3 frames' amplitudes
        parts.append((dots.reshape(b, (stop - start) * h, 3) * weights[span]).sum(dim=-1))
    return torch.cat(parts, dim=1)


_SYNTH_BLOCK = 4096  # samples per block: the (B, block, K) sines stay in cache


@functools.lru_cache(maxsize=32)
def _frame_weights(n: int, h: int) -> torch.Tensor:
    """(n * h, 3) weights of the frames before, at and after each sample's frame: linear
    interpolation between frame centres, held before the first and after the last (exactly
    ``F.interpolate(mode="linear", align_corners=False)``'s)."""
    t = torch.arange(n * h, dtype=torch.float64)
    x = ((t + 0.5) / h - 0.5).clamp_min(0.0)
    lo = x.floor()
    alpha = x - lo
    hi = (lo + 1).clamp_max(n - 1)
    first = torch.div(t, h, rounding_mode="floor") - 1  # slot 0 is the frame before
    weights = torch.zeros(n * h, 3, dtype=torch.float64)
    weights.scatter_add_(1, (lo - first).long()[:, None], (1 - alpha)[:, None])
    weights.scatter_add_(1, (hi - first).long()[:, None], alpha[:, None])
    return weights


def harmonic_mask(f0_hz: torch.Tensor, n_harmonics: int, sample_rate: int) -> torch.Tensor:
    """(B, K) 1.0 for harmonics below Nyquist, 0.0 for those that would alias."""
    k = torch.arange(1, n_harmonics + 1, device=f0_hz.device, dtype=f0_hz.dtype)
    return (f0_hz[:, None] * k[None, :] < sample_rate / 2).to(f0_hz.dtype)


def noise_filter(magnitudes: torch.Tensor) -> torch.Tensor:
    """(B, N, bands) magnitudes at bands evenly spaced 0..Nyquist -> (B, N, L) linear-phase FIR
    taps, L = 2 (bands - 1): zero-phase inverse FFT, centred and Hann-windowed (frequency
    sampling design; the window smooths the response between the sampled frequencies)."""
    ir = torch.fft.irfft(torch.complex(magnitudes, torch.zeros_like(magnitudes)), dim=-1)
    taps = ir.shape[-1]
    ir = torch.roll(ir, taps // 2, dims=-1)
    return ir * torch.hann_window(taps, periodic=False, device=ir.device, dtype=ir.dtype)


def filtered_noise(
    magnitudes: torch.Tensor, hop: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniform white noise in [-1, 1), each control frame of ``hop`` samples convolved with its
    own FIR (FFT convolution, overlap-add); delay-compensated to (B, N * hop)."""
    b, n, _ = magnitudes.shape
    ir = noise_filter(magnitudes)
    taps = ir.shape[-1]
    noise = torch.rand((b, n, hop), generator=generator, device=magnitudes.device) * 2.0 - 1.0
    size = hop + taps - 1
    n_fft = 1 << (size - 1).bit_length()
    spec = torch.fft.rfft(noise.to(ir.dtype), n_fft) * torch.fft.rfft(ir, n_fft)
    frames = torch.fft.irfft(spec, n_fft)[..., :size]  # (B, N, size)
    total = (n - 1) * hop + size
    out = F.fold(
        frames.transpose(1, 2), output_size=(1, total), kernel_size=(1, size), stride=(1, hop)
    )[:, 0, 0]
    return out[:, taps // 2 : taps // 2 + n * hop]


def harmonic_levels(
    audio: torch.Tensor,
    f0_hz: torch.Tensor,
    n_harmonics: int,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log STFT magnitude at each harmonic of f0: (B, T) audio, (B,) Hz -> (B, K, frames)
    levels and a (B, K) mask of the harmonics below Nyquist.

    Each level is the largest of the three bins nearest k * f0 (a partial a little off its
    nominal pitch still lands in them). Why: the multi-resolution loss averages over every
    bin, and the ~35 bins a C5 note's even harmonics cover are a few percent of a frame, so a
    decoder can play a clarinet's absent even partials at full level for a small price.
    Here every partial counts once.
    """
    log_mag = torch.log(
        stft_magnitude(audio, n_fft, hop_length or n_fft // 4)
    )  # (B, bins, frames), floored
    k = torch.arange(1, n_harmonics + 1, device=audio.device, dtype=audio.dtype)
    centre = torch.round(f0_hz[:, None] * k * n_fft / sample_rate).long()  # (B, K)
    bins = log_mag.shape[1]
    nearby = torch.stack([(centre + d).clamp(0, bins - 1) for d in (-1, 0, 1)], dim=-1)
    picked = torch.gather(
        log_mag, 1, nearby.reshape(nearby.shape[0], -1, 1).expand(-1, -1, log_mag.shape[-1])
    )  # (B, K * 3, frames)
    levels = picked.reshape(nearby.shape[0], n_harmonics, 3, -1).amax(dim=2)
    return levels, harmonic_mask(f0_hz, n_harmonics, sample_rate)


def parity_basis(
    f0_hz: torch.Tensor, n_harmonics: int, bands: int, sample_rate: int
) -> torch.Tensor:
    """(B,) Hz -> (B, K, bands): each harmonic's weight on ``bands`` band centres spread evenly
    from 0 to Nyquist (linear interpolation, so an odd/even offset varies smoothly with
    frequency, as a clarinet's does: strong below ~2 kHz, fading above)."""
    k = torch.arange(1, n_harmonics + 1, device=f0_hz.device, dtype=f0_hz.dtype)
    position = f0_hz[:, None] * k / (sample_rate / 2) * (bands - 1)  # (B, K) in band units
    centres = torch.arange(bands, device=f0_hz.device, dtype=f0_hz.dtype)
    return (1.0 - (position[..., None] - centres).abs()).clamp_min(0.0)


def half_period_delayed(audio: torch.Tensor, f0_hz: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, T) audio of notes at (B,) f0 Hz, each delayed by half its period (a fractional
    delay, exact: a phase ramp in the frequency domain, zero-padded so nothing wraps around;
    the first half period reads silence). Half a period turns harmonic k by k half-turns:
    even harmonics come back in phase, odd ones inverted."""
    t = audio.shape[-1]
    delay = sample_rate / (2.0 * f0_hz.to(torch.float64))  # (B,) samples
    n_fft = 1 << int(t + float(delay.max().ceil()) - 1).bit_length()
    spec = torch.fft.rfft(audio.to(torch.float64), n_fft)
    cycles = torch.arange(spec.shape[-1], device=audio.device, dtype=torch.float64) / n_fft
    ramp = torch.exp(-2j * math.pi * cycles * delay[:, None])
    return torch.fft.irfft(spec * ramp, n_fft)[..., :t].to(audio.dtype)


def odd_harmonic_comb(
    audio: torch.Tensor, f0_hz: torch.Tensor, depth: torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """(B, T) audio of notes at (B,) f0 Hz -> (x(t) - g x(t - P/2)) / (1 + g), P the period:
    the even harmonics scaled by (1 - g) / (1 + g), the odd ones kept -- what a closed pipe
    (a clarinet, a stopped organ pipe) does to a spectrum. ``depth`` g in [0, 1) per item."""
    g = depth.to(audio.dtype)[:, None]
    return (audio - g * half_period_delayed(audio, f0_hz, sample_rate)) / (1.0 + g)


def comb_channels(
    audio: torch.Tensor, f0_hz: torch.Tensor, sample_rate: int, delayed: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, T) -> (B, 3, T): the audio, its even harmonics and its odd harmonics, i.e.
    x, (x + x(t - P/2)) / 2 and (x - x(t - P/2)) / 2 (``comb_input``'s encoder input).
    ``delayed``: ``half_period_delayed(audio, ...)`` when the caller already has it."""
    if delayed is None:
        delayed = half_period_delayed(audio, f0_hz, sample_rate)
    return torch.stack([audio, (audio + delayed) / 2.0, (audio - delayed) / 2.0], dim=1)


PARITY_CLAMP = 6.0  # |ln(even / odd)| read at most (52 dB): past it a sound has no such partials


def parity_features(
    audio: torch.Tensor,
    f0_hz: torch.Tensor,
    hop: int,
    bands: int,
    sample_rate: int,
    delayed: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, T) notes at (B,) f0 Hz -> (B, bands, T // hop): per frame of ``hop`` samples and
    band (``bands`` equal slices of 0..Nyquist), ln of the even harmonics' energy over the
    odd ones' -- the two halves of the half-period comb, so the split is exact at any pitch
    and the STFT only sorts it into bands. Silent frames and bands read 0. ``delayed``:
    ``half_period_delayed(audio, ...)`` when the caller already has it."""
    if delayed is None:
        delayed = half_period_delayed(audio, f0_hz, sample_rate)
    frames = audio.shape[-1] // hop
    window = torch.hann_window(hop, device=audio.device, dtype=audio.dtype)
    bins = hop // 2 + 1
    band_of_bin = torch.clamp(
        torch.arange(bins, device=audio.device) * bands // bins, max=bands - 1
    )

    def band_energy(x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            x[:, : frames * hop], hop, hop, window=window, center=False, return_complex=True
        )  # (B, bins, frames)
        energy = spec.real.square() + spec.imag.square()
        out = energy.new_zeros(x.shape[0], bands, frames)
        return out.index_add_(1, band_of_bin, energy)

    even = band_energy((audio + delayed) / 2.0)
    odd = band_energy((audio - delayed) / 2.0)
    floor = 1e-6 * (even + odd).sum(dim=1, keepdim=True) + 1e-9  # relative to the frame
    return torch.log((even + floor) / (odd + floor)).clamp(-PARITY_CLAMP, PARITY_CLAMP)


HARMONIC_FLOOR_DB = 60.0  # harmonic_features: levels read down to this far under the loudest
# ... in frames whose loudest harmonic stands 40 dB over the STFT's floor (a sine of ~1e-4)
SILENT_DB = 10.0 * math.log10(MAG_FLOOR) + 40.0


def harmonic_features(
    audio: torch.Tensor, f0_hz: torch.Tensor, hop: int, n_harmonics: int, sample_rate: int
) -> torch.Tensor:
    """(B, T) notes at (B,) f0 Hz -> (B, n_harmonics, T // hop): per frame of ``hop``
    samples, each harmonic's level in dB under the frame's loudest harmonic, scaled from
    [-HARMONIC_FLOOR_DB, 0] to [-1, 1] (harmonics above Nyquist read -1). Frames more than
    HARMONIC_FLOOR_DB under the crop's loudest, or silent, read 0 (no timbre to tell).

    ``harmonic_levels`` with a 2048-point STFT every ``hop`` samples (centred frames; the two
    nearest a frame's middle averaged), so low notes' harmonics are resolved."""
    frames = audio.shape[-1] // hop
    levels, mask = harmonic_levels(audio, f0_hz, n_harmonics, sample_rate, hop_length=hop)
    levels = levels[..., : frames + 1]
    if levels.shape[-1] < frames + 1:  # a crop shorter than the STFT: zero-padded by it
        levels = F.pad(levels, (0, frames + 1 - levels.shape[-1]), mode="replicate")
    db = (levels[..., :-1] + levels[..., 1:]) * (0.5 * 20.0 / math.log(10.0))
    db = torch.where(mask[..., None] > 0, db, torch.full_like(db, -1e4))
    loudest = db.amax(dim=1, keepdim=True)  # (B, 1, frames)
    relative = (db - loudest).clamp(min=-HARMONIC_FLOOR_DB)
    scaled = 1.0 + 2.0 * relative / HARMONIC_FLOOR_DB
    heard = (loudest >= loudest.amax(dim=-1, keepdim=True) - HARMONIC_FLOOR_DB) & (
        loudest > SILENT_DB
    )
    return scaled * heard


def level_logits(scaled: torch.Tensor) -> torch.Tensor:
    """``harmonic_features`` levels (scaled dB under the loudest) -> the decoder's harmonic
    logits that play them: ``exp_sigmoid`` of the result is the level as an amplitude, from
    1 (the loudest) down to HARMONIC_FLOOR_DB under it."""
    amplitude = 10.0 ** ((scaled - 1.0) * (HARMONIC_FLOOR_DB / 40.0))
    return torch.logit((amplitude / 2.0) ** (1.0 / math.log(10.0)))


# harmonic_skip: the learned mix is this times its parameter. Adam moves a parameter by about
# the learning rate per step whatever its gradient's scale; so the mix goes from 0 (the
# decoder's own levels) to 1 (the measured ones) in ~100s of steps rather than thousands.
SKIP_RATE = 10.0


def augment_parity(
    audio: torch.Tensor, f0_hz: torch.Tensor, fraction: float, sample_rate: int
) -> torch.Tensor:
    """Comb-filter a random ``fraction`` of the (B, T) crops (``odd_harmonic_comb``), their
    even harmonics lowered by 10-30 dB (uniform in dB); the rest unchanged."""
    b = audio.shape[0]
    chosen = torch.rand(b, device=audio.device) < fraction
    if not bool(chosen.any()):
        return audio
    cut_db = 10.0 + 20.0 * torch.rand(b, device=audio.device, dtype=torch.float64)
    ratio = torch.pow(10.0, -cut_db / 20.0)  # even / odd level after the comb
    depth = (1.0 - ratio) / (1.0 + ratio)
    combed = odd_harmonic_comb(audio[chosen], f0_hz[chosen], depth[chosen], sample_rate)
    out = audio.clone()
    out[chosen] = combed
    return out


def augment_colour(
    audio: torch.Tensor, fraction: float, eq_db: float, sample_rate: int
) -> torch.Tensor:
    """Recolour a random ``fraction`` of the (B, T) crops with ``audio.augment.random_colour``
    (a random smooth EQ of up to +-``eq_db``, no loudness envelope, peak kept); the rest
    unchanged. Draws come from torch's generator, so ``torch.manual_seed`` repeats them."""
    import numpy as np

    from latentmusic.audio.augment import random_colour

    chosen = torch.rand(audio.shape[0], device=audio.device) < fraction
    if not bool(chosen.any()):
        return audio
    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
    out = audio.clone()
    for i in chosen.nonzero().flatten().tolist():
        crop = audio[i].detach().cpu().float().numpy()
        recoloured = random_colour(crop, sample_rate, rng, eq_db=eq_db, envelope_db=0.0)
        out[i] = torch.from_numpy(recoloured).to(audio)
    return out


# ---- network ---------------------------------------------------------------------------------


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """A half-precision tensor as float32; float32 and float64 unchanged."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def _mlp(inputs: int, width: int, layers: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [
            nn.Linear(inputs if i == 0 else width, width),
            nn.LayerNorm(width),
            nn.LeakyReLU(),
        ]
    return nn.Sequential(*blocks)


class HarmonicAutoencoder(EmbeddingVerbs, nn.Module):
    """NSynth encoder + pitch-conditioned harmonic-plus-noise decoder, with the family's verbs."""

    model_type = "harmonic"
    takes_pitch = True  # decode and the audio verbs take ``pitch=`` (MIDI note number)

    def __init__(self, config: HarmonicConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.sample_rate = config.sample_rate
        self.hop = config.hop
        # The embedding's width: the learned channels, then (harmonic_skip) the measured levels.
        self.bottleneck = config.bottleneck + (config.harmonic_input if config.harmonic_skip else 0)
        self.encoder = nsynth_encoder(config)
        # The measured odd/even balance enters the embedding linearly (config.parity_input);
        # zero at first, so a model grown from one without it embeds exactly as before.
        self.parity_in = (
            nn.Linear(config.parity_input, config.bottleneck, bias=False)
            if config.parity_input
            else None
        )
        if self.parity_in is not None:
            nn.init.zeros_(self.parity_in.weight)
        # The measured harmonic levels, likewise (config.harmonic_input).
        self.harmonic_in = (
            nn.Linear(config.harmonic_input, config.bottleneck, bias=False)
            if config.harmonic_input
            else None
        )
        if self.harmonic_in is not None:
            nn.init.zeros_(self.harmonic_in.weight)
        # The mix of the measured levels into the decoder's, per harmonic (harmonic_skip). It
        # starts full (the measured levels as they are): on the unseen test instruments that
        # beat the decoder's own levels before any training (docs/results.md).
        self.skip_mix = (
            nn.Parameter(torch.full((config.harmonic_input,), 1.0 / SKIP_RATE))
            if config.harmonic_skip
            else None
        )
        h = config.hidden
        self.z_mlp = _mlp(config.bottleneck, h, config.mlp_layers)
        self.f0_mlp = _mlp(1, h, config.mlp_layers)
        self.gru = nn.GRU(2 * h, h, batch_first=True)
        self.out_mlp = _mlp(3 * h, h, config.mlp_layers)
        self.head = nn.Linear(h, 1 + config.n_harmonics + config.noise_bands)
        # The odd/even control (config.parity_bands): starts at zero, i.e. no offset, so a
        # model grown from one without it plays exactly as before (train.grow_harmonic).
        self.parity_head = nn.Linear(h, config.parity_bands) if config.parity_bands else None
        if self.parity_head is not None:
            nn.init.zeros_(self.parity_head.weight)
            nn.init.zeros_(self.parity_head.bias)
        with torch.no_grad():
            k = torch.arange(1, config.n_harmonics + 1, dtype=torch.float32)
            self.head.bias.zero_()
            self.head.bias[1 : 1 + config.n_harmonics] = -HARMONIC_TILT * torch.log(k)
            self.head.bias[1 + config.n_harmonics :] = NOISE_BIAS
        self.spectral_loss = MultiResolutionSTFTLoss()  # the eval's spectral distance

    # ---- encoder -----------------------------------------------------------------------------

    def embed(
        self,
        audio: torch.Tensor,
        pitch: torch.Tensor | None = None,
        pitched: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T) audio in [-1, 1], T a multiple of hop -> (B, self.bottleneck, T // hop).

        With ``comb_input`` or ``parity_input`` the encoder also reads the note's even and odd
        harmonics, split at its (B,) MIDI ``pitch`` (one half-period delay serves both); with
        ``harmonic_input``, its harmonics' levels at that pitch (with ``harmonic_skip`` also
        appended to the embedding as they are). Items whose (B,) ``pitched`` is False have no
        pitch to measure at: their measurements read 0, as a silent frame's do."""
        c = self.config
        x = audio.clamp(-1.0, 1.0)
        signal, delayed, f0_hz = x, None, None
        if self.reads_pitch:
            if pitch is None:
                raise InputError("This model's encoder reads the note's pitch: pass pitch=.")
            f0_hz = midi_to_hz(pitch.to(x.dtype))
            delayed = half_period_delayed(x, f0_hz, self.sample_rate)
        if c.comb_input:
            signal = comb_channels(x, f0_hz, self.sample_rate, delayed)
        companded = torch.sign(signal) * torch.log1p(MU * signal.abs()) / math.log1p(MU)
        z = self.encoder(companded)
        keep = None if pitched is None else pitched.to(x.dtype)[:, None, None]
        if self.parity_in is not None:
            features = parity_features(
                x, f0_hz, self.hop, c.parity_input, self.sample_rate, delayed
            )
            features = features if keep is None else features * keep
            z = z + self.parity_in(features.transpose(1, 2)).transpose(1, 2)
        if self.harmonic_in is not None:
            features = harmonic_features(x, f0_hz, self.hop, c.harmonic_input, self.sample_rate)
            features = features if keep is None else features * keep
            z = z + self.harmonic_in(features.transpose(1, 2)).transpose(1, 2)
            if self.skip_mix is not None:
                z = torch.cat([z, features.to(z.dtype)], dim=1)
        return z

    # ---- decoder -----------------------------------------------------------------------------

    def controls(
        self, z: torch.Tensor, pitch: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, self.bottleneck, F) embedding + (B,) MIDI pitch -> synthesizer controls per
        control frame: harmonic amplitudes (B, N, K) (masked above Nyquist), noise magnitudes
        (B, N, bands) and f0 (B,) Hz, with N = F * hop / control_hop."""
        c = self.config
        frames, n = z.shape[-1], z.shape[-1] * (c.hop // c.control_hop)
        z, measured = z[:, : c.bottleneck], z[:, c.bottleneck :]
        feature = ((pitch - 64.0) / 24.0).to(z.dtype)[:, None, None]  # (B, 1, 1)
        hf = self.f0_mlp(feature)  # one pitch per note: the same for every frame
        # The GRU runs at the embedding rate, where the information is (4x fewer sequential
        # steps than at the control rate); the output MLP reads it and the embedding linearly
        # interpolated to the control rate, so the envelopes come out smooth.
        g, _ = self.gru(torch.cat([self.z_mlp(z.transpose(1, 2)), hf.expand(-1, frames, -1)], -1))
        zc = F.interpolate(z, size=n, mode="linear", align_corners=False).transpose(1, 2)
        gc = F.interpolate(g.transpose(1, 2), size=n, mode="linear", align_corners=False)
        parts = [gc.transpose(1, 2), self.z_mlp(zc), hf.expand(-1, n, -1)]
        hidden = self.out_mlp(torch.cat(parts, dim=-1))
        out = self.head(hidden)
        amplitude = exp_sigmoid(out[..., :1])
        f0_hz = midi_to_hz(pitch.to(out.dtype))
        mask = harmonic_mask(f0_hz, c.n_harmonics, c.sample_rate)[:, None, :]
        levels = out[..., 1 : 1 + c.n_harmonics]
        if self.parity_head is not None:  # (B, N, bands) offsets -> the even harmonics' levels
            basis = parity_basis(f0_hz, c.n_harmonics, c.parity_bands, c.sample_rate)
            even = (torch.arange(1, c.n_harmonics + 1, device=out.device) % 2 == 0).to(out.dtype)
            levels = levels + torch.einsum("bnp,bkp->bnk", self.parity_head(hidden), basis) * even
        if self.skip_mix is not None:
            levels = self._mix_measured(levels, measured, n)
        dist = exp_sigmoid(levels) * mask
        dist = dist / dist.sum(dim=-1, keepdim=True).clamp_min(1e-7)
        noise = exp_sigmoid(out[..., 1 + c.n_harmonics :])
        return amplitude * dist, noise, f0_hz

    def _mix_measured(self, levels: torch.Tensor, measured: torch.Tensor, n: int) -> torch.Tensor:
        """Pull the (B, N, n_harmonics) logits' first harmonics towards the (B, K, F) measured
        levels, by the learned mix; frames where nothing was heard (all zero) keep their own."""
        k = measured.shape[1]
        heard = (measured != 0).any(dim=1, keepdim=True).to(levels.dtype)
        size = {"size": n, "mode": "linear", "align_corners": False}
        target = level_logits(F.interpolate(measured.to(levels.dtype), **size).transpose(1, 2))
        mix = (
            SKIP_RATE
            * self.skip_mix.to(levels.dtype)
            * F.interpolate(heard, **size).transpose(1, 2)
        )
        own = levels[..., :k]
        return torch.cat([own + mix * (target - own), levels[..., k:]], dim=-1)

    def synthesize(
        self, z: torch.Tensor, pitch: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(B, self.bottleneck, F) embedding at (B,) MIDI pitch -> (B, F * hop) audio."""
        c = self.config
        controls = self.controls(z, pitch)
        n_samples = z.shape[-1] * c.hop
        # The synthesizer runs in (at least) float32 under mixed precision: its FFTs refuse
        # bfloat16, and a phase summed over thousands of samples cannot be held in 8 bits.
        with torch.autocast(z.device.type, enabled=False):
            harmonics, noise, f0_hz = (_at_least_float32(t) for t in controls)
            audio = harmonic_synth(harmonics, f0_hz, n_samples, c.sample_rate)
            return audio + filtered_noise(noise, c.control_hop, generator)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Multi-resolution STFT loss of the reconstruction of (B, T) ``audio`` crops of notes
        at their (B,) MIDI ``pitch``, over the batch laid end to end as one signal.

        Spectral convergence is a ratio to the target's energy. Per crop, one from a note's
        silent tail (most of a 4 s NSynth note is release) has next to none, and its ratio
        (10^2-10^4 for a fresh model) would swamp the batch and teach only silence; over the
        whole batch each crop counts in proportion. Frames that straddle two crops compare
        the same straddle in both signals.
        """
        audio = batch["audio"]
        frames = audio.shape[-1] // self.hop
        audio = audio[:, : frames * self.hop]
        pitch = torch.as_tensor(batch["pitch"], device=audio.device).to(audio.dtype).reshape(-1)
        c = self.config
        if self.training and c.parity_augment > 0:
            audio = augment_parity(audio, midi_to_hz(pitch), c.parity_augment, c.sample_rate)
        if self.training and c.colour_augment > 0:
            audio = augment_colour(audio, c.colour_augment, c.colour_eq_db, c.sample_rate)
        recon = self.synthesize(self.embed(audio, pitch), pitch)
        spectral = self.spectral_loss(recon.reshape(1, -1), audio.reshape(1, -1))
        weight = c.harmonic_loss_weight
        if not weight:
            return {"loss": spectral}
        f0_hz = midi_to_hz(pitch)
        wanted, mask = harmonic_levels(audio, f0_hz, c.n_harmonics, c.sample_rate)
        played, _ = harmonic_levels(recon, f0_hz, c.n_harmonics, c.sample_rate)
        per_harmonic = (wanted - played).abs().mean(dim=-1)  # (B, K)
        harmonics = (per_harmonic * mask).sum() / mask.sum().clamp_min(1.0)
        return {"loss": spectral + weight * harmonics, "spectral": spectral, "harmonics": harmonics}

    # ---- verbs -------------------------------------------------------------------------------

    @property
    def reads_pitch(self) -> bool:  # type: ignore[override]
        """Whether the encoder reads the sound's own pitch (``comb_input``, ``parity_input``,
        ``harmonic_input``)."""
        c = self.config
        return bool(c.comb_input or c.parity_input or c.harmonic_input)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, audio: Any, pitch: Any = None) -> torch.Tensor:
        """Audio (T,) or (B, T) in [-1, 1] -> embedding (T // hop, 16) or (B, T // hop, 16).

        ``pitch`` (MIDI, one or one per sound) is the sound's own, read by an encoder with
        ``comb_input``, ``parity_input`` or ``harmonic_input``; default: estimated from the
        sound. A sound with no pitch (a drum, noise) is encoded without its measured parts
        (they read 0, as a silent frame's do), with a warning; a ``comb_input`` encoder, whose
        input itself is split at the pitch, refuses it. Other encoders ignore ``pitch``."""
        x, single = as_audio_batch(audio, self.hop, self.sample_rate)
        p, pitched = None, None
        if self.reads_pitch and pitch is not None:
            p = as_pitch_batch(pitch, x.shape[0])
        elif self.reads_pitch:
            p = self.estimate_pitch(x, missing_ok=not self.config.comb_input)
            pitched = torch.isfinite(p)
            if not pitched.all():
                warnings.warn(
                    f"No pitch found in {int((~pitched).sum())} of {len(p)} sound(s); "
                    "encoded without their measured harmonic levels (give --pitch to "
                    "measure them at a pitch).",
                    LatentMusicWarning,
                    stacklevel=2,
                )
            p = torch.where(pitched, p, torch.full_like(p, 60.0))
            pitched = pitched.to(self._device())
        if p is not None:
            p = p.to(self._device())
        with torch.no_grad():
            z = self.embed(x.to(self._device()), p, pitched).transpose(1, 2).cpu()
        return z[0] if single else z

    def decode(
        self,
        embedding: Any,
        pitch: Any = None,
        temperature: float = 1.0,
        seed: int | None = 0,
        backend: str = "auto",
        progress: bool = False,
    ) -> torch.Tensor:
        """Embedding (frames, 16) or (B, frames, 16) played at ``pitch`` (a MIDI note number,
        or one per batch item) -> audio of frames * hop samples.

        ``seed`` fixes the noise (None = fresh randomness); ``temperature``, ``backend`` and
        ``progress`` exist for the WaveNet model's sake and do not change this model.
        """
        del temperature, backend, progress
        z, single = as_embedding_batch(embedding, self.bottleneck)
        if pitch is None:
            raise InputError(
                "The harmonic model plays an embedding at a pitch: pass pitch= (a MIDI note "
                "number; --pitch on the command line)."
            )
        p = as_pitch_batch(pitch, z.shape[0])
        device = self._device()
        generator = torch.Generator(device=device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        with torch.no_grad():
            audio = self.synthesize(z.transpose(1, 2).to(device), p.to(device), generator)
        audio = audio.cpu().clamp(-1.0, 1.0)
        return audio[0] if single else audio
