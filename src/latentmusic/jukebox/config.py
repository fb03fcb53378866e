"""Jukebox configs and presets: the VQ-VAE, the top-level prior and the upsamplers.

``paper`` presets carry the published hyperparameters (Dhariwal et al. 2020, appendix B
and openai/jukebox ``hparams.py``: the 5b VQ-VAE, ``prior_5b`` / ``prior_5b_lyrics`` and
``upsamplers``). ``small`` trains on a 2-core CPU in tens of minutes to hours; ``tiny``
trains in seconds for tests. Fields marked *derived* are filled in by training from the
VQ-VAE and the data set (codebook size, hop, label vocabularies) so that a checkpoint's
``config.json`` alone rebuilds the exact model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

from latentmusic.errors import ConfigError
from latentmusic.train.config import require_positive

MODEL_TYPES = ("vqvae", "prior", "upsampler")


@dataclass(frozen=True)
class VQVAEConfig:
    """Three separate autoencoders (one per level), each audio -> codes -> audio on its own.

    Level ``l`` downsamples by ``prod(strides[i] ** downs[i] for i <= l)``: with the default
    downs (3, 2, 2) and strides 2 the hops are 8, 32 and 128 samples.
    """

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"mu": "ema_decay"}

    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "threshold", "kmeans_iters", "spectral_weight", "commit", "segment", "lr",
            "weight_decay", "beta2", "warmup", "ema_decay", "l2_weight", "stft_ffts",
            "stft_hops", "stft_windows",
        }
    )  # fmt: skip

    sample_rate: int = 44100
    downs: tuple[int, ...] = (3, 2, 2)  # stride-2 convs added at each level
    strides: tuple[int, ...] = (2, 2, 2)
    emb_width: int = 64  # code vector size
    codes: int = 2048  # codebook size per level
    width: int = 32  # residual channels (times multipliers[level])
    depth: int = 4  # residual blocks per downsampling step (times multipliers[level])
    multipliers: tuple[int, ...] = (2, 1, 1)  # paper: widths 64/32/32, depths 8/4/4
    m_conv: float = 1.0  # inner width of a residual block relative to ``width``
    dilation_growth: int = 3
    dilation_cycle: int = 0  # 0: dilations grow without wrapping
    # Bottleneck: EMA codebook (decay ``ema_decay``), k-means start, restarts below
    # ``threshold`` uses. Configs before 0.1 called the decay ``mu`` (mu-law's name elsewhere).
    ema_decay: float = 0.99
    threshold: float = 1.0
    kmeans_iters: int = 2
    # Loss: l2 (normalised by the data's power) + spectral_weight * MR-STFT + commit * commit.
    l2_weight: float = 1.0
    spectral_weight: float = 1.0
    commit: float = 0.02
    stft_ffts: tuple[int, ...] = (2048, 1024, 512)
    stft_hops: tuple[int, ...] = (240, 120, 50)
    stft_windows: tuple[int, ...] = (1200, 600, 240)
    # Optimisation (Adam, linear warm-up).
    segment: int = 393216  # training excerpt in samples (a multiple of the top hop)
    lr: float = 3e-4
    weight_decay: float = 0.0
    beta2: float = 0.999
    warmup: int = 100

    @property
    def levels(self) -> int:
        return len(self.downs)

    @property
    def hops(self) -> tuple[int, ...]:
        out, hop = [], 1
        for down, stride in zip(self.downs, self.strides, strict=True):
            hop *= stride**down
            out.append(hop)
        return tuple(out)

    @property
    def resolutions(self) -> tuple[tuple[int, int, int], ...]:
        return tuple(zip(self.stft_ffts, self.stft_hops, self.stft_windows, strict=True))

    def validate(self) -> None:
        if not (len(self.downs) == len(self.strides) == len(self.multipliers)) or not self.downs:
            raise ConfigError("downs, strides and multipliers need one value per level.")
        if not (len(self.stft_ffts) == len(self.stft_hops) == len(self.stft_windows)):
            raise ConfigError("stft_ffts, stft_hops and stft_windows must have the same length.")
        if any(w > n for n, w in zip(self.stft_ffts, self.stft_windows, strict=True)):
            raise ConfigError("Every STFT window must be no longer than its FFT size.")
        require_positive(
            self,
            (
                "sample_rate",
                "emb_width",
                "width",
                "depth",
                "segment",
                "dilation_growth",
            ),
        )
        if self.codes < 2:
            raise ConfigError("'codes' must be at least 2.")
        if any(d < 1 for d in self.downs) or any(s < 2 for s in self.strides):
            raise ConfigError("Every level needs downs >= 1 and strides >= 2.")
        if self.segment % self.hops[-1]:
            raise ConfigError(
                f"'segment' ({self.segment}) must be a multiple of the top hop ({self.hops[-1]})."
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"'ema_decay' must be in [0, 1), not {self.ema_decay}.")


@dataclass(frozen=True)
class PriorConfig:
    """A decoder-only transformer over one level's codes (the top prior or an upsampler).

    Conditioning: artist + genre as the start token; timing (total length, position,
    fraction elapsed) added at every position; optional lyrics through a character
    encoder and cross-attention; for upsamplers (``level`` < top) the codes of the level
    above through an embedding + dilated conv stack + transposed-conv upsampling.
    """

    # How the model is trained, not what it is: --init lets these change (train/init.py).
    TRAINING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"dropout", "lr", "weight_decay", "beta2", "warmup"}
    )

    level: int = 2  # 2 = top prior; 1 and 0 = upsamplers
    n_ctx: int = 8192
    width: int = 4800
    depth: int = 72
    heads: int = 8
    m_attn: float = 0.25
    m_mlp: float = 1.0
    dropout: float = 0.0
    init_scale: float = 0.1
    # Timing: total length and position are binned over [0, max_seconds], fraction over [0, 1].
    t_bins: int = 128
    max_seconds: float = 600.0
    # Lyrics: character encoder + cross-attention every ``cross_every`` blocks.
    lyrics: bool = False
    n_lyric_tokens: int = 512
    lyric_width: int = 1280
    lyric_depth: int = 18
    lyric_heads: int = 4
    cross_every: int = 10
    # Upsampler conditioner (ignored by the top prior).
    cond_width: int = 1024
    cond_depth: int = 16
    cond_dilation_growth: int = 3
    cond_dilation_cycle: int = 8
    # Optimisation (Adam with weight decay, linear warm-up).
    lr: float = 1.5e-4
    weight_decay: float = 0.002
    beta2: float = 0.925
    warmup: int = 100
    # Derived from the VQ-VAE and the data set at training time.
    bins: int = 2048  # codebook size of this level
    hop: int = 128  # audio samples per token at this level
    ratio: int = 0  # tokens of this level per token of the level above (0: top prior)
    sample_rate: int = 44100
    n_artists: int = 1
    n_genres: int = 1

    @property
    def is_upsampler(self) -> bool:
        return self.ratio > 0

    def validate(self) -> None:
        require_positive(
            self,
            (
                "n_ctx",
                "width",
                "depth",
                "heads",
                "t_bins",
                "bins",
                "hop",
                "n_artists",
                "n_genres",
            ),
        )
        attn = int(self.m_attn * self.width)
        if attn < self.heads or attn % self.heads:
            raise ConfigError(
                f"The attention width m_attn*width = {attn} must be a positive multiple of "
                f"heads ({self.heads})."
            )
        if self.ratio and self.n_ctx % self.ratio:
            raise ConfigError(
                f"An upsampler's n_ctx ({self.n_ctx}) must be a multiple of its ratio "
                f"to the level above ({self.ratio})."
            )
        if self.ratio and (self.ratio & (self.ratio - 1)):
            raise ConfigError(f"The upsampling ratio must be a power of 2, not {self.ratio}.")
        if self.lyrics and (self.lyric_width % self.lyric_heads or self.n_lyric_tokens < 2):
            raise ConfigError(
                "lyric_width must be divisible by lyric_heads and n_lyric_tokens >= 2."
            )
        if self.max_seconds <= 0:
            raise ConfigError("'max_seconds' must be positive.")

    @property
    def cond_downs(self) -> int:
        """Stride-2 transposed convs that take the level above to this level's rate."""
        return int(round(math.log2(self.ratio))) if self.ratio else 0


