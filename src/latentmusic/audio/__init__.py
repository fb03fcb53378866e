"""Audio floor: file I/O, mu-law, spectral features and losses, rainbowgrams, augmentation.

Submodules load on first use (``latentmusic.audio.load`` imports ``io`` then), so importing
the package costs nothing; torch and librosa are only pulled in by the functions needing them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load": "io",
    "save": "io",
    "info": "io",
    "stream": "io",
    "resample": "io",
    "mu_law_encode": "mulaw",
    "mu_law_decode": "mulaw",
    "stft_magnitude": "spectral",
    "mel_spectrogram": "spectral",
    "cqt": "spectral",
    "MultiResolutionSTFTLoss": "spectral",
    "multi_resolution_stft_distance": "spectral",
    "spectral_convergence_db": "spectral",
    "rainbowgram_image": "rainbowgram",
    "save_rainbowgram": "rainbowgram",
    "segment_pitch_shift": "augment",
}
_SUBMODULES = ("io", "mulaw", "spectral", "rainbowgram", "augment")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
