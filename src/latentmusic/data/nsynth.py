"""Read NSynth-format note sets: the public release and what ``notes.build_notes`` makes.

The layout is NSynth's own (``nsynth-<split>/examples.json`` keyed by note_str, audio in
``audio/<note_str>.wav``), so a user who has downloaded NSynth can point the toolkit at it
unchanged. ``NSynthDataset`` serves random fixed-length crops for WaveNet training.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.audio import io
from latentmusic.errors import InputError

NSYNTH_FAMILIES = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)  # instrument_family ids are positions in this tuple
NSYNTH_SOURCES = ("acoustic", "electronic", "synthetic")
NSYNTH_QUALITIES = (
    "bright",
    "dark",
    "distortion",
    "fast_decay",
    "long_release",
    "multiphonic",
    "nonlinear_env",
    "percussive",
    "reverb",
    "tempo-synced",
)
# Field -> type of every examples.json entry (NSynth's 13 fields, nothing else).
NSYNTH_FIELD_TYPES: dict[str, type] = {
    "note": int,
    "note_str": str,
    "instrument": int,
    "instrument_str": str,
    "instrument_family": int,
    "instrument_family_str": str,
    "instrument_source": int,
    "instrument_source_str": str,
    "pitch": int,
    "velocity": int,
    "sample_rate": int,
    "qualities": list,
    "qualities_str": list,
}
NSYNTH_FIELDS = tuple(NSYNTH_FIELD_TYPES)


@dataclass(frozen=True)
class NSynthNote:
    """One note of an NSynth-format set: every examples.json field plus its audio file."""

    note: int
    note_str: str
    instrument: int
    instrument_str: str
    instrument_family: int
    instrument_family_str: str
    instrument_source: int
    instrument_source_str: str
    pitch: int
    velocity: int
    sample_rate: int
    qualities: tuple[int, ...]
    qualities_str: tuple[str, ...]
    audio_path: Path = field(compare=False)


def find_split_dir(root: str | Path, split: str) -> Path:
    """The folder holding ``split``'s examples.json: ``nsynth-<split>/``, ``<split>/`` or root."""
    root = Path(root).expanduser()
    if not root.exists():
        raise InputError(f"NSynth folder {root} does not exist.")
    for candidate in (root / f"nsynth-{split}", root / split, root):
        if (candidate / "examples.json").is_file():
            return candidate
    raise InputError(
        f"No examples.json for split '{split}' in {root} "
        f"(looked in nsynth-{split}/, {split}/ and the folder itself)."
    )


def _note_from_entry(key: str, entry: Any, audio_dir: Path, source: Path) -> NSynthNote:
    if not isinstance(entry, dict):
        raise InputError(f"{source}: entry '{key}' is not a JSON object.")
    missing = [name for name in NSYNTH_FIELD_TYPES if name not in entry]
    if missing:
        raise InputError(f"{source}: note '{key}' lacks the field(s) {', '.join(missing)}.")
    for name, kind in NSYNTH_FIELD_TYPES.items():
        value = entry[name]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"{source}: note '{key}' has a non-integer {name} ({value!r}).")
        if not isinstance(value, kind):
            raise InputError(f"{source}: note '{key}' has a {name} of the wrong type ({value!r}).")
    values = {name: entry[name] for name in NSYNTH_FIELD_TYPES}
    values["qualities"] = tuple(int(q) for q in values["qualities"])
    values["qualities_str"] = tuple(str(q) for q in values["qualities_str"])
    return NSynthNote(**values, audio_path=audio_dir / f"{entry['note_str']}.wav")


def read_examples(root: str | Path, split: str = "train") -> list[NSynthNote]:
    """Read one split's examples.json into notes sorted by note_str.

    Every listed audio file is checked up front (one stat each), so a broken download
    fails here with the file named instead of hours into training.
    """
    split_dir = find_split_dir(root, split)
    source = split_dir / "examples.json"
    try:
        data = json.loads(source.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{source} is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"{source} must map note names to note records.")
    audio_dir = split_dir / "audio"
    notes = [_note_from_entry(k, data[k], audio_dir, source) for k in sorted(data)]
    if not notes:
        raise InputError(f"{source} lists no notes.")
    for note in notes:
        if not note.audio_path.is_file():
            raise InputError(f"Audio file {note.audio_path} listed in {source} is missing.")
    return notes


def _family_ids(families: Iterable[int | str]) -> set[int]:
    ids = set()
    for fam in families:
        if isinstance(fam, str):
            if fam not in NSYNTH_FAMILIES:
                raise InputError(
                    f"Unknown instrument family '{fam}'; NSynth's are {', '.join(NSYNTH_FAMILIES)}."
                )
            ids.add(NSYNTH_FAMILIES.index(fam))
        else:
            ids.add(int(fam))
    return ids


class NSynthDataset:
    """Map-style dataset of an NSynth split: random crops (or whole notes) with labels.

    Items: ``{"audio": float32 (T,), "pitch", "instrument_family", "velocity", "index"}``
    and, with ``mu_law``, ``"codes"`` (int64 mu-law 0..255). Crops use NumPy's global RNG,
    which the training harness reseeds per batch (exact resume). Decoded notes are kept
    in memory up to ``cache_mb`` so later epochs skip decoding.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        crop: int | None = None,
        sr: int = 16000,
        mu_law: bool = False,
        pitch_range: tuple[int, int] | None = None,
        families: Iterable[int | str] | None = None,
        cache_mb: float = 256.0,
    ) -> None:
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise InputError(f"Crop length must be a positive number of samples; got {crop!r}.")
        notes = read_examples(root, split)
        if pitch_range is not None:
            lo, hi = pitch_range
            notes = [n for n in notes if lo <= n.pitch <= hi]
        if families is not None:
            wanted = _family_ids(families)
            notes = [n for n in notes if n.instrument_family in wanted]
        if not notes:
            raise InputError(
                f"No notes of split '{split}' in {root} match the pitch range and "
                "families asked for."
            )
        self.notes = notes
        self.split = split
        self.crop = crop
        self.sr = int(sr)
        self.mu_law = mu_law
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = int(cache_mb * 2**20)

    def __len__(self) -> int:
        return len(self.notes)

    def audio(self, index: int) -> np.ndarray:
        """The whole note at ``self.sr`` (resampled when the file's rate differs)."""
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        audio, _ = io.load(self.notes[index].audio_path, sr=self.sr)
        if self._cache_limit > 0 and audio.nbytes <= self._cache_limit:
            self._cache[index] = audio
            self._cache_bytes += audio.nbytes
            while self._cache_bytes > self._cache_limit:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= old.nbytes
        return audio

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        note = self.notes[index]
        audio = self.audio(index)
        if self.crop is not None:
            if len(audio) < self.crop:
                audio = np.pad(audio, (0, self.crop - len(audio)))
            start = int(np.random.randint(0, len(audio) - self.crop + 1))
            audio = audio[start : start + self.crop]
        item: dict[str, Any] = {
            "audio": torch.tensor(audio, dtype=torch.float32),  # a copy: the cache stays intact
            "pitch": note.pitch,
            "instrument_family": note.instrument_family,
            "velocity": note.velocity,
            "index": index,
        }
        if self.mu_law:
            from latentmusic.audio.mulaw import mu_law_encode

            item["codes"] = torch.from_numpy(mu_law_encode(audio))
        return item
