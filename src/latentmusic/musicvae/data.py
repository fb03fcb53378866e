"""MusicVAE training data: fixed-length windows of a representation, from MIDI folders.

Where the windows come from:

- a melody set built by ``latentmusic data melodies`` (``DIR/{train,valid,test}/*.mid`` +
  ``manifest.json``): melody models read the one-voice files, SATB models the 4-track files;
- any folder of MIDI files: with ``train/valid/test`` sub-folders those are the splits,
  otherwise files are split 80/10/10 by a stable hash of their path.

As magenta does: each pitched track of a file is its own melody (a 4-voice chorale gives
four), windows slide by one bar (the piece's own bar lines), windows with too few notes or a
silence of ``gap_bars`` are dropped, identical windows are kept once, and training windows
are transposed at random by up to ±``transpose_range`` semitones (never out of 21..108).
The random draw uses NumPy's global RNG, which the harness reseeds for every batch, so
``--resume`` replays the same augmentation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from latentmusic.errors import InputError
from latentmusic.midi.representations import STEPS_PER_BAR, Representation, get_representation
from latentmusic.midi.sequence import NoteSequence
from latentmusic.musicvae.config import MusicVAEConfig

SPLITS = ("train", "valid", "test")


def _manifest_files(root: Path, split: str, representation: str) -> list[Path] | None:
    """Files of one split chosen through a melody-set manifest (None when there is none)."""
    path = root / "manifest.json"
    if not path.is_file():
        return None
    try:
        pieces = json.loads(path.read_text())["pieces"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a readable melody-set manifest.") from exc
    kind = {"melody": "melody", "satb": "satb"}.get(representation)
    files = [
        root / f
        for entry in pieces
        if entry.get("split") == split and (kind is None or entry.get("kind") == kind)
        for f in entry.get("files", [])
    ]
    return [f for f in files if f.is_file()]


def load_sequences(
    data: str | Path, split: str, representation: str = "melody"
) -> list[NoteSequence]:
    """The quantized MIDI files of one split of ``data`` (see the module docstring)."""
    from latentmusic.data.melodies import read_midi_folder, split_of
    from latentmusic.midi.io import read_sequence

    if split not in SPLITS:
        raise InputError(f"Unknown split '{split}'; choose one of: {', '.join(SPLITS)}.")
    root = Path(data)
    if not root.exists():
        raise InputError(f"Data directory {root} does not exist.")
    files = _manifest_files(root, split, representation)
    if files is not None:
        out = []
        for f in files:
            seq = read_sequence(f)
            seq.source_id = f.relative_to(root).with_suffix("").as_posix()
            out.append(seq)
        return out
    if any((root / s).is_dir() for s in SPLITS):
        if not (root / split).is_dir():
            return []
        return read_midi_folder(root, split)
    return [s for s in read_midi_folder(root) if split_of(s.source_id) == split]


def parts_for(representation: Representation, seq: NoteSequence) -> list[NoteSequence]:
    """What one file contributes: every pitched track alone for melodies, else the file."""
    pitched = [
        i for i, t in seq.tracks.items() if not t.is_drum and any(n.track == i for n in seq.notes)
    ]
    if representation.name == "melody":
        return [seq.track(i) for i in pitched]
    if representation.name == "drums":
        return [seq] if any(n.is_drum for n in seq.notes) else []
    if representation.name == "trio":
        return [seq] if pitched and any(n.is_drum for n in seq.notes) else []
    return [seq] if len(pitched) >= 2 else []


def meter_ok(seq: NoteSequence, config: MusicVAEConfig) -> bool:
    """``strict_meter`` keeps only bars that tile 16 steps (2/4, 4/4, 2/2), as magenta does."""
    return not config.strict_meter or STEPS_PER_BAR % seq.steps_per_bar == 0


def extract_windows(
    sequences: Iterable[NoteSequence], config: MusicVAEConfig, dedupe: bool = True
) -> tuple[np.ndarray, list[str]]:
    """All training windows ``(N, steps, tracks)`` of ``sequences`` and their source ids."""
    rep = get_representation(config.representation)
    multi = len(rep.tracks) > 1
    seen: set[bytes] = set()
    windows: list[np.ndarray] = []
    sources: list[str] = []
    for seq in sequences:
        if not meter_ok(seq, config):
            continue
        for part in parts_for(rep, seq):
            events = rep.encode(part)
            for window in rep.windows(
                events,
                config.bars,
                hop=seq.steps_per_bar,
                min_notes=config.min_notes,
                gap_bars=config.gap_bars,
                every_track=multi,
            ):
                key = window.astype(np.int16).tobytes()
                if dedupe and key in seen:
                    continue
                seen.add(key)
                windows.append(window)
                sources.append(seq.source_id)
    if not windows:
        return np.zeros((0, config.steps, len(rep.tracks)), dtype=np.int16), []
    return np.stack(windows).astype(np.int16), sources


class WindowDataset(torch.utils.data.Dataset):
    """Windows as ``{"tokens": LongTensor (steps, tracks)}``, transposed at random if asked."""

    def __init__(self, windows: np.ndarray, representation: str, transpose_range: int = 0) -> None:
        self.windows = np.asarray(windows, dtype=np.int16)
        self.representation = get_representation(representation)
        self.transpose_range = int(transpose_range)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = self.windows[index].astype(np.int64)
        if self.transpose_range:
            window = self.representation.augment(window, self.transpose_range)
        return {"tokens": torch.from_numpy(window)}


def build_dataset(
    data: str | Path, split: str, config: MusicVAEConfig, augment: bool, limit: int | None = None
) -> tuple[WindowDataset, list[NoteSequence]]:
    """The windows of one split as a dataset (plus the sequences they came from)."""
    sequences = load_sequences(data, split, config.representation)
    windows, _ = extract_windows(sequences, config)
    if limit is not None:
        windows = windows[:limit]
    return (
        WindowDataset(windows, config.representation, config.transpose_range if augment else 0),
        sequences,
    )
