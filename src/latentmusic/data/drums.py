"""Drum sets from real General MIDI songs: ``latentmusic data drums OUT``.

Every song of the Debian sources (:mod:`latentmusic.data.gm_sources`) that has notes on the
General MIDI drum channel (channel 10; pretty_midi's ``is_drum``) gives one MIDI file holding
its drum part as one track, all drum pitches kept (the 9-class reduction happens when a model
reads it). The layout is the melody set's::

    OUT/train/<song>.mid  OUT/valid/<song>.mid  OUT/test/<song>.mid  OUT/manifest.json

Songs split 80/10/10 by a stable hash of their id (``source/name``), so the drum and trio
files of one song always share a split. The manifest records each source's package, version,
licence and copyright, the songs used and skipped (and why), and the number of distinct
training windows per split as MusicVAE reads them (2-bar drum windows with the settings of
``cat-drums_2bar_small``). Re-running is a no-op, as for the melody set.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.data.gm_sources import (
    Source,
    iter_songs,
    licence_of,
    package_root,
    package_version,
    select_sources,
)
from latentmusic.data.melodies import (
    SPLITS,
    safe_name,
    split_of,
    write_if_missing,
    write_manifest,
)
from latentmusic.errors import InputError
from latentmusic.fileio import ensure_writable_dir
from latentmusic.midi.representations import STEPS_PER_BAR, drum_type, get_representation
from latentmusic.midi.sequence import NoteSequence, TrackInfo

MANIFEST_FORMAT = 1

# Window settings of the presets that read these sets (musicvae/config.py): counted per split.
WINDOWS: dict[str, dict[str, dict[str, Any]]] = {
    "drums": {
        "drums_2bar": {"representation": "drums", "bars": 2, "min_notes": 2, "gap_bars": 1.0},
    },
    "trio": {
        "trio_16bar": {"representation": "trio", "bars": 16, "min_notes": 8, "gap_bars": 2.0},
        "trio_4bar": {"representation": "trio", "bars": 4, "min_notes": 4, "gap_bars": 2.0},
    },
}

# One part of a song as written: (file-name suffix, sequence, facts for the manifest).
Part = tuple[str, NoteSequence, dict[str, Any]]
Extractor = Callable[[NoteSequence], tuple[list[Part], str]]


def drum_part(seq: NoteSequence) -> NoteSequence | None:
    """All drum-channel notes of ``seq`` as one drum track (None when none is a GM drum the
    9-class map knows); timing, tempo, meter and length stay the song's."""
    notes = [replace(n, track=0) for n in seq.notes if n.is_drum]
    if not any(drum_type(n.pitch) is not None for n in notes):
        return None
    return replace(seq, notes=notes, tracks={0: TrackInfo("drums", 0, True)})


def _drum_parts(seq: NoteSequence) -> tuple[list[Part], str]:
    drums = drum_part(seq)
    if drums is None:
        return [], "no_drums"
    return [("", drums, {})], ""


def window_keys(
    sequences: Iterable[NoteSequence],
    representation: str,
    bars: int,
    min_notes: int,
    gap_bars: float,
    strict_meter: bool = False,
) -> set[bytes]:
    """The distinct training windows of ``sequences``, cut as ``musicvae.data.extract_windows``
    cuts them for the same settings (bar hop, note and gap filters, every track for trios)."""
    rep = get_representation(representation)
    multi = len(rep.tracks) > 1
    keys: set[bytes] = set()
    for seq in sequences:
        if strict_meter and STEPS_PER_BAR % seq.steps_per_bar:
            continue
        has_drums = any(n.is_drum for n in seq.notes)
        pitched = any(not n.is_drum for n in seq.notes)
        if not has_drums or (representation == "trio" and not pitched):
            continue
        events = rep.encode(seq)
        for window in rep.windows(
            events,
            bars,
            hop=seq.steps_per_bar,
            min_notes=min_notes,
            gap_bars=gap_bars,
            every_track=multi,
        ):
            keys.add(np.asarray(window).astype(np.int16).tobytes())
    return keys


def _window_counts(out: Path, pieces: list[dict], kind: str) -> dict[str, Any]:
    from latentmusic.midi.io import read_sequence

    by_split: dict[str, list[NoteSequence]] = {s: [] for s in SPLITS}
    for piece in pieces:
        for rel in piece["files"]:
            by_split[piece["split"]].append(read_sequence(out / rel))
    counts: dict[str, Any] = {}
    for name, settings in WINDOWS[kind].items():
        for strict in (False, True):
            keys = {s: window_keys(by_split[s], **settings, strict_meter=strict) for s in SPLITS}
            label = name if not strict else f"{name}_16step_meter"
            counts[label] = {s: len(keys[s]) for s in SPLITS}
            counts[label]["valid_also_in_train"] = len(keys["valid"] & keys["train"])
            counts[label]["test_also_in_train"] = len(keys["test"] & keys["train"])
    return counts


