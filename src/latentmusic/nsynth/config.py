"""NSynth configs: the WaveNet autoencoder, the spectral-autoencoder baseline and the harmonic
(harmonic-plus-noise synthesizer) decoder, with presets.

``paper`` is Engel et al. 2017 as published (and as magenta's ``h512_bo16.py``); ``small``
learns on a 2-core CPU in a few hours; ``tiny`` trains in seconds for tests.
Both configs are frozen dataclasses so a checkpoint's ``config.json`` rebuilds the exact model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from latentmusic.errors import ConfigError
from latentmusic.train.config import require_positive

MODEL_TYPES = ("wavenet", "spectral", "harmonic")


def _check_schedule(steps: tuple[int, ...], factors: tuple[float, ...]) -> None:
    if len(steps) != len(factors):
        raise ConfigError(
            f"lr_decay_steps ({len(steps)} values) and lr_decay_factors ({len(factors)} values) "
            "must have the same length."
        )
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)) or any(s <= 0 for s in steps):
        raise ConfigError("lr_decay_steps must be positive and strictly increasing.")
    if any(f <= 0 for f in factors):
        raise ConfigError("lr_decay_factors must be positive.")


def lr_factor(step: int, steps: tuple[int, ...], factors: tuple[float, ...]) -> float:
    """Staged (piecewise-constant) learning-rate multiplier at ``step``, as NSynth trained."""
    factor = 1.0
    for boundary, value in zip(steps, factors, strict=True):
        if step >= boundary:
            factor = value
    return factor


@dataclass(frozen=True)
class NSynthConfig:
    """WaveNet autoencoder: non-causal dilated encoder -> 16-dim embedding every ``hop`` samples
    -> causal WaveNet decoder conditioned on it, predicting 8-bit mu-law codes."""

    # The WaveNet encoder's knobs have the translation family's names (was encoder_width).
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"encoder_width": "encoder_channels"}

    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"crop", "lr", "lr_decay_steps", "lr_decay_factors", "adam_beta1", "adam_beta2"}
    )

    sample_rate: int = 16000
    mu: int = 255  # 8-bit mu-law: mu + 1 = 256 softmax classes
    crop: int = 6144  # training crop (samples); a multiple of hop
    # Non-causal temporal encoder (start conv, then ReLU -> dilated conv -> ReLU -> 1x1 residual).
    encoder_channels: int = 128
    encoder_layers: int = 30
    encoder_cycle: int = 10  # dilations 1, 2, ..., 2**(cycle-1), repeated
    encoder_kernel: int = 3
    bottleneck: int = 16  # embedding channels
    hop: int = 512  # average-pool length: one embedding frame per hop samples
    # Causal WaveNet decoder (gated tanh*sigmoid; embedding added in every layer + before logits).
    decoder_residual: int = 512
    decoder_skip: int = 256
    decoder_layers: int = 30
    decoder_cycle: int = 10
    decoder_kernel: int = 3
    # Pitch conditioning (the paper's pitch-conditioned variant; ours at these sizes): a learnt
    # pitch_channels-dim embedding of the note's MIDI pitch joins the embedding in every
    # layer's conditioning, so the decoder is told the f0 and the embedding is free to carry
    # timbre. 0: none, the paper's autoencoder (the embedding carries the pitch itself).
    pitch_channels: int = 0
    # Optimisation: Adam, staged lr decay (lr * factor from each step boundary on).
    lr: float = 2e-4
    lr_decay_steps: tuple[int, ...] = (120_000, 180_000, 240_000, 300_000)
    lr_decay_factors: tuple[float, ...] = (0.3, 0.1, 0.03, 0.01)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999

    @property
    def n_classes(self) -> int:
        return self.mu + 1

    def receptive_field(self) -> int:
        """Samples of past the decoder sees (the causal stack's receptive field)."""
        per_cycle = sum(2**i for i in range(self.decoder_cycle))
        full, rest = divmod(self.decoder_layers, self.decoder_cycle)
        dil = full * per_cycle + sum(2**i for i in range(rest))
        return (self.decoder_kernel - 1) * dil + self.decoder_kernel

    def validate(self) -> None:
        """Reject combinations the model cannot build, with one sentence each."""
        positive = [
            "sample_rate",
            "mu",
            "crop",
            "encoder_channels",
            "encoder_layers",
            "encoder_cycle",
            "encoder_kernel",
            "bottleneck",
            "hop",
            "decoder_residual",
            "decoder_skip",
            "decoder_layers",
            "decoder_cycle",
            "decoder_kernel",
        ]
        require_positive(self, positive)
        if self.pitch_channels < 0:
            raise ConfigError(
                f"'pitch_channels' must be 0 (no pitch conditioning) or positive, got "
                f"{self.pitch_channels}."
            )
        if self.mu != 255:
            # The decoder's softmax and every NSynth tool assume 8-bit codes.
            raise ConfigError("'mu' must be 255 (8-bit mu-law, 256 classes) for NSynth models.")
        if self.crop % self.hop:
            raise ConfigError(f"'crop' ({self.crop}) must be a multiple of 'hop' ({self.hop}).")
        if self.decoder_kernel < 2:
            raise ConfigError("'decoder_kernel' must be at least 2 for a causal WaveNet.")
        if self.lr <= 0:
            raise ConfigError(f"'lr' must be positive, got {self.lr}.")
        _check_schedule(self.lr_decay_steps, self.lr_decay_factors)


@dataclass(frozen=True)
class SpectralAEConfig:
    """The paper's baseline: a 2-D conv autoencoder on log-magnitude STFT frames, phase by
    Griffin-Lim. Here its bottleneck is 16 channels every ``hop`` samples, the same latent
    size and rate as the WaveNet autoencoder, so the two are compared like for like.

    Encoder: one strided 2-D conv per entry of ``channels`` (frequency stride 2 each; the
    first log2(hop / stft_hop) also stride 2 in time), batch norm + leaky ReLU, then a conv
    over the remaining frequency rows to ``hidden`` and a 1x1 to ``bottleneck``. The decoder
    mirrors it with transposed convs and ends in a sigmoid over normalised log magnitude.
    """

    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "crop", "fw_loss_coeff", "fw_loss_cutoff", "griffin_lim_iters", "lr",
            "lr_decay_steps", "lr_decay_factors", "adam_beta1", "adam_beta2",
        }
    )  # fmt: skip

    sample_rate: int = 16000
    crop: int = 16384  # training crop (samples); a multiple of hop
    n_fft: int = 1024
    stft_hop: int = 256
    hop: int = 512  # embedding hop (samples), a power-of-two multiple of stft_hop
    channels: tuple[int, ...] = (128, 128, 128, 256, 256, 256, 512, 512, 512)
    first_kernel: int = 5
    hidden: int = 1024
    bottleneck: int = 16
    log_floor: float = 1e-4  # magnitudes below this (-80 dB) are all the same silence
    log_ceiling: float = 256.0  # about the STFT magnitude of a full-scale sine (Hann, n_fft 1024)
    fw_loss_coeff: float = 10.0  # extra weight of the low band (magenta's baseline config)
    fw_loss_cutoff: float = 4000.0  # Hz
    griffin_lim_iters: int = 1000
    lr: float = 1e-4
    lr_decay_steps: tuple[int, ...] = ()
    lr_decay_factors: tuple[float, ...] = ()
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999

    @property
    def freq_bins(self) -> int:
        """Bins the network sees: n_fft // 2 (the Nyquist bin is dropped, as in magenta)."""
        return self.n_fft // 2

    @property
    def time_down(self) -> int:
        return self.hop // self.stft_hop

    def validate(self) -> None:
        require_positive(
            self, ("sample_rate", "crop", "n_fft", "stft_hop", "hop", "hidden", "bottleneck")
        )
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ConfigError("'channels' must list at least one positive channel count.")
        if self.hop % self.stft_hop or self.time_down & (self.time_down - 1):
            raise ConfigError(
                f"'hop' ({self.hop}) must be a power-of-two multiple of 'stft_hop' ({self.stft_hop})."
            )
        if math.log2(self.time_down) > len(self.channels):
            raise ConfigError(
                "Too few conv layers to reach 'hop' from 'stft_hop' (one halving each)."
            )
        if self.n_fft & (self.n_fft - 1):
            raise ConfigError(f"'n_fft' must be a power of two, got {self.n_fft}.")
        if self.freq_bins < 2 ** len(self.channels):
            raise ConfigError(
                f"{len(self.channels)} conv layers halve the {self.freq_bins} frequency bins "
                "below one; use fewer 'channels' or a larger 'n_fft'."
            )
        if self.crop % self.hop:
            raise ConfigError(f"'crop' ({self.crop}) must be a multiple of 'hop' ({self.hop}).")
        if self.first_kernel % 2 == 0:
            raise ConfigError("'first_kernel' must be odd.")
        if not 0 < self.log_floor < self.log_ceiling:
            raise ConfigError("'log_floor' must be positive and below 'log_ceiling'.")
        if self.griffin_lim_iters < 1:
            raise ConfigError("'griffin_lim_iters' must be at least 1.")
        if self.lr <= 0:
            raise ConfigError(f"'lr' must be positive, got {self.lr}.")
        _check_schedule(self.lr_decay_steps, self.lr_decay_factors)