VQVAE_PRESETS: dict[str, VQVAEConfig] = {
    # 5b VQ-VAE: 44.1 kHz, hops 8/32/128, widths 64/32/32, depths 8/4/4, 2048 x 64 codes.
    "paper": VQVAEConfig(),
    # 16 kHz: one second of audio per example, 512-code books, single width.
    "small": VQVAEConfig(
        sample_rate=16000,
        emb_width=64,
        codes=512,
        width=32,
        depth=3,
        multipliers=(1, 1, 1),
        segment=16384,
        lr=3e-4,
        warmup=50,
    ),
    "tiny": VQVAEConfig(
        sample_rate=16000,
        emb_width=16,
        codes=64,
        width=12,
        depth=1,
        multipliers=(1, 1, 1),
        segment=4096,
        lr=1e-3,
        warmup=5,
        kmeans_iters=1,
    ),
}

PRIOR_PRESETS: dict[str, PriorConfig] = {
    # prior_5b: 72 x 4800, 8 heads, 8192 tokens (~24 s at hop 128, 44.1 kHz).
    "paper": PriorConfig(),
    # prior_5b_lyrics: 79 layers, lyrics encoder 18 x 1280 with 4 heads over 512 characters.
    "paper_lyrics": PriorConfig(depth=79, lyrics=True, beta2=0.925),
    # ~3 s of 16 kHz context (125 tokens/s at hop 128).
    "small": PriorConfig(
        n_ctx=384,
        width=256,
        depth=6,
        heads=4,
        init_scale=0.7,
        t_bins=32,
        max_seconds=120.0,
        n_lyric_tokens=96,
        lyric_width=128,
        lyric_depth=2,
        lyric_heads=2,
        cross_every=2,
        lr=3e-4,
        beta2=0.95,
        warmup=50,
        sample_rate=16000,
    ),
    "tiny": PriorConfig(
        n_ctx=32,
        width=32,
        depth=2,
        heads=2,
        m_attn=0.5,
        init_scale=1.0,
        t_bins=8,
        max_seconds=60.0,
        n_lyric_tokens=16,
        lyric_width=16,
        lyric_depth=1,
        lyric_heads=2,
        cross_every=1,
        lr=3e-3,
        beta2=0.99,
        warmup=5,
        bins=64,
        sample_rate=16000,
    ),
}

