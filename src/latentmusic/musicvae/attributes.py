"""Attribute vectors (MusicVAE section 5.4): directions in latent space that change one quality.

An attribute is a number computed from a sequence. Its vector is the mean latent code of
the examples in the top quartile of that number minus the mean code of the bottom quartile
(``latentmusic.latent.attribute_vector``); adding ``magnitude`` times it to a code and
decoding should raise the attribute, subtracting should lower it.

Attributes (per sequence, over its pitched notes unless said otherwise):

- ``note_density``: notes (drum hits included) started per 16th-note step.
- ``average_interval``: mean absolute interval in semitones between consecutive notes of the
  first melodic track (0 with fewer than two notes).
- ``syncopation``: share of onsets that fall off the quarter-note beat (step % 4 != 0).
- ``pitch_range``: highest minus lowest pitch, in semitones.
- ``c_diatonic``: share of notes whose pitch class is in C major (the paper's "C diatonic").
- ``kick_snare_balance``: (kicks - snares) / (kicks + snares) over drum hits, in [-1, 1]
  (0 without either): positive is a bottom-heavy groove, negative a snare-driven one.

Drum models have ``note_density``, ``syncopation`` and ``kick_snare_balance``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentmusic.errors import InputError
from latentmusic.fileio import atomic_path
from latentmusic.midi.sequence import NoteSequence

if TYPE_CHECKING:
    from latentmusic.musicvae.model import MusicVAE

VECTORS_FILE = "attributes.npz"
C_MAJOR = frozenset({0, 2, 4, 5, 7, 9, 11})


def note_density(seq: NoteSequence) -> float:
    return len(seq.notes) / max(1, seq.total_steps)


def _first_melodic(seq: NoteSequence) -> list[int]:
    tracks = [i for i, t in seq.tracks.items() if not t.is_drum]
    if not tracks:
        return []
    return [n.pitch for n in seq.notes if n.track == tracks[0]]


def average_interval(seq: NoteSequence) -> float:
    pitches = _first_melodic(seq)
    if len(pitches) < 2:
        return 0.0
    return float(np.mean(np.abs(np.diff(pitches))))


def syncopation(seq: NoteSequence) -> float:
    if not seq.notes:
        return 0.0
    beat = seq.steps_per_quarter
    return sum(1 for n in seq.notes if n.start % beat != 0) / len(seq.notes)


def pitch_range(seq: NoteSequence) -> float:
    pitches = [n.pitch for n in seq.notes if not n.is_drum]
    return float(max(pitches) - min(pitches)) if pitches else 0.0


def c_diatonic(seq: NoteSequence) -> float:
    pitches = [n.pitch for n in seq.notes if not n.is_drum]
    if not pitches:
        return 0.0
    return sum(1 for p in pitches if p % 12 in C_MAJOR) / len(pitches)


def kick_snare_balance(seq: NoteSequence) -> float:
    from latentmusic.midi.representations import DRUM_PITCH_CLASSES

    kick_pitches, snare_pitches = set(DRUM_PITCH_CLASSES[0]), set(DRUM_PITCH_CLASSES[1])
    drums = [n.pitch for n in seq.notes if n.is_drum]
    kicks = sum(1 for p in drums if p in kick_pitches)
    snares = sum(1 for p in drums if p in snare_pitches)
    return (kicks - snares) / (kicks + snares) if kicks + snares else 0.0


ATTRIBUTES: dict[str, Callable[[NoteSequence], float]] = {
    "note_density": note_density,
    "average_interval": average_interval,
    "syncopation": syncopation,
    "pitch_range": pitch_range,
    "c_diatonic": c_diatonic,
    "kick_snare_balance": kick_snare_balance,
}
DRUM_ATTRIBUTES = ("note_density", "syncopation", "kick_snare_balance")
PITCHED_ATTRIBUTES = (
    "note_density",
    "average_interval",
    "syncopation",
    "pitch_range",
    "c_diatonic",
)


def attributes_for(representation: str) -> tuple[str, ...]:
    """The attributes that make sense for a representation."""
    if representation == "drums":
        return DRUM_ATTRIBUTES
    if representation == "trio":
        return (*PITCHED_ATTRIBUTES, "kick_snare_balance")
    return PITCHED_ATTRIBUTES


def check_attribute(name: str, representation: str) -> None:
    """InputError for an attribute the model's representation does not have."""
    known = attributes_for(representation)
    if name not in known:
        raise InputError(
            f"Unknown attribute '{name}' for a {representation} model; choose one of: {', '.join(known)}."
        )


def measure(seqs: Sequence[NoteSequence], name: str) -> np.ndarray:
    """One attribute of each sequence."""
    if name not in ATTRIBUTES:
        raise InputError(f"Unknown attribute '{name}'; choose one of: {', '.join(ATTRIBUTES)}.")
    return np.array([ATTRIBUTES[name](s) for s in seqs], dtype=np.float64)


def compute_vectors(
    model: MusicVAE,
    windows: np.ndarray,
    names: Sequence[str] | None = None,
    quantile: float = 0.25,
    batch_size: int = 256,
) -> dict[str, dict]:
    """Attribute vectors from data windows ``(N, steps, tracks)``: mean code of the top
    ``quantile`` minus mean code of the bottom ``quantile`` for each attribute."""
    import torch

    from latentmusic.latent import attribute_vector

    names = list(names or attributes_for(model.config.representation))
    for name in names:
        check_attribute(name, model.config.representation)
    if len(windows) < 8:
        raise InputError(f"Attribute vectors need at least 8 example windows, got {len(windows)}.")
    tokens = torch.from_numpy(np.asarray(windows, dtype=np.int64))
    codes = torch.cat(
        [model.encode(tokens[i : i + batch_size]) for i in range(0, len(tokens), batch_size)]
    )
    seqs = [model.representation.decode(w) for w in np.asarray(windows)]
    k = max(1, int(round(len(seqs) * quantile)))
    out = {}
    for name in names:
        values = measure(seqs, name)
        order = np.argsort(values, kind="stable")
        low, high = order[:k], order[-k:]
        vector = attribute_vector(codes[torch.from_numpy(high)], codes[torch.from_numpy(low)])
        out[name] = {
            "vector": vector.numpy().astype(np.float32),
            "low_mean": float(values[low].mean()),
            "high_mean": float(values[high].mean()),
            "examples": int(len(seqs)),
        }
    return out


def save_vectors(path: str | Path, vectors: dict[str, dict]) -> Path:
    """Write vectors as ``.npz`` (no pickles): one array per attribute + a JSON summary."""
    path = Path(path)
    meta = {
        name: {k: v for k, v in info.items() if k != "vector"} for name, info in vectors.items()
    }
    arrays = {
        f"vector_{name}": np.asarray(info["vector"], np.float32) for name, info in vectors.items()
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
    return path


def load_vectors(path: str | Path) -> dict[str, dict]:
    """Read a file written by :func:`save_vectors`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Attribute vector file {path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return {name: {**info, "vector": data[f"vector_{name}"]} for name, info in meta.items()}
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path} is not an attribute vector file written by latentmusic.") from exc
