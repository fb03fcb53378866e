"""Audio file input/output: decode, resample (soxr HQ), stream long files, save atomically.

Every model in the toolkit sees float32 audio in [-1, 1] at a known rate, so all file
access goes through here. libsndfile (via soundfile) reads wav/flac/ogg/mp3/aiff without
extra system tools; anything else falls back to librosa/audioread (needs ffmpeg).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from latentmusic.audio.formats import AUDIO_SUFFIXES, container
from latentmusic.errors import InputError
from latentmusic.fileio import atomic_path

RESAMPLE_QUALITY = "HQ"


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"Audio file {p} does not exist.")
    if p.is_dir():
        raise InputError(f"{p} is a directory, not an audio file.")
    if not os.access(p, os.R_OK):
        raise InputError(f"Audio file {p} cannot be read (permission denied).")
    return p


def _check_finite(data: np.ndarray, p: Path) -> np.ndarray:
    """NaN or infinite samples are an input error: no model can hear them, and silence
    or garbage would come out without a word."""
    if not np.isfinite(data).all():
        raise InputError(f"{p} contains NaN or infinite samples; it is not usable audio.")
    return data


def _check_rate(sr: int | None, what: str = "sample rate") -> int | None:
    if sr is None:
        return None
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise InputError(f"The {what} must be a positive integer number of Hz, got {sr!r}.")
    return int(sr)


def _undecodable(p: Path) -> InputError:
    return InputError(f"{p} could not be decoded as audio.")


def _empty(p: Path) -> InputError:
    return InputError(f"{p} contains no audio samples.")


def _fallback_decode(p: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decode formats libsndfile cannot read (m4a, aac, ...) with librosa; (channels, n)."""
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(p, sr=None, mono=False, offset=offset, duration=duration)
    except Exception as exc:  # audioread raises many unrelated types; all mean "cannot decode"
        raise _undecodable(p) from exc
    data = np.atleast_2d(np.asarray(data, dtype=np.float32))
    return data, int(rate)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample float audio along its last axis with soxr HQ (band-limited, no aliasing)."""
    orig_sr = _check_rate(orig_sr, "source sample rate")
    target_sr = _check_rate(target_sr, "target sample rate")
    audio = np.asarray(audio, dtype=np.float32)
    if orig_sr == target_sr or audio.shape[-1] == 0:
        return audio
    if audio.ndim == 1:
        return soxr.resample(audio, orig_sr, target_sr, quality=RESAMPLE_QUALITY)
    # soxr wants (frames, channels).
    flat = audio.reshape(-1, audio.shape[-1]).T
    out = soxr.resample(np.ascontiguousarray(flat), orig_sr, target_sr, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(out.T).reshape(*audio.shape[:-1], -1)


def load(
    path: str | Path,
    sr: int | None = None,
    mono: bool = True,
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read an audio file as float32: (n,) if ``mono`` (channel mean) else (channels, n).

    ``sr`` resamples with soxr HQ; ``offset``/``duration`` (seconds) read only part of a
    long file. Returns ``(audio, rate)``; raises InputError for missing/undecodable/empty.
    """
    p = _check_file(path)
    sr = _check_rate(sr)
    if offset < 0 or (duration is not None and duration <= 0):
        raise InputError(f"Offset must be >= 0 and duration > 0 when reading {p}.")
    try:
        with sf.SoundFile(p) as f:
            rate = f.samplerate
            start = int(round(offset * rate))
            if start >= f.frames > 0:
                raise InputError(f"Offset {offset} s is past the end of {p}.")
            if start > 0:
                f.seek(start)
            frames = -1 if duration is None else int(round(duration * rate))
            data = f.read(frames, dtype="float32", always_2d=True).T  # (channels, n)
    except InputError:  # ours (an InputError is a ValueError too): not a decoding failure
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        data, rate = _fallback_decode(p, offset, duration)
    if data.shape[-1] == 0:
        raise _empty(p)
    _check_finite(data, p)
    if mono:
        data = data.mean(axis=0, dtype=np.float32)
    if sr is not None and sr != rate:
        data = resample(data, rate, sr)
        rate = sr
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def info(path: str | Path) -> tuple[int, int, int]:
    """Return ``(sample_rate, frames, channels)`` from the header, without decoding audio."""
    p = _check_file(path)
    try:
        meta = sf.info(str(p))
        rate, frames, channels = int(meta.samplerate), int(meta.frames), int(meta.channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        # Not readable by libsndfile: decoding is the only way to learn the length.
        data, rate = _fallback_decode(p, 0.0, None)
        frames, channels = data.shape[-1], data.shape[0]
    if frames <= 0:
        raise _empty(p)
    return rate, frames, channels


def stream(
    path: str | Path, sr: int | None = None, block_seconds: float = 1.0
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks (about ``block_seconds`` long) at rate ``sr`` from a long file.

    Reads with soundfile.blocks and resamples with a stateful soxr stream, so memory stays
    flat however long the file is; concatenating the blocks matches ``load(path, sr)``.
    """
    p = _check_file(path)
    sr = _check_rate(sr)
    if not block_seconds > 0:
        raise InputError(f"Block length must be positive when streaming {p}, got {block_seconds}.")
    try:
        meta = sf.info(str(p))
        rate, frames = int(meta.samplerate), int(meta.frames)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        yield from _stream_decoded(p, sr, block_seconds)
        return
    if frames <= 0:
        raise _empty(p)
    out_sr = sr or rate
    blocksize = max(1, int(round(block_seconds * rate)))
    resampler = None
    if out_sr != rate:
        resampler = soxr.ResampleStream(rate, out_sr, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    try:
        for block in sf.blocks(str(p), blocksize=blocksize, dtype="float32", always_2d=True):
            mono = _check_finite(block, p).mean(axis=1, dtype=np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=False)
            if mono.size:
                yield np.ascontiguousarray(mono, dtype=np.float32)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _undecodable(p) from exc
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if tail.size:
            yield np.ascontiguousarray(tail, dtype=np.float32)


def _stream_decoded(p: Path, sr: int | None, block_seconds: float) -> Iterator[np.ndarray]:
    """Streaming for formats only the fallback decoder reads: decode once, then cut."""
    audio, rate = load(p, sr)
    step = max(1, int(round(block_seconds * rate)))
    for i in range(0, audio.shape[-1], step):
        yield audio[i : i + step]


def save(path: str | Path, audio: np.ndarray, sr: int, subtype: str | None = None) -> Path:
    """Write (n,) or (channels, n) float audio atomically; container from the suffix.

    No suffix means ``.wav`` is appended. Samples are clipped to [-1, 1]; ``subtype``
    defaults to libsndfile's default for the container (PCM_16 for wav/flac).
    Returns the path written.
    """
    target = Path(path)
    if target.suffix == "":
        target = target.with_suffix(".wav")
    fmt = container(target)
    if fmt is None:
        known = ", ".join(AUDIO_SUFFIXES)
        raise InputError(f"Cannot save audio as {target.name}: use one of {known}.")
    sr = _check_rate(sr)
    if sr is None:
        raise InputError(f"A sample rate is needed to save {target}.")
    data = np.asarray(audio, dtype=np.float64)
    if data.ndim not in (1, 2) or data.shape[-1] == 0:
        raise InputError(
            f"Audio to save to {target} must be non-empty with shape (n,) or (channels, n), "
            f"got {data.shape}."
        )
    if not np.all(np.isfinite(data)):
        raise InputError(f"Audio to save to {target} contains NaN or infinite values.")
    subtype = subtype or sf.default_subtype(fmt)
    if not sf.check_format(fmt, subtype):
        raise InputError(f"Subtype {subtype} cannot be written to a {fmt} file ({target}).")
    frames = np.clip(data, -1.0, 1.0).astype(np.float32)
    frames = frames[:, None] if frames.ndim == 1 else frames.T  # soundfile wants (n, channels)
    with (
        atomic_path(target) as tmp,
        sf.SoundFile(str(tmp), "w", sr, frames.shape[1], subtype, format=fmt) as out,
    ):
        # In blocks: libsndfile 1.2's Vorbis encoder crashes the process when handed a long
        # signal (about a minute of stereo 44.1 kHz) in one write.
        for start in range(0, len(frames), WRITE_BLOCK):
            out.write(np.ascontiguousarray(frames[start : start + WRITE_BLOCK]))
    return target


WRITE_BLOCK = 65536  # frames per write
