"""Segment pitch-shift augmentation from Universal Music Translation (Mor et al., 2018).

The shared encoder should capture *what is played*, not memorise the exact waveform of
the training domain. Pitch-shifting a random segment (length L/4..L/2, by up to +-0.5
semitone) perturbs the input so the autoencoder cannot rely on the precise timbre/pitch
details; the decoder is still trained to reproduce the clean audio.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from latentmusic.errors import InputError

CROSSFADE_SECONDS = 0.005  # short linear fades so the segment edges do not click
MIN_SAMPLES = 64


class SegmentShift(NamedTuple):
    """Where and how much :func:`segment_pitch_shift` shifts (drawn by :func:`draw_segment`)."""

    start: int
    length: int
    semitones: float


def draw_segment(n: int, rng: np.random.Generator, max_semitones: float = 0.5) -> SegmentShift:
    """Draw segment length in [n/4, n/2], a start where it fits, and U(-max, max) semitones."""
    low, high = max(1, n // 4), max(1, n // 2)
    length = int(rng.integers(low, high + 1))
    start = int(rng.integers(0, n - length + 1))
    semitones = float(rng.uniform(-max_semitones, max_semitones))
    return SegmentShift(start, length, semitones)


def _shift(segment: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    import librosa

    n_fft = min(2048, 1 << int(np.floor(np.log2(segment.shape[-1]))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = librosa.effects.pitch_shift(
            segment, sr=sr, n_steps=semitones, n_fft=n_fft, hop_length=n_fft // 4
        )
    return out[..., : segment.shape[-1]]


def segment_pitch_shift(
    audio: np.ndarray, sr: int, rng: np.random.Generator, max_semitones: float = 0.5
) -> np.ndarray:
    """Pitch-shift one random segment of (n,) or (channels, n) audio; length is unchanged.

    Samples outside the segment are returned untouched; ``rng`` makes it reproducible.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim not in (1, 2) or x.shape[-1] < MIN_SAMPLES:
        raise InputError(
            f"Pitch-shift augmentation needs (n,) or (channels, n) audio of at least "
            f"{MIN_SAMPLES} samples, got shape {x.shape}."
        )
    if not max_semitones >= 0:
        raise InputError(f"max_semitones must be >= 0, got {max_semitones}.")
    seg = draw_segment(x.shape[-1], rng, max_semitones)
    out = x.copy()
    if seg.semitones == 0.0:
        return out
    a, b = seg.start, seg.start + seg.length
    shifted = _shift(x[..., a:b], sr, seg.semitones)
    fade = min(int(CROSSFADE_SECONDS * sr), seg.length // 4)
    w = np.ones(seg.length, dtype=np.float32)
    if fade > 0:
        ramp = (np.arange(fade, dtype=np.float32) + 0.5) / fade
        w[:fade] = ramp
        w[-fade:] = ramp[::-1]
    out[..., a:b] = w * shifted + (1.0 - w) * x[..., a:b]
    return out
