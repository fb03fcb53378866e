"""NSynth's rainbowgram: a CQT picture whose brightness is loudness and whose colour is phase.

Brightness is the log magnitude (top ``top_db`` dB of the clip, so the picture does not
depend on playback level); colour is the instantaneous frequency, i.e. the time derivative
of the unwrapped CQT phase, through matplotlib's cyclic-looking 'rainbow' map. Harmonics
show as steady colour bands, and phase errors of a decoder show as colour noise, which
magnitude spectrograms hide. Only matplotlib's colormap and Pillow are used: no pyplot.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from latentmusic.errors import InputError
from latentmusic.fileio import atomic_path

HOP_LENGTH = 256
BINS_PER_OCTAVE = 24
FMIN_HZ = 32.703195662574764  # C1
MAX_OCTAVES = 8
TOP_DB = 80.0
FILTER_SCALE = 0.8  # NSynth's res_factor: slightly sharper time resolution than plain CQT
COLORMAP = "rainbow"


def _mono(audio: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2 and x.shape[0] <= 8:  # (channels, n): average the channels
        x = x.mean(axis=0)
    if x.ndim != 1 or x.size == 0:
        raise InputError(f"{what} needs non-empty mono (n,) or (channels, n) audio.")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{what} got audio with NaN or infinite values.")
    return x


def default_octaves(sr: int, fmin: float = FMIN_HZ) -> int:
    """Whole octaves above ``fmin`` that stay below 0.45 * sr (CQT filters must fit Nyquist)."""
    return int(max(1, min(MAX_OCTAVES, math.floor(math.log2(0.45 * sr / fmin)))))


def rainbowgram(
    audio: np.ndarray,
    sr: int,
    hop_length: int = HOP_LENGTH,
    bins_per_octave: int = BINS_PER_OCTAVE,
    n_octaves: int | None = None,
    fmin: float = FMIN_HZ,
    top_db: float = TOP_DB,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(brightness, inst_freq)``, each (bins, frames), bin 0 = lowest frequency.

    brightness in [0, 1] (0 = ``top_db`` below the clip's peak or silence);
    inst_freq in [-1, 1] (phase advance per hop divided by pi).
    """
    from latentmusic.audio.spectral import cqt

    x = _mono(audio, "A rainbowgram")
    n_octaves = n_octaves or default_octaves(sr, fmin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on clips shorter than its low filters
        c = cqt(
            x,
            sr,
            hop_length=hop_length,
            n_bins=n_octaves * bins_per_octave,
            bins_per_octave=bins_per_octave,
            fmin=fmin,
            filter_scale=FILTER_SCALE,
        )
    mag = np.abs(c)
    peak = float(mag.max())
    if peak <= 1e-10:
        brightness = np.zeros(mag.shape, dtype=np.float32)
    else:
        db = 20.0 * np.log10(np.maximum(mag, 1e-10) / peak)
        brightness = np.clip(1.0 + db / top_db, 0.0, 1.0).astype(np.float32)
    phase = np.angle(c)
    unwrapped = np.unwrap(phase, axis=1)
    # NSynth's instantaneous frequency: first frame keeps its phase, then per-hop differences.
    dphase = np.concatenate([phase[:, :1], np.diff(unwrapped, axis=1)], axis=1) / np.pi
    return brightness, np.clip(dphase, -1.0, 1.0).astype(np.float32)


def rainbowgram_image(audio: np.ndarray, sr: int, **kwargs: float) -> np.ndarray:
    """RGB rainbowgram (bins, frames, 3) uint8, low frequencies at the bottom row."""
    import matplotlib

    brightness, inst_freq = rainbowgram(audio, sr, **kwargs)
    cmap = matplotlib.colormaps[COLORMAP]
    rgb = cmap((inst_freq + 1.0) / 2.0)[..., :3] * brightness[..., None]
    return np.ascontiguousarray(np.round(rgb[::-1] * 255.0).astype(np.uint8))


def _upscale(image: np.ndarray, min_size: int) -> np.ndarray:
    fy = max(1, math.ceil(min_size / image.shape[0]))
    fx = max(1, math.ceil(min_size / image.shape[1]))
    return np.repeat(np.repeat(image, fy, axis=0), fx, axis=1)


def save_rainbowgram(
    audio: np.ndarray, sr: int, path: str | Path, min_size: int = 256, **kwargs: float
) -> Path:
    """Write the rainbowgram as a PNG (atomically), each axis repeated up to ``min_size`` px."""
    from PIL import Image

    target = Path(path)
    if target.suffix.lower() != ".png":
        raise InputError(f"Rainbowgrams are saved as PNG; {target.name} should end in .png.")
    image = _upscale(rainbowgram_image(audio, sr, **kwargs), min_size)
    with atomic_path(target) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return target
