"""Quantized note sequences: the one symbolic format every latentmusic model reads and writes.

Times are integer *steps* (``steps_per_quarter`` per quarter note, 4 by default, so a 4/4 bar
is 16 steps as in MusicVAE). Working on the grid instead of seconds makes slicing into bars,
transposition and one-hot encodings exact, and makes sequences cheap to cache as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from latentmusic.errors import InputError

# Order of the fields in the compact JSON rows written by ``NoteSequence.to_dict``.
NOTE_FIELDS = ("pitch", "start", "end", "velocity", "program", "is_drum", "track")


@dataclass(frozen=True)
class Note:
    """One note; ``start``/``end`` are quantized steps, ``track`` indexes ``NoteSequence.tracks``."""

    pitch: int
    start: int
    end: int
    velocity: int = 100
    program: int = 0
    is_drum: bool = False
    track: int = 0

    def sort_key(self) -> tuple:
        return (self.start, self.track, self.pitch, self.end, self.velocity, self.program)


@dataclass(frozen=True)
class TrackInfo:
    """What a DAW shows for a track: its name, General MIDI program and drum flag."""

    name: str = ""
    program: int = 0
    is_drum: bool = False


@dataclass
class NoteSequence:
    """Notes on a step grid plus the metadata needed to write them back as a faithful MIDI file.

    Notes are kept sorted (by onset, track, pitch) so two sequences with the same content
    compare equal; a note's program and drum flag follow its track (``tracks`` gets an entry
    for any track a note names); ``total_steps`` is at least the end of the last note.
    """

    notes: list[Note] = field(default_factory=list)
    steps_per_quarter: int = 4
    qpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    total_steps: int = 0
    source_id: str = ""
    lyrics: str = ""
    tracks: dict[int, TrackInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.steps_per_quarter < 1:
            raise InputError(f"steps_per_quarter must be at least 1, got {self.steps_per_quarter}.")
        self.notes = sorted(self.notes, key=Note.sort_key)
        self.qpm = float(self.qpm)
        self.time_signature = (int(self.time_signature[0]), int(self.time_signature[1]))
        self.tracks = {int(k): v for k, v in self.tracks.items()}
        for note in self.notes:
            if note.track not in self.tracks:
                self.tracks[note.track] = TrackInfo("", note.program, note.is_drum)
        self.tracks = dict(sorted(self.tracks.items()))
        # A MIDI track has one program: a note's program and drum flag are its track's.
        self.notes = [
            n
            if (n.program, n.is_drum)
            == (self.tracks[n.track].program, self.tracks[n.track].is_drum)
            else replace(
                n, program=self.tracks[n.track].program, is_drum=self.tracks[n.track].is_drum
            )
            for n in self.notes
        ]
        last_end = max((n.end for n in self.notes), default=0)
        self.total_steps = max(int(self.total_steps), last_end)

    # ----------------------------------------------------------------------------- grid
    @property
    def steps_per_bar(self) -> int:
        """Steps in one bar: 16 in 4/4 at 4 steps per quarter, 12 in 3/4 or 6/8."""
        num, den = self.time_signature
        return max(1, round(self.steps_per_quarter * num * 4 / den))

    @property
    def num_bars(self) -> int:
        """Bars needed to hold ``total_steps`` (a trailing partial bar counts)."""
        return math.ceil(self.total_steps / self.steps_per_bar)

    @property
    def seconds_per_step(self) -> float:
        return 60.0 / (self.qpm * self.steps_per_quarter)

    @property
    def duration_seconds(self) -> float:
        return self.total_steps * self.seconds_per_step

    # ----------------------------------------------------------------------------- edits
    def slice(self, start_step: int, end_step: int) -> NoteSequence:
        """Notes whose onset lies in ``[start_step, end_step)``, shifted to 0, ends clipped.

        Notes sounding into the window from before it are dropped (MusicVAE's convention: a
        window holds the notes that *start* in it).
        """
        if start_step < 0 or end_step <= start_step:
            raise InputError(
                f"A slice needs 0 <= start < end, got start={start_step} and end={end_step}."
            )
        notes = [
            replace(n, start=n.start - start_step, end=min(n.end, end_step) - start_step)
            for n in self.notes
            if start_step <= n.start < end_step
        ]
        return replace(self, notes=notes, total_steps=end_step - start_step)

    def transpose(self, semitones: int) -> NoteSequence:
        """Shift every pitched note (drums stay put); fails if a note would leave 0..127."""
        notes = []
        for n in self.notes:
            if n.is_drum:
                notes.append(n)
                continue
            pitch = n.pitch + semitones
            if not 0 <= pitch <= 127:
                raise InputError(
                    f"Transposing by {semitones} semitones moves pitch {n.pitch} outside the "
                    "MIDI range 0..127."
                )
            notes.append(replace(n, pitch=pitch))
        return replace(self, notes=notes)

    def track(self, index: int) -> NoteSequence:
        """The notes of one track as a standalone one-track sequence (renumbered to track 0)."""
        if index not in self.tracks:
            known = ", ".join(str(i) for i in self.tracks) or "none"
            raise InputError(f"Track {index} does not exist (tracks: {known}).")
        notes = [replace(n, track=0) for n in self.notes if n.track == index]
        return replace(self, notes=notes, tracks={0: self.tracks[index]})

    # ------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; notes are compact rows in ``NOTE_FIELDS`` order (caches stay small)."""
        return {
            "steps_per_quarter": self.steps_per_quarter,
            "qpm": self.qpm,
            "time_signature": list(self.time_signature),
            "total_steps": self.total_steps,
            "source_id": self.source_id,
            "lyrics": self.lyrics,
            "tracks": {
                str(i): {"name": t.name, "program": t.program, "is_drum": t.is_drum}
                for i, t in self.tracks.items()
            },
            "note_fields": list(NOTE_FIELDS),
            "notes": [
                [n.pitch, n.start, n.end, n.velocity, n.program, int(n.is_drum), n.track]
                for n in self.notes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoteSequence:
        """Inverse of ``to_dict``."""
        try:
            fields = data.get("note_fields", NOTE_FIELDS)
            notes = []
            for row in data["notes"]:
                values = dict(zip(fields, row, strict=True))
                values["is_drum"] = bool(values.get("is_drum", False))
                notes.append(Note(**{k: values[k] for k in NOTE_FIELDS if k in values}))
            tracks = {
                int(i): TrackInfo(t.get("name", ""), int(t.get("program", 0)), bool(t["is_drum"]))
                for i, t in data.get("tracks", {}).items()
            }
            return cls(
                notes=notes,
                steps_per_quarter=int(data.get("steps_per_quarter", 4)),
                qpm=float(data.get("qpm", 120.0)),
                time_signature=tuple(data.get("time_signature", (4, 4))),
                total_steps=int(data.get("total_steps", 0)),
                source_id=str(data.get("source_id", "")),
                lyrics=str(data.get("lyrics", "")),
                tracks=tracks,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"Not a valid NoteSequence dictionary ({exc}).") from exc


def merge_tracks(parts: Sequence[NoteSequence], source_id: str = "") -> NoteSequence:
    """Stack sequences as the tracks of one multi-track sequence (e.g. S, A, T, B -> SATB).

    Track numbers are reassigned in order; grid, tempo and meter must agree because a MIDI
    file has a single timeline.
    """
    if not parts:
        raise InputError("merge_tracks needs at least one sequence.")
    first = parts[0]
    notes: list[Note] = []
    tracks: dict[int, TrackInfo] = {}
    for part in parts:
        if (part.steps_per_quarter, part.qpm, part.time_signature) != (
            first.steps_per_quarter,
            first.qpm,
            first.time_signature,
        ):
            raise InputError(
                "Sequences with different grid, tempo or time signature cannot be merged "
                f"({part.source_id or 'a part'} differs from {first.source_id or 'the first'})."
            )
        renumber = {}
        for i, info in part.tracks.items():
            renumber[i] = len(tracks)
            tracks[renumber[i]] = info
        notes.extend(replace(n, track=renumber[n.track]) for n in part.notes)
    return NoteSequence(
        notes=notes,
        steps_per_quarter=first.steps_per_quarter,
        qpm=first.qpm,
        time_signature=first.time_signature,
        total_steps=max(p.total_steps for p in parts),
        source_id=source_id or first.source_id,
        lyrics=first.lyrics,
        tracks=tracks,
    )