def build_gm_set(
    out: str | Path,
    kind: str,
    extract: Extractor,
    sources: list[str] | None = None,
    roots: list[Path] | None = None,
    cache_dir: Path | None = None,
    fetch: bool = True,
) -> Path:
    """Write the parts ``extract`` takes from every song of ``sources`` to ``out`` (see the
    module docstring) and return ``out``. ``roots`` are where installed packages are looked
    for (default ``/``); missing ones are fetched into ``cache_dir`` unless ``fetch`` is off."""
    chosen: tuple[Source, ...] = select_sources(sources)
    out = ensure_writable_dir(out)
    pieces: list[dict] = []
    described: list[dict] = []
    skipped: Counter[str] = Counter()
    stems: dict[str, str] = {}
    for source in chosen:
        root = package_root(source, roots, cache_dir, fetch)
        stats: dict[str, int] = {}
        found = used = 0
        for song in iter_songs(source, root, stats):
            found += 1
            parts, reason = extract(song.sequence)
            if not parts:
                skipped[reason] += 1
                continue
            split = split_of(song.id)
            stem = safe_name(song.id)
            if stems.setdefault(stem, song.id) != song.id:  # never overwrite a neighbour
                stem = f"{stem}-{hashlib.sha1(song.id.encode()).hexdigest()[:8]}"
            files, details = [], []
            for suffix, seq, facts in parts:
                rel = f"{split}/{stem}{suffix}.mid"
                write_if_missing(seq, out / rel)
                files.append(rel)
                details.append({"file": rel, **facts})
            seq = song.sequence
            entry = {
                "id": song.id,
                "collection": source.name,
                "title": song.title,
                "split": split,
                "kind": kind,
                "files": files,
                "bars": seq.num_bars,
                "time_signature": list(seq.time_signature),
                "qpm": seq.qpm,
            }
            if any(facts for _, _, facts in parts):
                entry["parts"] = details
            pieces.append(entry)
            used += 1
        skipped["unreadable"] += stats.get("unreadable", 0)
        skipped["duplicates"] += stats.get("duplicates", 0)
        described.append(
            {
                "name": source.name,
                "package": source.package,
                "version": package_version(root, source.package),
                "description": source.description,
                **licence_of(root, source.package),
                "songs_found": found,
                "songs_used": used,
            }
        )
    if not pieces:
        raise InputError(
            f"No song of {', '.join(s.name for s in chosen)} has a usable {kind} part."
        )
    files_by_split = {s: sum(len(p["files"]) for p in pieces if p["split"] == s) for s in SPLITS}
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "steps_per_quarter": 4,
        "sources": described,
        "window_settings": WINDOWS[kind],
        "pieces": pieces,
        "counts": {
            "songs": len(pieces),
            "files": sum(files_by_split.values()),
            "songs_by_split": {s: sum(p["split"] == s for p in pieces) for s in SPLITS},
            "files_by_split": files_by_split,
            "songs_by_source": {d["name"]: d["songs_used"] for d in described},
            "skipped_songs": {k: v for k, v in sorted(skipped.items()) if v},
            "windows": _window_counts(out, pieces, kind),
        },
    }
    write_manifest(out / "manifest.json", manifest)
    return out


def build_drums(
    out: str | Path,
    sources: list[str] | None = None,
    roots: list[Path] | None = None,
    cache_dir: Path | None = None,
    fetch: bool = True,
) -> Path:
    """The drum set: one drum-track MIDI file per song with a GM drum channel."""
    return build_gm_set(out, "drums", _drum_parts, sources, roots, cache_dir, fetch)


def summary(out: str | Path) -> str:
    """One line about a built set: songs, files and distinct windows per split."""
    import json

    manifest = json.loads((Path(out) / "manifest.json").read_text())
    counts = manifest["counts"]
    name = next(iter(WINDOWS[manifest["kind"]]))
    windows = counts["windows"][name]
    split_text = ", ".join(
        f"{s} {counts['songs_by_split'][s]} songs / {windows[s]} windows" for s in SPLITS
    )
    return (
        f"{counts['songs']} songs ({counts['files']} files) from "
        f"{', '.join(counts['songs_by_source'])}; {name}: {split_text}"
    )