@dataclass(frozen=True)
class HarmonicConfig:
    """Our fast decoder for the WaveNet autoencoder's embedding space: the same kind of
    non-causal encoder (16 dims every ``hop`` samples), and a decoder that drives a
    differentiable harmonic-plus-noise synthesizer from the embedding and the note's pitch.

    The decoder runs MLP -> GRU over the embedding frames, then an MLP at one control frame
    every ``control_hop`` samples (GRU state and embedding linearly upsampled) that predicts
    an overall amplitude, a distribution over ``n_harmonics`` harmonics of f0 and
    ``noise_bands`` filtered-noise magnitudes.
    Trained with the multi-resolution STFT loss (the eval's spectral distance).
    """

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"encoder_width": "encoder_channels"}

    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "crop", "lr", "lr_decay_steps", "lr_decay_factors", "adam_beta1", "adam_beta2",
            "harmonic_loss_weight", "parity_augment", "colour_augment", "colour_eq_db",
        }
    )  # fmt: skip

    sample_rate: int = 16000
    crop: int = 8192  # training crop (samples); a multiple of hop
    # Non-causal encoder, as NSynthConfig's (it reads the mu-law companded signal).
    encoder_channels: int = 32
    encoder_layers: int = 20
    encoder_cycle: int = 10
    encoder_kernel: int = 3
    bottleneck: int = 16
    hop: int = 512
    # Decoder: control frames every control_hop samples (a divisor of hop).
    control_hop: int = 128
    hidden: int = 256  # MLP width and GRU size
    mlp_layers: int = 2  # Linear -> LayerNorm -> LeakyReLU blocks per MLP
    n_harmonics: int = 80
    noise_bands: int = 65  # frequency samples of the noise filter (FIR of 2 * (bands - 1) taps)
    # Weight of an extra loss on the log magnitude at each harmonic of the labelled pitch
    # (harmonic.harmonic_levels): every partial counts once, however few STFT bins it covers.
    harmonic_loss_weight: float = 0.0
    # Odd/even balance: the decoder also sets, per control frame, a level offset of the even
    # harmonics in ``parity_bands`` frequency bands (0 = no such control). A smooth level over
    # harmonic number cannot play a clarinet or a square wave, whose even partials are weak.
    parity_bands: int = 0
    # The encoder also reads the note split at its pitch into even and odd harmonics
    # ((x +- x delayed by half a period) / 2, harmonic.comb_channels): which partials a sound
    # lacks is then a level difference between two inputs, not a pattern a small conv net
    # must find in the waveform without knowing the period. Encoding needs the pitch (the
    # label in training; estimated from the sound by ``encode``).
    comb_input: bool = False
    # The embedding also receives, per frame, the ratio of the note's even to odd harmonic
    # energy in ``parity_input`` frequency bands (harmonic.parity_features, through one
    # linear map added to the encoder's output; 0 = none): measured, not learnt, so the
    # embedding carries the odd/even balance from the first step.
    parity_input: int = 0
    # The embedding also receives, per frame, the measured level of the note's first
    # ``harmonic_input`` harmonics (harmonic.harmonic_features: dB under the frame's loudest
    # harmonic, through one linear map added to the encoder's output; 0 = none). The
    # decoder's job on any instrument, seen or not, then includes a plain copy of levels it
    # is told, and a morph between two embeddings moves these levels from one to the other.
    harmonic_input: int = 0
    # The measured levels of those harmonics also travel beside the learned embedding (which
    # grows from ``bottleneck`` to bottleneck + harmonic_input channels) and pull the
    # decoder's levels of the first harmonic_input harmonics towards them, by a learned mix
    # per harmonic that starts full (the measured levels as they are). Why: an
    # embedding-only decoder cannot play a harmonic pattern unlike its training
    # instruments' (optimising the embedding of the unseen clarinet does not find one,
    # docs/results.md); a copy of the measurement can.
    harmonic_skip: bool = False
    # Fraction of training crops comb-filtered at half the note's period (harmonic.
    # odd_harmonic_comb), which lowers their even harmonics by a random 10-30 dB: every
    # training instrument is also heard as a closed-pipe version of itself.
    parity_augment: float = 0.0
    # Fraction of training crops recoloured by a random smooth EQ of up to +-colour_eq_db
    # over log-frequency (audio.augment.random_colour), in and out alike: the autoencoder
    # must carry each sound's own spectrum rather than fall back on the nearest training
    # instrument's, which is what it does on an unseen one.
    colour_augment: float = 0.0
    colour_eq_db: float = 12.0
    lr: float = 1e-3
    lr_decay_steps: tuple[int, ...] = ()
    lr_decay_factors: tuple[float, ...] = ()
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999

    def validate(self) -> None:
        positive = (
            "sample_rate", "crop", "encoder_channels", "encoder_layers", "encoder_cycle",
            "encoder_kernel", "bottleneck", "hop", "control_hop", "hidden", "mlp_layers",
            "n_harmonics",
        )  # fmt: skip
        require_positive(self, positive)
        if self.hop % self.control_hop:
            raise ConfigError(
                f"'hop' ({self.hop}) must be a multiple of 'control_hop' ({self.control_hop})."
            )
        if self.crop % self.hop:
            raise ConfigError(f"'crop' ({self.crop}) must be a multiple of 'hop' ({self.hop}).")
        if self.noise_bands < 2:
            raise ConfigError(f"'noise_bands' must be at least 2, got {self.noise_bands}.")
        if self.harmonic_loss_weight < 0:
            raise ConfigError(
                f"'harmonic_loss_weight' must be at least 0, got {self.harmonic_loss_weight}."
            )
        if self.parity_input < 0:
            raise ConfigError(
                f"'parity_input' must be 0 (none) or a number of bands, got {self.parity_input}."
            )
        if self.harmonic_input < 0:
            raise ConfigError(
                f"'harmonic_input' must be 0 (none) or a number of harmonics, "
                f"got {self.harmonic_input}."
            )
        if self.harmonic_skip and not 0 < self.harmonic_input <= self.n_harmonics:
            raise ConfigError(
                "'harmonic_skip' needs 'harmonic_input' between 1 and 'n_harmonics' "
                f"({self.n_harmonics}), got {self.harmonic_input}."
            )
        if self.parity_bands < 0 or self.parity_bands == 1:
            raise ConfigError(
                f"'parity_bands' must be 0 (none) or at least 2, got {self.parity_bands}."
            )
        if not 0.0 <= self.parity_augment <= 1.0:
            raise ConfigError(
                f"'parity_augment' must be between 0 and 1, got {self.parity_augment}."
            )
        if not 0.0 <= self.colour_augment <= 1.0:
            raise ConfigError(
                f"'colour_augment' must be between 0 and 1, got {self.colour_augment}."
            )
        if self.colour_eq_db < 0:
            raise ConfigError(f"'colour_eq_db' must be at least 0, got {self.colour_eq_db}.")
        if self.lr <= 0:
            raise ConfigError(f"'lr' must be positive, got {self.lr}.")
        _check_schedule(self.lr_decay_steps, self.lr_decay_factors)


