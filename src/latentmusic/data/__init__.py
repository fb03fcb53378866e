"""Data floor: offline FluidSynth rendering, NSynth note sets and folder-per-domain audio.

- ``render``: FluidSynth + SoundFont rendering of MIDI to mono float32 audio.
- ``notes``: ``build_notes`` renders an NSynth-format note set (train/valid/test by instrument).
- ``nsynth``: ``read_examples`` / ``NSynthDataset`` read the real NSynth release or our sets.
- ``domains``: ``build_domains`` renders the same pieces with several instruments;
  ``DomainAudioSet`` / ``SegmentDataset`` read those or a user's ``root/<domain>/`` folders.
- ``melodies``: ``build_melodies`` / ``read_midi_folder`` for the symbolic (MusicVAE) data.

Submodules load on first use, so ``import latentmusic.data`` costs nothing at CLI start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "require_fluidsynth": "render",
    "default_soundfont": "render",
    "resolve_soundfont": "render",
    "render_midi": "render",
    "build_notes": "notes",
    "read_examples": "nsynth",
    "NSynthNote": "nsynth",
    "NSynthDataset": "nsynth",
    "build_domains": "domains",
    "DomainAudioSet": "domains",
    "SegmentDataset": "domains",
    "build_melodies": "melodies",
    "read_midi_folder": "melodies",
}
_SUBMODULES = ("render", "notes", "nsynth", "domains", "melodies")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
