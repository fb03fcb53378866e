"""Symbolic training data: build a MIDI melody set from music21's corpus, read any MIDI folder.

``build_melodies`` writes the layout a user's own data can also have::

    OUT/train/<id>.mid  OUT/valid/<id>.mid  OUT/test/<id>.mid  OUT/manifest.json

Each Bach chorale gives four one-voice melody files plus one 4-track SATB file; each folk tune
gives one melody file. Splits are 80/10/10 by a stable hash of the piece id, so every file of
one piece (and every version of one chorale) lands in the same split.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

from latentmusic.errors import InputError
from latentmusic.fileio import ensure_writable_dir, write_json
from latentmusic.midi.corpus import (
    CHORALE_COLLECTION,
    VOICES,
    CorpusItem,
    CorpusPiece,
    chorale_items,
    folk_items,
    load_pieces,
    new_process_pool,
)
from latentmusic.midi.io import read_sequence, write_sequence
from latentmusic.midi.sequence import NoteSequence, merge_tracks
from latentmusic.progress import progress_bar

SPLITS = ("train", "valid", "test")
MIDI_SUFFIXES = (".mid", ".midi")
MANIFEST_FORMAT = 1


def split_of(key: str) -> str:
    """'train' / 'valid' / 'test' with probability 80/10/10, fixed forever by ``key``."""
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


def _split_key(item: CorpusItem) -> str:
    """Versions of one chorale (bwv248.35-3, bwv248.35-3c) share a key, hence a split."""
    if item.collection == CHORALE_COLLECTION:
        return re.sub(r"-[^.]*$", "", item.id)
    return item.id


def safe_name(piece_id: str) -> str:
    """A file-name stem for a piece id ('essenFolksong/han1:12' -> 'essenFolksong_han1_12')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", piece_id).strip("._") or "piece"


