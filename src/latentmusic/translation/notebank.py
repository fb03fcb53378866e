"""Our fast translation decoder: the shared latents play a bank of pitched harmonic voices.

A WaveNet decoder predicts every sample, so it needs days of GPU training before it keeps
the notes and seconds of CPU per second of audio to translate. This decoder reads the same
64-dim, 20 Hz latents of the shared encoder (the paper's encoder and domain confusion are
unchanged) and sets the knobs of a differentiable synthesizer instead: one harmonic voice
per equal-tempered pitch (MIDI ``low_pitch`` .. ``low_pitch + pitches - 1``), each an
additive stack of ``harmonics`` partials, plus filtered noise. Per control frame the
network outputs

    how loud each pitch plays        (B, N, pitches)       -- the notes: from the latents
    a brightness tilt over harmonics (B, N, harmonics)     -- the domain's colour over time
    noise magnitudes                 (B, N, noise_bands)   -- breath, bow and hammer noise

and every domain's decoder also owns a learnt harmonic profile per pitch (its timbre across
the register). Polyphony is native (a chord lights several pitches), the oscillators sit
at fixed frequencies (so synthesis is a matrix product with a fixed table of sines, no
pitch tracking), and everything trains with the multi-resolution STFT loss in CPU-hours.
Rendered or acoustic music that wanders far from equal temperament would need the pitch
grid refined; that is a limit of this decoder, not of the translation method.

Causal at every rate (latent convolutions, upsampling, control convolutions, amplitude
interpolation), so a long recording decodes chunk by chunk with a small state and no seam:
chunked decoding equals one-shot decoding for the harmonic part.

Shapes (F latent frames of ``pool`` samples; N = F * pool / hop control frames)::

    latents (B, D, F) -> 1x1 -> layers x causal conv k3 (residual) -> transposed conv x pool/hop
    -> 2 x causal conv k3 (residual) -> heads: pitch levels, brightness, noise  (B, C, N)
    partial (k, h) = harmonic h of pitch k (those below Nyquist), amplitude level[k] *
    softmax_h(profile[k] + brightness)[h], linearly interpolated from the previous frame
    audio = sum over partials of amplitude * sin(2 pi f t + phase) + filtered noise
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from latentmusic.nsynth.harmonic import HARMONIC_TILT, NOISE_BIAS, exp_sigmoid, filtered_noise

LEVEL_BIAS = -2.0  # every voice starts quiet (~-36 dB), yet loud enough for its gradient to count


@dataclass
class NoteBankState:
    """What a chunked decode carries from one chunk to the next."""

    latents: torch.Tensor  # (B, D, history) the last latent frames (the causal convs' past)
    amplitudes: torch.Tensor  # (B, partials) the last control frame's partial amplitudes
    offset: int  # samples decoded so far: the oscillators' phase reference
    generator: torch.Generator  # the noise's random stream
    tail: torch.Tensor | None = None  # (B, reverb taps - 1) the reverb still ringing


class CausalConv(nn.Module):
    """Residual block: GELU(conv k3 over the past) added to its input."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.pad = 2 * dilation
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.conv(F.pad(x, (self.pad, 0))))