UPSAMPLER_PRESETS: dict[str, PriorConfig] = {
    # upsamplers: 72 x 1920, 1 head, 8192 tokens; conditioner 16 x 1024, dilation 3, cycle 8.
    "paper": PriorConfig(
        level=1,
        width=1920,
        depth=72,
        heads=1,
        init_scale=0.4,
        beta2=0.999,
        ratio=4,
        hop=32,
    ),
    "small": replace(
        PRIOR_PRESETS["small"],
        level=1,
        n_ctx=512,
        width=192,
        depth=4,
        heads=2,
        cond_width=128,
        cond_depth=4,
        cond_dilation_cycle=4,
        ratio=4,
        hop=32,
    ),
    "tiny": replace(PRIOR_PRESETS["tiny"], level=1, cond_width=16, cond_depth=1, ratio=4, hop=32),
}

PRESETS_BY_MODEL: dict[str, dict] = {
    "vqvae": VQVAE_PRESETS,
    "prior": PRIOR_PRESETS,
    "upsampler": UPSAMPLER_PRESETS,
}
# The family's default preset table (``latentmusic train jukebox`` trains a VQ-VAE first).
PRESETS = VQVAE_PRESETS


def presets_for(model_type: str) -> dict:
    """The preset table of a Jukebox model type, or a ConfigError naming the valid ones."""
    if model_type not in PRESETS_BY_MODEL:
        raise ConfigError(
            f"Unknown Jukebox model type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}."
        )
    return PRESETS_BY_MODEL[model_type]
