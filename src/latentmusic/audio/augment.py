"""Encoder-input augmentations for translation: the paper's segment pitch shift, and our
random recolouring (EQ and loudness envelope).

Segment pitch shift (Universal Music Translation, Mor et al., 2018): the shared encoder should capture *what is played*, not memorise the exact waveform of
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


# --------------------------------------------------------------------- timbre (colour)
COLOUR_POINTS = 6  # random gain points over log-frequency and over time


def random_colour(
    audio: np.ndarray,
    sr: int,
    rng: np.random.Generator,
    eq_db: float = 12.0,
    envelope_db: float = 12.0,
) -> np.ndarray:
    """Recolour (n,) audio: a random smooth EQ and a random smooth loudness envelope.

    Why: a translation decoder trained on its own domain can copy the input's spectral
    shape and envelope through the latents instead of learning its instrument's. Fed a
    recoloured input and asked for the clean audio, it must supply its own timbre; the
    notes (which partials, when) are untouched. Gains are piecewise linear in dB between
    ``COLOUR_POINTS`` points drawn from U(-eq_db, +eq_db) over log-frequency (50 Hz to
    Nyquist) and U(-envelope_db, +envelope_db) over time. The result keeps the input's
    peak level.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1 or x.shape[0] < MIN_SAMPLES:
        raise InputError(
            f"Colour augmentation needs (n,) audio of at least {MIN_SAMPLES} samples, "
            f"got shape {x.shape}."
        )
    if not (eq_db >= 0 and envelope_db >= 0):
        raise InputError(f"Gains must be >= 0 dB, got eq {eq_db} and envelope {envelope_db}.")
    n = x.shape[0]
    out = x
    if eq_db > 0:
        spectrum = np.fft.rfft(x)
        freqs = np.fft.rfftfreq(n, 1.0 / sr)
        octave = np.log2(np.maximum(freqs, 50.0) / 50.0)
        points = np.linspace(0.0, octave[-1], COLOUR_POINTS)
        gain_db = np.interp(octave, points, rng.uniform(-eq_db, eq_db, COLOUR_POINTS))
        out = np.fft.irfft(spectrum * 10.0 ** (gain_db / 20.0), n).astype(np.float32)
    if envelope_db > 0:
        points = np.linspace(0, n - 1, COLOUR_POINTS)
        gain_db = np.interp(
            np.arange(n), points, rng.uniform(-envelope_db, envelope_db, COLOUR_POINTS)
        )
        out = out * (10.0 ** (gain_db / 20.0)).astype(np.float32)
    peak_in, peak_out = float(np.abs(x).max()), float(np.abs(out).max())
    if peak_out > 0:
        out = out * (peak_in / peak_out)
    return out.astype(np.float32)