# `small`: learns on a 2-core CPU in a few hours (~2-4 s per step of 8 x 4096 samples). The
# decoder is nn.wavenet.DECODER_SIZES["nsynth-small"], which generates in real time on one CPU
# thread (benchmarks/wavenet_generation.py); the encoder is narrowed to 32 channels because it
# was 40% of the training cost. Same embedding as the paper: 16 dims every 512 samples.
_SMALL = NSynthConfig(
    crop=4096,
    encoder_channels=32,
    encoder_layers=20,
    encoder_cycle=10,
    encoder_kernel=3,
    decoder_residual=64,
    decoder_skip=64,
    decoder_layers=20,
    decoder_cycle=10,
    decoder_kernel=2,
    lr=1e-3,
    lr_decay_steps=(3_000, 6_000),
    lr_decay_factors=(0.3, 0.1),
)


PRESETS: dict[str, NSynthConfig] = {
    # Engel et al. 2017: encoder 30 layers (3 cycles of dilations 1..512), width 128, kernel 3;
    # 16-dim bottleneck every 512 samples; decoder 30 layers, residual 512, skip 256, kernel 3;
    # random 6144-sample crops; Adam 2e-4 decayed 6e-5 / 2e-5 / 6e-6 / 2e-6 at 120k-300k steps.
    "paper": NSynthConfig(),
    # magenta's released h512_bo16 training script: same network, its finer lr schedule.
    "magenta": NSynthConfig(
        lr_decay_steps=(90_000, 120_000, 150_000, 180_000, 210_000, 240_000),
        lr_decay_factors=(2 / 3, 0.3, 0.2, 0.1, 0.03, 0.01),
    ),
    "small": _SMALL,  # above
    # Ours: `small` told the note's pitch (a 16-dim learnt pitch embedding beside the 16-dim
    # timbre embedding in the decoder's conditioning), the lever for pitch accuracy.
    "small-pitch": dataclasses.replace(_SMALL, pitch_channels=16),
    # Tests: trains in seconds.
    "tiny": NSynthConfig(
        crop=1024,
        encoder_channels=16,
        encoder_layers=4,
        encoder_cycle=4,
        encoder_kernel=3,
        hop=128,
        decoder_residual=16,
        decoder_skip=32,
        decoder_layers=6,
        decoder_cycle=6,
        decoder_kernel=2,
        lr=5e-3,
        lr_decay_steps=(),
        lr_decay_factors=(),
    ),
}