def write_if_missing(seq: NoteSequence, path: Path) -> None:
    if not path.exists():  # idempotent: an interrupted build resumes where it stopped
        write_sequence(seq, path)


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as JSON unless the file already holds exactly that (a re-run of a
    builder leaves the set untouched, modification times included)."""
    try:
        unchanged = json.loads(path.read_text()) == manifest
    except (OSError, ValueError):
        unchanged = False
    if not unchanged:
        write_json(path, manifest)


def _write_piece(piece: CorpusPiece, item: CorpusItem, out: Path, stem: str) -> list[dict]:
    split = split_of(_split_key(item))
    common = {"id": piece.id, "collection": piece.collection, "title": piece.title, "split": split}
    if piece.collection != CHORALE_COLLECTION:
        rel = f"{split}/{stem}.mid"
        write_if_missing(piece.parts["melody"], out / rel)
        return [{**common, "kind": "melody", "files": [rel]}]
    voices = []
    for voice in VOICES:
        rel = f"{split}/{stem}_{voice}.mid"
        write_if_missing(piece.parts[voice], out / rel)
        voices.append(rel)
    satb = merge_tracks([piece.parts[v] for v in VOICES], source_id=piece.id)
    satb.lyrics = piece.lyrics
    rel = f"{split}/{stem}_satb.mid"
    write_if_missing(satb, out / rel)
    return [
        {**common, "kind": "melody", "files": voices},
        {**common, "kind": "satb", "files": [rel]},
    ]


def _previous_entries(manifest: Path, out: Path) -> dict[str, list[dict]]:
    """Entries of an earlier build whose files all still exist, by piece id."""
    try:
        pieces = json.loads(manifest.read_text())["pieces"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    by_id: dict[str, list[dict]] = {}
    for entry in pieces:
        by_id.setdefault(entry["id"], []).append(entry)
    return {
        pid: entries
        for pid, entries in by_id.items()
        if all((out / f).exists() for e in entries for f in e["files"])
    }


def build_melodies(
    out: str | Path,
    max_pieces: int | None = None,
    progress: bool = True,
    workers: int = 2,
    cache_dir: str | Path | None = None,
) -> Path:
    """Write the chorale + folk MIDI set to ``out`` and return ``out``.

    ``max_pieces`` caps the pieces (half chorales, rounded up, half folk tunes) for quick runs;
    None takes the whole corpus (~400 chorales, ~13k folk tunes). Re-running is a no-op: existing
    files are kept, and the manifest is only rewritten when its content changes.
    """
    if max_pieces is not None and max_pieces < 0:
        raise InputError(f"max_pieces must be 0 or more, got {max_pieces}.")
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}.")
    out = ensure_writable_dir(out)
    manifest_path = out / "manifest.json"
    previous = _previous_entries(manifest_path, out)
    groups: list[tuple[list[CorpusItem], int | None]] = [
        (chorale_items(), None),
        (folk_items(), None),
    ]
    if max_pieces is not None:
        n_chorales = math.ceil(max_pieces / 2)
        groups = [(groups[0][0], n_chorales), (groups[1][0], max_pieces - n_chorales)]

    entries: list[dict] = []
    stats: dict[str, int] = {}
    stems: dict[str, str] = {}
    total = sum(len(items) if limit is None else limit for items, limit in groups)
    pool = new_process_pool(workers) if workers > 1 else None  # processes start on first use
    bar = progress_bar(total, "melodies", "piece", progress, leave=True)
    try:
        for items, limit in groups:
            if limit == 0:
                continue
            todo = (item for item in items if item.id not in previous)
            loader = load_pieces(todo, workers, cache_dir, stats, executor=pool)
            count = 0
            try:
                for item in items:
                    if limit is not None and count >= limit:
                        break
                    if item.id in previous:
                        entries.extend(previous[item.id])
                        count += 1
                        bar.update()
                        continue
                    loaded, piece = next(loader)
                    assert loaded == item, "corpus loader out of order"
                    if piece is None:
                        bar.update(1 if limit is None else 0)
                        continue
                    stem = safe_name(piece.id)
                    if stems.setdefault(stem, piece.id) != piece.id:  # never overwrite a neighbour
                        stem = f"{stem}-{hashlib.sha1(piece.id.encode()).hexdigest()[:8]}"
                    entries.extend(_write_piece(piece, item, out, stem))
                    count += 1
                    bar.update()
            finally:
                loader.close()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    manifest = {
        "format": MANIFEST_FORMAT,
        "steps_per_quarter": 4,
        "pieces": entries,
        "counts": _counts(entries, stats),
    }
    write_manifest(manifest_path, manifest)
    return out


def _counts(entries: list[dict], stats: dict[str, int]) -> dict[str, Any]:
    by_split = {s: 0 for s in SPLITS}
    by_collection: dict[str, int] = {}
    kinds = {"melody": 0, "satb": 0}
    for e in entries:
        by_split[e["split"]] += len(e["files"])
        kinds[e["kind"]] += len(e["files"])
        if e["kind"] == "melody":
            by_collection[e["collection"]] = by_collection.get(e["collection"], 0) + 1
    return {
        "pieces": len({e["id"] for e in entries}),
        "melody_files": kinds["melody"],
        "satb_files": kinds["satb"],
        "files_by_split": by_split,
        "pieces_by_collection": by_collection,
        "skipped_corpus_files": stats.get("skipped", 0),
    }


def read_midi_folder(
    root: str | Path, split: str | None = None, steps_per_quarter: int = 4
) -> list[NoteSequence]:
    """Every .mid/.midi under ``root`` (or ``root/split`` when that folder exists), quantized.

    Unreadable files are skipped with one warning that counts them; a folder with no readable
    MIDI file at all is an InputError. ``source_id`` is the file's path relative to the folder.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(f"MIDI folder {root} does not exist.")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder.")
    folder = root / split if split and (root / split).is_dir() else root
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()
    )
    if not files:
        raise InputError(f"No MIDI files (.mid, .midi) in {folder}.")
    sequences: list[NoteSequence] = []
    failures: list[str] = []
    for path in files:
        try:
            seq = read_sequence(path, steps_per_quarter)
        except InputError as exc:
            failures.append(str(exc))
            continue
        seq.source_id = path.relative_to(folder).with_suffix("").as_posix()
        sequences.append(seq)
    if not sequences:
        raise InputError(f"No readable MIDI files in {folder} ({len(failures)} failed to read).")
    if failures:
        warnings.warn(
            f"Skipped {len(failures)} of {len(files)} MIDI files in {folder} that could not be "
            f"read (first: {failures[0]})",
            stacklevel=2,
        )
    return sequences