class NoteBankDecoder(nn.Module):
    """One domain's decoder: latents -> synthesizer controls -> audio (see the module doc)."""

    def __init__(
        self,
        latent_dim: int,
        *,
        pool: int,
        hop: int,
        channels: int,
        layers: int,
        low_pitch: int,
        pitches: int,
        harmonics: int,
        noise_bands: int,
        sample_rate: int,
        reverb_seconds: float = 0.0,
    ) -> None:
        super().__init__()
        self.pool, self.hop, self.sample_rate = pool, hop, sample_rate
        self.low_pitch, self.pitches, self.harmonics = low_pitch, pitches, harmonics
        self.noise_bands = noise_bands
        self.inp = nn.Conv1d(latent_dim, channels, 1)
        self.latent_convs = nn.Sequential(*(CausalConv(channels, 2**i) for i in range(layers)))
        # Causal upsampling: control frame j of latent frame f reads latent frame f only.
        self.up = nn.ConvTranspose1d(channels, channels, pool // hop, stride=pool // hop)
        self.control_convs = nn.Sequential(CausalConv(channels), CausalConv(channels))
        self.build_heads(channels)
        k = torch.arange(1, harmonics + 1, dtype=torch.float32)
        # Each pitch's harmonic profile (softmax logits), starting at -14 dB per octave.
        self.profile = nn.Parameter(
            (-HARMONIC_TILT * math.log(10.0) * torch.log(k)).repeat(pitches, 1)
        )
        freqs = 440.0 * 2.0 ** ((low_pitch + torch.arange(pitches) - 69.0) / 12.0)
        partial_hz = freqs[:, None] * k[None, :]  # (pitches, harmonics)
        audible = partial_hz < sample_rate / 2
        # Indices of the partials below Nyquist in the flattened (pitch, harmonic) grid.
        self.register_buffer("audible", audible.reshape(-1).nonzero()[:, 0], persistent=False)
        self.register_buffer(
            "partial_hz", partial_hz.reshape(-1)[self.audible].double(), persistent=False
        )
        # The room of the recordings (FluidSynth's reverb, a hall): dry + dry convolved with a
        # fixed white-noise impulse response under a learnt gain and exponential decay. Only
        # those two numbers are learnt: a free impulse response (DDSP's) turned into a tuned
        # resonator holding the domain's average chord, and the first runs learnt to play
        # that drone through it instead of the notes.
        taps = int(round(reverb_seconds * sample_rate))
        self.reverb_taps = taps if taps > 1 else 0
        if self.reverb_taps:
            noise = torch.randn(taps, generator=torch.Generator().manual_seed(0))
            noise[0] = 0.0  # the direct sound is the dry signal itself
            self.register_buffer("reverb_noise", noise / math.sqrt(taps), persistent=False)
            self.reverb_log_gain = nn.Parameter(torch.tensor(math.log(0.05)))
            self.reverb_log_decay = nn.Parameter(torch.tensor(math.log(0.1)))  # seconds
        # Latent frames of the past that one output frame depends on (the latent convs' reach,
        # plus the frame the control convs' reach spills into): a chunked decode keeps them.
        self.receptive_frames = 2 * (2**layers - 1) + 1

    def build_heads(self, channels: int) -> None:
        """The 1x1 heads that read the control features: one level per pitch, a brightness
        tilt, noise bands. Zero weights: training starts from quiet, dull voices."""
        self.level = nn.Conv1d(channels, self.pitches, 1)
        self.brightness = nn.Conv1d(channels, self.harmonics, 1)
        self.noise = nn.Conv1d(channels, self.noise_bands, 1)
        for head in (self.level, self.brightness, self.noise):
            nn.init.zeros_(head.weight)
        nn.init.constant_(self.level.bias, LEVEL_BIAS)
        nn.init.zeros_(self.brightness.bias)
        nn.init.constant_(self.noise.bias, NOISE_BIAS)

    @property
    def n_partials(self) -> int:
        return int(self.audible.numel())

    # ------------------------------------------------------------------ controls
    def controls(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, D, F) latents -> per-control-frame partial amplitudes (B, N, partials) and
        noise magnitudes (B, N, bands), N = F * pool / hop."""
        h = self.control_convs(self.up(self.latent_convs(self.inp(latents))))
        level = exp_sigmoid(self.level(h)).transpose(1, 2)  # (B, N, pitches)
        tilt = self.brightness(h).transpose(1, 2)  # (B, N, harmonics)
        shape = torch.softmax(self.profile[None, None] + tilt[:, :, None, :], dim=-1)
        amps = (level[..., None] * shape).flatten(2)[..., self.audible]  # (B, N, partials)
        noise = exp_sigmoid(self.noise(h)).transpose(1, 2)
        return {"amplitudes": amps, "noise": noise}

    # ------------------------------------------------------------------ synthesis
    def synthesize(
        self,
        amplitudes: torch.Tensor,
        noise: torch.Tensor,
        *,
        previous: torch.Tensor | None = None,
        offset: int = 0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Controls -> (B, N * hop) audio. Each sample's partial amplitudes ramp linearly from
        the previous frame's to its own frame's (causal); ``previous`` is the frame before
        the first (silence when None), ``offset`` the first sample's absolute index."""
        b, n, p = amplitudes.shape
        hop = self.hop
        if previous is None:
            previous = torch.zeros_like(amplitudes[:, 0])
        before = torch.cat([previous[:, None], amplitudes[:, :-1]], dim=1)  # (B, N, P)
        active = None
        if not torch.is_grad_enabled():
            # Decoding: only the partials of pitches that sound in this chunk (a few of 64).
            loudest = torch.maximum(amplitudes.amax(dim=(0, 1)), previous.amax(dim=0))
            active = (loudest > 1e-4).nonzero()[:, 0]
            amplitudes, before = amplitudes[..., active], before[..., active]
        sines = _sine_table(self.partial_hz, n * hop, offset, self.sample_rate, active)
        sines = sines.to(amplitudes.dtype).reshape(n, hop, -1)  # (N, hop, P')
        pair = torch.stack([before, amplitudes], dim=-1)  # (B, N, P', 2)
        pair = pair.permute(1, 2, 0, 3).reshape(n, pair.shape[-2], 2 * b)  # (N, P', 2B)
        dots = torch.bmm(sines, pair).reshape(n, hop, b, 2)  # each sample against both frames
        ramp = torch.arange(1, hop + 1, device=amplitudes.device, dtype=amplitudes.dtype) / hop
        harmonic = dots[..., 0] * (1 - ramp)[None, :, None] + dots[..., 1] * ramp[None, :, None]
        harmonic = harmonic.permute(2, 0, 1).reshape(b, n * hop)
        return harmonic + filtered_noise(noise, hop, generator)

    def room(self) -> torch.Tensor:
        """The impulse response: fixed noise x gain x exp(-t / decay)."""
        t = torch.arange(self.reverb_taps, device=self.reverb_noise.device) / self.sample_rate
        envelope = torch.exp(self.reverb_log_gain - t / torch.exp(self.reverb_log_decay))
        return self.reverb_noise * envelope

    def add_reverb(
        self, dry: torch.Tensor, tail: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """dry + dry convolved with the learnt impulse response (FFT convolution); ``tail`` is
        what the previous chunk left ringing. Returns the audio and the new tail."""
        if not self.reverb_taps:
            return dry, None
        n, taps = dry.shape[-1], self.reverb_taps
        size = n + taps - 1
        n_fft = 1 << (size - 1).bit_length()
        wet = torch.fft.irfft(
            torch.fft.rfft(dry, n_fft) * torch.fft.rfft(self.room(), n_fft), n_fft
        )
        wet = wet[..., :size]
        if tail is not None:
            wet = torch.cat([wet[..., : taps - 1] + tail, wet[..., taps - 1 :]], dim=-1)
        return dry + wet[..., :n], wet[..., n:]

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, D, F) latents -> (B, F * pool) audio (training: no state, random noise)."""
        c = self.controls(latents)
        return self.add_reverb(self.synthesize(c["amplitudes"], c["noise"]))[0]

    @torch.no_grad()
    def decode(
        self, latents: torch.Tensor, state: NoteBankState | None = None, seed: int | None = None
    ) -> tuple[torch.Tensor, NoteBankState]:
        """Decode a chunk of latents, continuing ``state`` (None: the start of a recording)."""
        b, d, f = latents.shape
        if state is None:
            generator = torch.Generator(device=latents.device)
            generator.manual_seed(0 if seed is None else int(seed))
            history = latents.new_zeros(b, d, 0)
            state = NoteBankState(history, latents.new_zeros(b, self.n_partials), 0, generator)
        context = torch.cat([state.latents, latents], dim=-1)
        c = self.controls(context)
        skip = state.latents.shape[-1] * self.pool // self.hop  # control frames of the history
        amps, noise = c["amplitudes"][:, skip:], c["noise"][:, skip:]
        dry = self.synthesize(
            amps, noise, previous=state.amplitudes, offset=state.offset, generator=state.generator
        )
        audio, tail = self.add_reverb(dry, state.tail)
        keep = context[..., max(0, context.shape[-1] - self.receptive_frames) :]
        offset = state.offset + audio.shape[-1]
        new_state = NoteBankState(keep, amps[:, -1], offset, state.generator, tail)
        return audio, new_state


def _sine_table(
    partial_hz: torch.Tensor, n: int, offset: int, sample_rate: int, active: torch.Tensor | None
) -> torch.Tensor:
    """(n, partials) sin(2 pi f (offset + t) / sr + phase_f): the fixed oscillators. The
    phase is reduced to one cycle in float64 so a long recording stays exact; each partial's
    starting phase is fixed pseudo-random (all partials starting at 0 make a click)."""
    if active is None and offset == 0:
        return _cached_table(partial_hz.device.type, tuple(partial_hz.tolist()), n, sample_rate)
    hz = partial_hz if active is None else partial_hz[active]
    start = _start_phases(len(partial_hz), partial_hz.device)
    start = start if active is None else start[active]
    t = torch.arange(offset, offset + n, dtype=torch.float64, device=hz.device)
    cycles = torch.remainder(t[:, None] * (hz[None, :] / sample_rate) + start[None, :], 1.0)
    return torch.sin(2.0 * math.pi * cycles).to(torch.float32)


@functools.lru_cache(maxsize=4)
def _cached_table(
    device: str, partial_hz: tuple[float, ...], n: int, sample_rate: int
) -> torch.Tensor:
    """Training crops all start at sample 0: their table is computed once."""
    hz = torch.tensor(partial_hz, dtype=torch.float64, device=device)
    return _sine_table(hz, n, 0, sample_rate, torch.arange(len(hz), device=device))


@functools.lru_cache(maxsize=8)
def _start_phases(n: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(12345)
    return torch.rand(n, generator=generator, dtype=torch.float64).to(device)
