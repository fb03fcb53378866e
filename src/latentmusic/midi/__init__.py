"""MIDI floor: read/write MIDI, the quantized NoteSequence, and music21's bundled corpora.

- ``io``: ``read_midi``, ``write_midi`` (atomic), ``read_sequence``, ``write_sequence``
- ``sequence``: ``Note``, ``TrackInfo``, ``NoteSequence`` (step grid), ``merge_tracks``
- ``quantize``: ``quantize(pm) -> NoteSequence``, ``to_pretty_midi(seq)``
- ``corpus``: ``iter_chorales``, ``iter_folk``, ``CorpusPiece`` (parsed once, cached as JSON)

Names are re-exported lazily so importing the package stays cheap for the CLI (``quantize``
is not: it would clash with its module, import it from ``latentmusic.midi.quantize``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_midi": "io",
    "write_midi": "io",
    "read_sequence": "io",
    "write_sequence": "io",
    "Note": "sequence",
    "TrackInfo": "sequence",
    "NoteSequence": "sequence",
    "merge_tracks": "sequence",
    "to_pretty_midi": "quantize",
    "CorpusPiece": "corpus",
    "iter_chorales": "corpus",
    "iter_folk": "corpus",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
