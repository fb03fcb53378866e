"""Universal Music Translation configs (Mor et al. 2018) with named presets.

``paper`` is the published network and optimiser; ``small`` learns on a 2-core CPU in a
few hours on a ``latentmusic data domains`` set; ``tiny`` trains in seconds for tests.
The ``*-noconfusion`` (lambda = 0) and ``small-noaug`` (no pitch augmentation) presets are
the ablations ``latentmusic eval translation --baseline`` compares against.

The batch size is a training setting, not a model hyperparameter: the paper used 32
(``latentmusic train translation --batch-size 32``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

from latentmusic.errors import ConfigError
from latentmusic.train.config import require_positive


@dataclass(frozen=True)
class TranslationConfig:
    """Shared non-causal WaveNet encoder -> 64-dim latents at sample_rate / pool Hz ->
    one causal WaveNet decoder per domain; a domain-confusion net on the latents."""

    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "segment", "confusion_dropout", "confusion_lambda", "pitch_augment",
            "augment_semitones", "colour_eq_db", "colour_envelope_db", "lr", "lr_decay",
            "lr_decay_steps", "grad_clip", "grad_clip_mode", "notebank_log_weight",
        }
    )  # fmt: skip

    sample_rate: int = 16000
    mu: int = 255  # 8-bit mu-law: 256 softmax classes
    segment: int = 12000  # training sequence length (samples), a multiple of pool
    # Encoder: conv 1 -> channels (k3), then non-causal residual layers (one ReLU each),
    # dilations 2**i within each cycle, then 1x1 to latent_dim and average pool.
    encoder_channels: int = 128
    encoder_layers: int = 30  # 3 blocks x 10 layers
    encoder_cycle: int = 10
    encoder_kernel: int = 3
    latent_dim: int = 64
    pool: int = 800  # 16 kHz / 800 = 20 latent frames per second
    # Decoders: one causal gated WaveNet per domain, conditioned on the latents in every
    # layer (1x1) and again in the output head.
    decoder_residual: int = 128
    decoder_skip: int = 128
    decoder_layers: int = 56  # 4 blocks x 14 layers
    decoder_cycle: int = 14
    decoder_kernel: int = 2
    # Domain-confusion network: confusion_layers x (1x1 conv confusion_channels + ELU),
    # 1x1 to K logits, mean over time.
    confusion_layers: int = 3
    confusion_channels: int = 100
    confusion_dropout: float = 0.0
    confusion_lambda: float = 0.01  # weight of the negated confusion cross-entropy
    # Pitch augmentation of the encoder input only: one segment of L/4..L/2 samples
    # shifted by U(-augment_semitones, +augment_semitones).
    pitch_augment: bool = True
    augment_semitones: float = 0.5
    # Ours: recolour the encoder input (audio.augment.random_colour: random EQ and loudness
    # envelope of up to +-N dB) so each decoder learns to supply its own instrument's
    # timbre instead of copying the input's. 0 turns either off.
    colour_eq_db: float = 0.0
    colour_envelope_db: float = 0.0
    # Optimisation: Adam, lr * lr_decay ** (step / lr_decay_steps), gradient clipping.
    lr: float = 1e-3
    lr_decay: float = 0.995
    lr_decay_steps: int = 1000
    grad_clip: float = 1.0
    grad_clip_mode: Literal["value", "norm"] = "value"  # the official code clips by value
    # The decoder type: the paper's WaveNet, or our note-bank synthesizer (notebank.py), which
    # reads the same latents, trains with the multi-resolution STFT loss and is not
    # autoregressive, or (notegrid.py) the note bank reading latents on a semitone grid
    # through one network shared by every pitch. The notebank_* fields are their size
    # (unused by a WaveNet model); notegrid needs encoder_input "grid".
    decoder: Literal["wavenet", "notebank", "notegrid"] = "wavenet"
    # What the shared encoder reads: the paper's mu-law samples, or (ours) a fixed semitone
    # spectrum every spectrum_hop samples (spectral_encoder.py), for encoders that must
    # learn the notes in CPU-hours.
    # "grid" (notegrid.py): latents on the note bank's semitone grid, grid_channels per pitch
    # (latent_dim = grid_channels x notebank_pitches).
    encoder_input: Literal["mulaw", "spectrum", "grid"] = "mulaw"
    spectrum_hop: int = 80
    grid_channels: int = 4
    notebank_hop: int = 80  # samples per control frame (200 Hz at 16 kHz); divides pool
    notebank_channels: int = 128
    notebank_layers: int = 3  # causal convs at the latent rate, dilations 1, 2, 4, ...
    notebank_low_pitch: int = 28  # MIDI pitch of the lowest voice (E1)
    notebank_pitches: int = 64  # voices, one per semitone (E1 .. G6)
    notebank_harmonics: int = 24  # partials per voice (those above Nyquist are dropped)
    notebank_noise_bands: int = 65
    notebank_reverb: float = 0.5  # seconds of learnt room response (0: none)
    # Weight of the log-magnitude term of the note bank's MR-STFT loss. With the log term
    # at full weight the decoders learn which notes sound 2-3x slower (docs/results.md).
    notebank_log_weight: float = 1.0

    @property
    def n_classes(self) -> int:
        return self.mu + 1

    def encoder_context(self) -> int:
        """Samples on each side that influence one encoder output (its half receptive field)."""
        if self.encoder_input in ("spectrum", "grid"):
            from latentmusic.translation.spectral_encoder import N_FFT

            return N_FFT // 2 + self.spectrum_hop * 2**self.encoder_layers
        per_cycle = sum(2**i for i in range(self.encoder_cycle))
        full, rest = divmod(self.encoder_layers, self.encoder_cycle)
        dilations = full * per_cycle + sum(2**i for i in range(rest))
        half = (self.encoder_kernel - 1) // 2
        return half * (dilations + 1)

    def validate(self) -> None:
        """Reject combinations the model cannot build, with one sentence each."""
        positive = [
            "sample_rate",
            "segment",
            "encoder_channels",
            "encoder_layers",
            "encoder_cycle",
            "encoder_kernel",
            "latent_dim",
            "pool",
            "decoder_residual",
            "decoder_skip",
            "decoder_layers",
            "decoder_cycle",
            "decoder_kernel",
            "confusion_layers",
            "confusion_channels",
            "lr",
            "lr_decay",
            "lr_decay_steps",
        ]
        require_positive(self, positive)
        if self.mu != 255:
            raise ConfigError(
                "'mu' must be 255 (8-bit mu-law, 256 classes) for translation models."
            )
        if self.segment % self.pool:
            raise ConfigError(
                f"'segment' ({self.segment}) must be a multiple of 'pool' ({self.pool})."
            )
        if self.encoder_kernel % 2 == 0:
            raise ConfigError("'encoder_kernel' must be odd (the encoder is non-causal, centred).")
        if self.decoder_kernel < 2:
            raise ConfigError("'decoder_kernel' must be at least 2 for a causal WaveNet.")
        if self.confusion_lambda < 0:
            raise ConfigError(f"'confusion_lambda' must be >= 0, got {self.confusion_lambda}.")
        if not 0 <= self.confusion_dropout < 1:
            raise ConfigError("'confusion_dropout' must be in [0, 1).")
        if self.augment_semitones < 0:
            raise ConfigError("'augment_semitones' must be >= 0.")
        if self.colour_eq_db < 0 or self.colour_envelope_db < 0:
            raise ConfigError("'colour_eq_db' and 'colour_envelope_db' must be >= 0.")
        if self.lr_decay > 1:
            raise ConfigError(f"'lr_decay' must be in (0, 1], got {self.lr_decay}.")
        if self.grad_clip < 0:
            raise ConfigError("'grad_clip' must be >= 0 (0 switches clipping off).")
        if self.grad_clip_mode not in ("value", "norm"):
            raise ConfigError("'grad_clip_mode' must be 'value' or 'norm'.")
        if self.encoder_input not in ("mulaw", "spectrum", "grid"):
            raise ConfigError(
                f"'encoder_input' must be 'mulaw', 'spectrum' or 'grid', got '{self.encoder_input}'."
            )
        if self.encoder_input in ("spectrum", "grid") and (
            self.spectrum_hop <= 0 or self.pool % self.spectrum_hop
        ):
            raise ConfigError(
                f"'pool' ({self.pool}) must be a multiple of 'spectrum_hop' ({self.spectrum_hop})."
            )
        if self.decoder not in ("wavenet", "notebank", "notegrid"):
            raise ConfigError(
                f"'decoder' must be 'wavenet', 'notebank' or 'notegrid', got '{self.decoder}'."
            )
        if self.decoder == "notegrid" and self.encoder_input != "grid":
            raise ConfigError("A 'notegrid' decoder reads grid latents: set encoder_input=grid.")
        if self.encoder_input == "grid":
            if self.grid_channels <= 0:
                raise ConfigError(f"'grid_channels' must be positive, got {self.grid_channels}.")
            if self.latent_dim != self.grid_channels * self.notebank_pitches:
                raise ConfigError(
                    f"'latent_dim' ({self.latent_dim}) must be grid_channels x notebank_pitches "
                    f"({self.grid_channels} x {self.notebank_pitches}) for grid latents."
                )
        if self.decoder != "wavenet":
            sizes = ["notebank_hop", "notebank_channels", "notebank_layers", "notebank_pitches",
                     "notebank_harmonics", "notebank_noise_bands"]  # fmt: skip
            require_positive(self, sizes)
            if self.pool % self.notebank_hop:
                raise ConfigError(
                    f"'pool' ({self.pool}) must be a multiple of 'notebank_hop' ({self.notebank_hop})."
                )
            if self.notebank_log_weight < 0:
                raise ConfigError("'notebank_log_weight' must be >= 0.")
            if not 0 <= self.notebank_reverb <= 10:
                raise ConfigError("'notebank_reverb' must be between 0 and 10 seconds.")
            if not 0 <= self.notebank_low_pitch <= 127 - self.notebank_pitches + 1:
                raise ConfigError("The note bank's pitches must lie within MIDI 0..127.")


def lr_factor(step: int, config: TranslationConfig) -> float:
    """Learning-rate multiplier at ``step``: ``lr_decay`` per ``lr_decay_steps`` (smooth)."""
    return float(config.lr_decay ** (step / config.lr_decay_steps))


_PAPER = TranslationConfig()

# Decoder dims that generate faster than real time on one CPU thread (the fast-generation
# work's "small" WaveNet: residual 64, skip 128, 2 x 10 layers, kernel 2).
_SMALL = TranslationConfig(
    segment=4000,
    encoder_channels=64,
    encoder_layers=10,
    encoder_cycle=10,
    latent_dim=64,
    decoder_residual=64,
    decoder_skip=128,
    decoder_layers=20,
    decoder_cycle=10,
    confusion_channels=100,
)

# What `latentmusic demo` trains in about a minute: the paper's 20 Hz latents, small nets.
_DEMO = TranslationConfig(
    segment=1600,
    encoder_channels=16,
    encoder_layers=6,
    encoder_cycle=6,
    latent_dim=16,
    decoder_residual=16,
    decoder_skip=32,
    decoder_layers=8,
    decoder_cycle=8,
    confusion_channels=32,
    lr=3e-3,
)

_TINY = TranslationConfig(
    segment=1600,
    encoder_channels=16,
    encoder_layers=4,
    encoder_cycle=4,
    latent_dim=8,
    pool=100,
    decoder_residual=16,
    decoder_skip=32,
    decoder_layers=6,
    decoder_cycle=6,
    confusion_channels=16,
    lr=3e-3,
)

# Ours: note-bank decoders (notebank.py) on the paper's encoder design at half the `small`
# width (32 channels, the same 64-dim 20 Hz latents) and the same confusion net. With a
# decoder this cheap the encoder is most of a step's cost; half the width is ~3x faster.
_NOTEBANK = dataclasses.replace(_SMALL, decoder="notebank", segment=8000, encoder_channels=32)

_NOTEGRID = dataclasses.replace(
    _NOTEBANK,
    decoder="notegrid",
    encoder_input="grid",
    segment=16000,
    pool=400,
    encoder_channels=32,
    encoder_layers=4,
    grid_channels=4,
    latent_dim=4 * 64,
    notebank_channels=32,
    notebank_layers=2,
    notebank_log_weight=0.25,
    pitch_augment=False,
)

PRESETS: dict[str, TranslationConfig] = {
    # Mor et al. 2018 and facebookresearch/music-translation: encoder conv 1->128 (k3),
    # 3 x 10 residual layers (k3, dilation 2**i, 128 ch), 1x1 to 64, avg-pool 800; decoders
    # 4 x 14 layers, residual = skip = 128, kernel 2; confusion 3 x (1x1 100 + ELU) -> K;
    # lambda 0.01; pitch augmentation; Adam 1e-3 x 0.995 per 1000 steps; clip 1; batch 32;
    # sequences of 12000 samples.
    "paper": _PAPER,
    "paper-noconfusion": dataclasses.replace(_PAPER, confusion_lambda=0.0),
    # Learns on a 2-core CPU in a few hours; same 64-dim, 20 Hz latent space as the paper.
    "small": _SMALL,
    "small-noconfusion": dataclasses.replace(_SMALL, confusion_lambda=0.0),
    "small-noaug": dataclasses.replace(_SMALL, pitch_augment=False),
    "notebank": _NOTEBANK,
    "notebank-noconfusion": dataclasses.replace(_NOTEBANK, confusion_lambda=0.0),
    "notebank-spectrum": dataclasses.replace(
        _NOTEBANK, encoder_input="spectrum", encoder_channels=128, encoder_layers=6
    ),
    "notebank-tiny": dataclasses.replace(
        _TINY,
        decoder="notebank",
        notebank_hop=20,
        notebank_channels=16,
        notebank_layers=2,
        notebank_low_pitch=48,
        notebank_pitches=24,
        notebank_harmonics=8,
        notebank_noise_bands=17,
        notebank_reverb=0.05,
    ),
    # Ours: latents on a semitone grid (notegrid.py), 40 Hz, 4 per pitch; no pitch
    # augmentation (a shifted input would ask the decoder for the unshifted note it cannot
    # see on the grid).
    "notegrid": _NOTEGRID,
    "notegrid-noconfusion": dataclasses.replace(_NOTEGRID, confusion_lambda=0.0),
    "notegrid-tiny": dataclasses.replace(
        _TINY,
        decoder="notegrid",
        encoder_input="grid",
        encoder_channels=8,
        encoder_layers=2,
        latent_dim=2 * 24,
        grid_channels=2,
        spectrum_hop=50,
        notebank_hop=50,
        notebank_channels=8,
        notebank_layers=1,
        notebank_low_pitch=48,
        notebank_pitches=24,
        notebank_harmonics=8,
        notebank_noise_bands=17,
        notebank_reverb=0.05,
        pitch_augment=False,
    ),
    "demo": _DEMO,
    # Tests: trains in seconds.
    "tiny": _TINY,
}


def presets_for(model_type: str) -> dict[str, TranslationConfig]:
    """The preset table of a model type, as every family has one (translation has one type,
    "umt"; its decoder kind is a config field)."""
    if model_type != "umt":
        raise ConfigError(f"Unknown translation model type '{model_type}'; choose one of: umt.")
    return PRESETS
