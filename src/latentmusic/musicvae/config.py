"""MusicVAE hyperparameters and the presets that mirror magenta's ``music_vae/configs.py``.

The magenta presets keep magenta's names and values (``lstm_models.get_default_hparams``
merged with each config's overrides): learning rate 1e-3 decaying by 0.9999 per step to
1e-5, Adam, gradient clipping 1.0 (the harness's default), and the per-config sizes, free
bits, beta schedule and scheduled-sampling schedule. ``batch_size`` is the batch size the
published config trains with; pass ``--batch-size`` to train with it.

Two places where this code chooses between magenta's code and the paper:

- ``conductor_output_size``: the paper's conductor emits a 512-dimensional embedding per
  bar; magenta's code passes the conductor LSTM output (``dec_rnn_size[-1]``) directly.
  The hierdec presets follow the paper (512); ``conductor_output_size=0`` gives the code's.
- ``strict_meter``: magenta's converters drop every sequence whose bar is not 16 steps.
  We keep other meters (windows start on the piece's bar lines and last ``bars * 16`` steps)
  unless ``strict_meter=true``, which keeps only meters whose bar divides 16 steps (2/4,
  4/4, 2/2) — with the folk corpus that is the difference between a third and all of it.

CPU presets: ``tiny`` (tests), ``small`` (a 2-bar melody model that trains on 2 cores),
``small-drums``, ``small-trio`` (4-bar hierarchical trio), ``small-trio_16bar`` (the
hierdec-trio_16bar shape at CPU size, melody and bass transposed together), ``small-satb`` (4-bar
hierarchical chorales) and ``small-16bar``. ``paper`` is an alias of ``cat-mel_2bar_small``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

from latentmusic.errors import ConfigError


@dataclass(frozen=True)
class MusicVAEConfig:
    # data
    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "transpose_range", "min_notes", "free_bits", "max_beta", "beta_rate",
            "sampling_schedule", "sampling_rate", "lr", "decay_rate", "min_lr", "batch_size",
        }
    )  # fmt: skip

    representation: Literal["melody", "drums", "trio", "satb"] = "melody"
    bars: int = 2
    transpose_range: int = 5  # augmentation: uniform in ±range semitones that keep 21..108
    min_notes: int = 2  # windows with fewer onsets are not training data
    gap_bars: float = 1.0  # windows holding a silence this long are dropped (magenta's gap)
    strict_meter: bool = False
    drum_roll_input: bool = True  # encoder sees the 9+1 drum roll instead of 512-way one-hot
    # model
    hierarchical: bool = False  # conductor RNN + independent per-bar decoders
    z_size: int = 256
    enc_rnn_size: tuple[int, ...] = (512,)
    dec_rnn_size: tuple[int, ...] = (256, 256)
    conductor_rnn_size: tuple[int, ...] = ()  # empty: same as dec_rnn_size (magenta)
    conductor_output_size: int = 0  # 0: the conductor LSTM output itself (magenta's code)
    # loss
    free_bits: float = 0.0
    max_beta: float = 0.2
    beta_rate: float = 0.99999  # beta = (1 - beta_rate^step) * max_beta
    sampling_schedule: Literal["constant", "inverse_sigmoid", "exponential"] = "inverse_sigmoid"
    sampling_rate: float = 1000.0
    # optimisation
    lr: float = 1e-3
    decay_rate: float = 0.9999
    min_lr: float = 1e-5
    batch_size: int = 512

    @property
    def steps(self) -> int:
        """Length of one example in 16th-note steps."""
        return self.bars * 16

    @property
    def conductor_sizes(self) -> tuple[int, ...]:
        return self.conductor_rnn_size or self.dec_rnn_size

    @property
    def model_type(self) -> str:
        return "hierdec" if self.hierarchical else "flat"

    def validate(self) -> None:
        """Reject settings the model cannot be built or trained with, in one sentence."""
        if self.bars < 1:
            raise ConfigError(f"'bars' must be at least 1, not {self.bars}.")
        if self.z_size < 1:
            raise ConfigError(f"'z_size' must be at least 1, not {self.z_size}.")
        for name in ("enc_rnn_size", "dec_rnn_size"):
            sizes = getattr(self, name)
            if not sizes or any(s < 1 for s in sizes):
                raise ConfigError(f"'{name}' needs one or more positive layer sizes, not {sizes}.")
        if any(s < 1 for s in self.conductor_rnn_size):
            raise ConfigError("'conductor_rnn_size' layer sizes must be positive.")
        if self.free_bits < 0 or self.max_beta < 0:
            raise ConfigError("'free_bits' and 'max_beta' must not be negative.")
        if not 0 <= self.beta_rate <= 1:
            raise ConfigError(f"'beta_rate' must be in [0, 1], not {self.beta_rate}.")
        if self.sampling_schedule == "constant" and not 0 <= self.sampling_rate <= 1:
            raise ConfigError("A 'constant' sampling_rate is a probability in [0, 1].")
        if self.sampling_schedule == "inverse_sigmoid" and self.sampling_rate < 1:
            raise ConfigError("An 'inverse_sigmoid' sampling_rate must be at least 1.")
        if self.sampling_schedule == "exponential" and not 0 < self.sampling_rate < 1:
            raise ConfigError("An 'exponential' sampling_rate must be in (0, 1).")
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError(f"Need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}.")
        if not 0 < self.decay_rate <= 1:
            raise ConfigError(f"'decay_rate' must be in (0, 1], not {self.decay_rate}.")
        if self.transpose_range < 0 or self.min_notes < 0 or self.gap_bars < 0:
            raise ConfigError("'transpose_range', 'min_notes' and 'gap_bars' must not be negative.")


_2BAR = dict(sampling_schedule="inverse_sigmoid", sampling_rate=1000.0)
_16BAR = dict(
    bars=16,
    hierarchical=True,
    sampling_schedule="constant",
    sampling_rate=0.0,
    beta_rate=0.0,  # magenta's default: full beta from the first step
    transpose_range=0,  # magenta's 16-bar configs have no augmenter
    min_notes=8,
)

PRESETS: dict[str, MusicVAEConfig] = {
    # ------------------------------------------------------------- magenta's configs
    "cat-mel_2bar_small": MusicVAEConfig(
        z_size=256, enc_rnn_size=(512,), dec_rnn_size=(256, 256), free_bits=0.0, max_beta=0.2,
        beta_rate=0.99999, batch_size=512, **_2BAR,
    ),
    "cat-mel_2bar_big": MusicVAEConfig(
        z_size=512, enc_rnn_size=(2048,), dec_rnn_size=(2048, 2048, 2048), free_bits=0.0,
        max_beta=0.5, beta_rate=0.99999, batch_size=512, **_2BAR,
    ),
    "cat-drums_2bar_small": MusicVAEConfig(
        representation="drums", z_size=256, enc_rnn_size=(512,), dec_rnn_size=(256, 256),
        free_bits=48.0, max_beta=0.2, beta_rate=0.0, transpose_range=0, batch_size=512, **_2BAR,
    ),
    "hierdec-mel_16bar": MusicVAEConfig(
        z_size=512, enc_rnn_size=(2048, 2048), dec_rnn_size=(1024, 1024),
        conductor_rnn_size=(1024, 1024), conductor_output_size=512, free_bits=256.0,
        max_beta=0.2, batch_size=512, **_16BAR,
    ),
    "hierdec-trio_16bar": MusicVAEConfig(
        representation="trio", z_size=512, enc_rnn_size=(2048, 2048),
        dec_rnn_size=(1024, 1024), conductor_rnn_size=(1024, 1024), conductor_output_size=512,
        free_bits=256.0, max_beta=0.2, batch_size=256, drum_roll_input=False,
        **{**_16BAR, "gap_bars": 2.0},
    ),
    # Not a magenta config: the trio architecture with four 90-class voices (Bach chorales).
    "hierdec-satb_16bar": MusicVAEConfig(
        representation="satb", z_size=512, enc_rnn_size=(2048, 2048),
        dec_rnn_size=(1024, 1024), conductor_rnn_size=(1024, 1024), conductor_output_size=512,
        free_bits=256.0, max_beta=0.2, batch_size=256, **{**_16BAR, "transpose_range": 5},
    ),
    # ------------------------------------------------------------------ CPU presets
    "tiny": MusicVAEConfig(
        z_size=32, enc_rnn_size=(128,), dec_rnn_size=(128,), free_bits=16.0, max_beta=0.2,
        beta_rate=0.99, sampling_schedule="constant", sampling_rate=0.0, lr=1e-2,
        decay_rate=0.999, min_lr=1e-4, batch_size=16, transpose_range=0, min_notes=1,
    ),
    "small": MusicVAEConfig(
        z_size=128, enc_rnn_size=(256,), dec_rnn_size=(256, 256), free_bits=0.0, max_beta=0.2,
        beta_rate=0.9999, sampling_schedule="inverse_sigmoid", sampling_rate=1000.0,
        batch_size=64,
    ),
    "small-drums": MusicVAEConfig(
        representation="drums", z_size=128, enc_rnn_size=(256,), dec_rnn_size=(256, 256),
        free_bits=24.0, max_beta=0.2, beta_rate=0.0, transpose_range=0, batch_size=64, **_2BAR,
    ),
    "small-16bar": MusicVAEConfig(
        z_size=128, enc_rnn_size=(256,), dec_rnn_size=(128,), conductor_rnn_size=(128,),
        conductor_output_size=64, free_bits=32.0, max_beta=0.2, batch_size=32, **_16BAR,
    ),
    "small-trio": MusicVAEConfig(
        representation="trio", z_size=128, enc_rnn_size=(256,), dec_rnn_size=(128,),
        conductor_rnn_size=(128,), conductor_output_size=64, free_bits=32.0, max_beta=0.2,
        batch_size=32, drum_roll_input=False,
        **{**_16BAR, "bars": 4, "min_notes": 4, "gap_bars": 2.0},
    ),
    # The hierdec-trio_16bar shape at CPU size; melody and bass transposed together.
    "small-trio_16bar": MusicVAEConfig(
        representation="trio", z_size=256, enc_rnn_size=(256,), dec_rnn_size=(256,),
        conductor_rnn_size=(256,), conductor_output_size=128, free_bits=64.0, max_beta=0.2,
        batch_size=32, drum_roll_input=False,
        **{**_16BAR, "gap_bars": 2.0, "transpose_range": 5},
    ),
    "small-satb": MusicVAEConfig(
        representation="satb", z_size=128, enc_rnn_size=(256,), dec_rnn_size=(128,),
        conductor_rnn_size=(128,), conductor_output_size=64, free_bits=32.0, max_beta=0.2,
        batch_size=32, **{**_16BAR, "bars": 4, "min_notes": 4, "transpose_range": 5},
    ),
}  # fmt: skip
PRESETS["paper"] = PRESETS["cat-mel_2bar_small"]

MODEL_TYPES = ("flat", "hierdec")


def presets_for(model_type: str) -> dict[str, MusicVAEConfig]:
    """The preset table of a model type ("flat" or "hierdec"), as every family has one:
    each preset with its decoder switched to the type (``preset_for`` for one)."""
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"Unknown MusicVAE model type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}."
        )
    return {name: preset_for(name, model_type) for name in PRESETS}


def preset_for(preset: str, model_type: str | None) -> MusicVAEConfig:
    """The preset's config, switched to a flat or hierarchical decoder when ``model_type`` says so."""
    from latentmusic.train.config import resolve_config

    config = resolve_config(PRESETS, preset)
    if model_type in (None, "", config.model_type):
        return config
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"Unknown MusicVAE model type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}."
        )
    return dataclasses.replace(config, hierarchical=model_type == "hierdec")