SPECTRAL_PRESETS: dict[str, SpectralAEConfig] = {
    # magenta's nfft_1024 baseline layers (5x5 then 4x4 kernels, 128..512 channels, a 1024-wide
    # 1x1, batch norm, leaky ReLU, frequency-weighted MSE), Griffin-Lim with 1000 iterations.
    "paper": SpectralAEConfig(),
    "small": SpectralAEConfig(
        channels=(32, 32, 64, 64, 64, 128, 128, 128, 128),
        hidden=256,
        griffin_lim_iters=100,
        lr=5e-4,
    ),
    "tiny": SpectralAEConfig(
        crop=4096,
        n_fft=256,
        stft_hop=64,
        hop=128,
        channels=(8, 8, 16, 16),
        hidden=32,
        griffin_lim_iters=8,
        lr=3e-3,
    ),
}


HARMONIC_PRESETS: dict[str, HarmonicConfig] = {
    # For CPU sittings: the WaveNet `small` preset's encoder and embedding (16 dims every 512
    # samples), a 256-wide GRU over embedding frames and an MLP at 125 control frames/s, 80
    # harmonics and 65 noise bands; 0.5 s crops so the 2048-point STFT sees several frames.
    # About 1 s per step of 8 crops on one core, 3/4 of it the encoder.
    "small": HarmonicConfig(lr_decay_steps=(3_000, 6_000), lr_decay_factors=(0.3, 0.1)),
    # Tests: trains in seconds.
    "tiny": HarmonicConfig(
        crop=4096,
        encoder_channels=16,
        encoder_layers=4,
        encoder_cycle=4,
        hop=128,
        control_hop=64,
        hidden=48,
        mlp_layers=1,
        n_harmonics=40,
        noise_bands=17,
        lr=3e-3,
    ),
}


def presets_for(
    model_type: str,
) -> dict[str, NSynthConfig] | dict[str, SpectralAEConfig] | dict[str, HarmonicConfig]:
    """The preset table of a model type ("wavenet", "spectral" or "harmonic")."""
    if model_type == "wavenet":
        return PRESETS
    if model_type == "spectral":
        return SPECTRAL_PRESETS
    if model_type == "harmonic":
        return HARMONIC_PRESETS
    raise ConfigError(
        f"Unknown nsynth model type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}."
    )
