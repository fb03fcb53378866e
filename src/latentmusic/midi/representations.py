"""MusicVAE's symbolic representations: melody (90 classes), drums (9 -> 512) and multi-track.

Everything lives on a grid of 4 steps per quarter note, so a 4/4 bar is 16 steps. A
representation turns a :class:`~latentmusic.midi.sequence.NoteSequence` into an integer
array ``(steps, tracks)`` of class indices (one categorical per track and step) and back.

Melody classes follow magenta's ``MelodyOneHotEncoding(min_note=21, max_note=109)``:

==========  ===============================================================
class 0     no event (the previous note keeps sounding, or the rest goes on)
class 1     note-off (the sounding note ends here)
class 2..89 note-on of MIDI pitch 21..108 (piano range); class = pitch - 19
==========  ===============================================================

A melody is monophonic: when notes overlap, the highest note that starts at a step wins,
a note that starts while a *higher* note is still held is dropped, and a new onset ends the
previous note (magenta's ``ignore_polyphonic_notes``, "highest note at a time").

Drums follow magenta's ``MultiDrumOneHotEncoding``: every General MIDI drum pitch maps to
one of 9 classes (kick, snare, closed hi-hat, open hi-hat, low/mid/high tom, crash, ride);
the set of classes hit at a step is a 9-bit number, i.e. one of 512 classes. Decoding plays
each class's canonical pitch (the first of its list) for one step, so a drum round trip is
exact for onsets and classes; other pitches of a class come back as its canonical pitch.

Multi-track representations stack tracks: ``trio`` = melody + bass (two 90-class tracks)
+ drums (512), ``satb`` = four 90-class voices (soprano, alto, tenor, bass).

The round trip ``decode(encode(seq))`` is exact (pitch, onset, offset) for monophonic notes
of pitch 21..108 on the grid; velocities come back as ``DEFAULT_VELOCITY``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from latentmusic.errors import ConfigError, InputError
from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16

MIN_PITCH, MAX_PITCH = 21, 108
NO_EVENT, NOTE_OFF = 0, 1
FIRST_PITCH_CLASS = 2
MELODY_CLASSES = MAX_PITCH - MIN_PITCH + 1 + FIRST_PITCH_CLASS  # 90

# magenta/note_seq drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES (GM1 + GM2 drums -> 9 types).
DRUM_PITCH_CLASSES: tuple[tuple[int, ...], ...] = (
    (36, 35),  # kick
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),  # snare
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),  # closed hi-hat
    (46, 67, 72, 74, 79, 81, 26),  # open hi-hat
    (45, 29, 41, 43, 61, 64, 84),  # low tom
    (48, 47, 60, 63, 77, 86, 87),  # mid tom
    (50, 30, 62, 76, 83),  # high tom
    (49, 52, 55, 57, 58),  # crash cymbal
    (51, 53, 59, 82),  # ride cymbal
)
DRUM_NAMES = ("kick", "snare", "closed_hihat", "open_hihat", "low_tom", "mid_tom", "high_tom",
              "crash", "ride")  # fmt: skip
NUM_DRUM_TYPES = len(DRUM_PITCH_CLASSES)  # 9
DRUM_CLASSES = 2**NUM_DRUM_TYPES  # 512
_DRUM_TYPE_OF_PITCH = {p: i for i, pitches in enumerate(DRUM_PITCH_CLASSES) for p in pitches}

BASS_PROGRAMS = range(32, 40)  # General MIDI basses (magenta's BASS_PROGRAMS)
DEFAULT_VELOCITY = 80  # magenta's OUTPUT_VELOCITY

TrackKind = Literal["melody", "drums"]


def pitch_to_class(pitch: int) -> int:
    """Melody class of a MIDI pitch in 21..108."""
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise InputError(f"Pitch {pitch} is outside the melody range {MIN_PITCH}..{MAX_PITCH}.")
    return pitch - MIN_PITCH + FIRST_PITCH_CLASS


def class_to_pitch(cls: int) -> int:
    """MIDI pitch of a melody note-on class (2..89)."""
    if not FIRST_PITCH_CLASS <= cls < MELODY_CLASSES:
        raise InputError(f"Class {cls} is not a note-on class.")
    return cls - FIRST_PITCH_CLASS + MIN_PITCH


def drum_type(pitch: int) -> int | None:
    """Which of the 9 drum classes a GM drum pitch belongs to (None for unknown pitches)."""
    return _DRUM_TYPE_OF_PITCH.get(int(pitch))


# ------------------------------------------------------------------------------ melody


def monophonic(notes: Iterable[Note]) -> list[Note]:
    """Reduce notes to a monophonic line, highest note at a time (see module docstring)."""
    line: list[Note] = []
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch, -n.end)):
        if line:
            prev = line[-1]
            if prev.start == note.start:
                continue  # a lower note starting together with the kept one
            if prev.end > note.start:
                if prev.pitch > note.pitch:
                    continue  # a higher note is still held
                line[-1] = Note(prev.pitch, prev.start, note.start, prev.velocity, prev.program,
                                prev.is_drum, prev.track)  # fmt: skip
        line.append(note)
    return line


def melody_events(notes: Iterable[Note], steps: int) -> np.ndarray:
    """Class index per step of the (monophonic) melody of ``notes``; pitches outside 21..108
    are ignored, as magenta's melody converter does."""
    events = np.full(steps, NO_EVENT, dtype=np.int64)
    line = monophonic(n for n in notes if MIN_PITCH <= n.pitch <= MAX_PITCH and n.start < steps)
    for note in line:  # note-offs first: an onset at the same step overrides them
        if note.end < steps:
            events[note.end] = NOTE_OFF
    for note in line:
        events[note.start] = pitch_to_class(note.pitch)
    return events


def melody_notes(
    events: np.ndarray, program: int = 0, track: int = 0, velocity: int = DEFAULT_VELOCITY
) -> list[Note]:
    """Notes of a melody class sequence: a note lasts until the next note-off or note-on."""
    notes: list[Note] = []
    pitch, start = None, 0
    for t, cls in enumerate(np.asarray(events).tolist()):
        if cls == NO_EVENT:
            continue
        if pitch is not None:
            notes.append(Note(pitch, start, t, velocity, program, False, track))
            pitch = None
        if cls >= FIRST_PITCH_CLASS:
            pitch, start = class_to_pitch(cls), t
    if pitch is not None:
        notes.append(Note(pitch, start, len(events), velocity, program, False, track))
    return notes


def melody_sounding(events: np.ndarray) -> np.ndarray:
    """Boolean mask of the steps where a melody note is sounding."""
    events = np.asarray(events)
    sounding = np.zeros(len(events), dtype=bool)
    on = False
    for t, cls in enumerate(events.tolist()):
        if cls == NOTE_OFF:
            on = False
        elif cls >= FIRST_PITCH_CLASS:
            on = True
        sounding[t] = on
    return sounding


# ------------------------------------------------------------------------------- drums


def drum_events(notes: Iterable[Note], steps: int) -> np.ndarray:
    """The 9-bit class (0..511) per step: bit i set when drum type i starts at that step."""
    events = np.zeros(steps, dtype=np.int64)
    for note in notes:
        kind = drum_type(note.pitch)
        if kind is not None and 0 <= note.start < steps:
            events[note.start] |= 1 << kind
    return events


def drum_notes(events: np.ndarray, track: int = 0, velocity: int = DEFAULT_VELOCITY) -> list[Note]:
    """One-step hits at each type's canonical pitch (magenta decodes drums the same way)."""
    notes = []
    for t, cls in enumerate(np.asarray(events).tolist()):
        for i in range(NUM_DRUM_TYPES):
            if cls >> i & 1:
                notes.append(Note(DRUM_PITCH_CLASSES[i][0], t, t + 1, velocity, 0, True, track))
    return notes


def drum_roll(events: np.ndarray) -> np.ndarray:
    """``(steps, 10)`` roll of the 9 drum types plus magenta's final "nothing hit" bit."""
    events = np.asarray(events)
    bits = (events[..., None] >> np.arange(NUM_DRUM_TYPES)) & 1
    return np.concatenate([bits, (events == 0)[..., None]], axis=-1).astype(np.float32)


def canonical_drums(notes: Iterable[Note]) -> set[tuple[int, int]]:
    """``(onset, canonical pitch)`` of every known drum hit: what a drum round trip keeps."""
    out = set()
    for n in notes:
        kind = drum_type(n.pitch)
        if kind is not None:
            out.add((n.start, DRUM_PITCH_CLASSES[kind][0]))
    return out


# ----------------------------------------------------------------------- representations


@dataclass(frozen=True)
class Track:
    """One categorical output stream of a representation."""

    name: str
    kind: TrackKind
    program: int = 0

    @property
    def depth(self) -> int:
        return MELODY_CLASSES if self.kind == "melody" else DRUM_CLASSES

    @property
    def is_drum(self) -> bool:
        return self.kind == "drums"


@dataclass(frozen=True)
class Representation:
    """A named stack of tracks with the encode/decode/window/transpose operations."""

    name: str
    tracks: tuple[Track, ...]

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(t.depth for t in self.tracks)

    @property
    def has_melody(self) -> bool:
        return any(t.kind == "melody" for t in self.tracks)

    # ----------------------------------------------------------------------- encoding
    def encode(self, seq: NoteSequence) -> np.ndarray:
        """``(steps, tracks)`` class indices; steps = the sequence padded to whole bars."""
        if seq.steps_per_quarter != STEPS_PER_QUARTER:
            raise InputError(
                f"MusicVAE needs {STEPS_PER_QUARTER} steps per quarter note, "
                f"not {seq.steps_per_quarter}; quantize the MIDI again."
            )
        steps = max(1, -(-seq.total_steps // STEPS_PER_BAR)) * STEPS_PER_BAR
        parts = self.assign(seq)
        columns = [
            melody_events(notes, steps) if track.kind == "melody" else drum_events(notes, steps)
            for track, notes in zip(self.tracks, parts, strict=True)
        ]
        return np.stack(columns, axis=1)

    def assign(self, seq: NoteSequence) -> list[list[Note]]:
        """Which notes of ``seq`` feed each track of this representation."""
        drums = [n for n in seq.notes if n.is_drum]
        by_track: dict[int, list[Note]] = {}
        for n in seq.notes:
            if not n.is_drum:
                by_track.setdefault(n.track, []).append(n)
        if self.name == "melody":
            return [[n for notes in by_track.values() for n in notes]]
        if self.name == "drums":
            return [drums]
        if self.name == "trio":
            return _assign_trio(seq, by_track, drums)
        if self.name == "satb":
            return _assign_voices(seq, by_track, len(self.tracks))
        raise ConfigError(f"Unknown representation {self.name}")

    def decode(self, events: np.ndarray, qpm: float = 120.0, source_id: str = "") -> NoteSequence:
        """A NoteSequence (one MIDI track per representation track) from class indices."""
        events = np.asarray(events)
        if events.ndim == 1:
            events = events[:, None]
        if events.shape[1] != len(self.tracks):
            raise InputError(f"{self.name} has {len(self.tracks)} tracks, got {events.shape[1]}.")
        notes: list[Note] = []
        tracks: dict[int, TrackInfo] = {}
        for i, track in enumerate(self.tracks):
            tracks[i] = TrackInfo(track.name, track.program, track.is_drum)
            if track.kind == "melody":
                notes.extend(melody_notes(events[:, i], track.program, i))
            else:
                notes.extend(drum_notes(events[:, i], i))
        return NoteSequence(
            notes=notes,
            steps_per_quarter=STEPS_PER_QUARTER,
            qpm=qpm,
            time_signature=(4, 4),
            total_steps=len(events),
            source_id=source_id,
            tracks=tracks,
        )

    # ------------------------------------------------------------------- statistics
    def onsets(self, events: np.ndarray) -> np.ndarray:
        """Boolean ``(steps, tracks)``: a note (or drum hit) starts here."""
        events = np.asarray(events)
        kinds = np.array([t.kind == "melody" for t in self.tracks])
        return np.where(kinds, events >= FIRST_PITCH_CLASS, events > 0)

    def sounding(self, events: np.ndarray) -> np.ndarray:
        """Boolean ``(steps, tracks)``: something is heard (held melody note or drum hit)."""
        events = np.asarray(events)
        cols = [
            melody_sounding(events[:, i]) if t.kind == "melody" else events[:, i] > 0
            for i, t in enumerate(self.tracks)
        ]
        return np.stack(cols, axis=1)

    def longest_silence(self, events: np.ndarray) -> int:
        """Longest run of steps where no track sounds after the first note (magenta's gaps)."""
        quiet = ~self.sounding(events).any(axis=1)
        first = np.flatnonzero(~quiet)
        if len(first) == 0:
            return len(quiet)
        longest = run = 0
        for q in quiet[first[0] :]:
            run = run + 1 if q else 0
            longest = max(longest, run)
        return longest

    # ---------------------------------------------------------------------- windows
    def windows(
        self,
        events: np.ndarray,
        bars: int,
        hop: int = STEPS_PER_BAR,
        min_notes: int = 1,
        gap_bars: float | None = None,
        every_track: bool = False,
    ) -> list[np.ndarray]:
        """``bars * 16``-step windows starting every ``hop`` steps (a bar: the piece's bar
        lines), keeping those worth learning from.

        A window is kept when it holds at least ``min_notes`` onsets, no silence of
        ``gap_bars`` bars or more (magenta ends a melody at such a gap) and, with
        ``every_track``, at least one note in every track. A note held across a window's
        left edge is not part of the window (see :meth:`cut`).
        """
        length = bars * STEPS_PER_BAR
        out = []
        for start in range(0, len(events) - length + 1, max(1, hop)):
            window = self.cut(events, start, length)
            onsets = self.onsets(window)
            if onsets.sum() < min_notes:
                continue
            if every_track and not onsets.any(axis=0).all():
                continue
            if gap_bars and self.longest_silence(window) >= gap_bars * STEPS_PER_BAR:
                continue
            out.append(window)
        return out

    def cut(self, events: np.ndarray, start: int, length: int) -> np.ndarray:
        """Steps ``[start, start+length)``, padded with rests; a note held into the window from
        before it is dropped there (the window holds the notes that start in it)."""
        events = np.asarray(events)
        window = np.zeros((length, events.shape[1]), dtype=np.int64)
        piece = events[start : start + length]
        window[: len(piece)] = piece
        for i, track in enumerate(self.tracks):
            if track.kind != "melody":
                continue
            column = window[:, i]
            first = np.flatnonzero(column != NO_EVENT)
            if len(first) and column[first[0]] == NOTE_OFF:
                column[first[0]] = NO_EVENT  # ends a note held in from before the window
        if len(piece) < length:  # close notes that ran to the end of the piece
            for i, track in enumerate(self.tracks):
                if track.kind == "melody" and len(piece) and melody_sounding(piece[:, i])[-1]:
                    window[len(piece), i] = NOTE_OFF
        return window

    # ------------------------------------------------------------------ transposition
    def transpose(self, events: np.ndarray, semitones: int) -> np.ndarray | None:
        """Shift every melodic note; None when a note would leave the 21..108 range."""
        events = np.array(events, dtype=np.int64, copy=True)
        if semitones == 0:
            return events
        for i, track in enumerate(self.tracks):
            if track.kind != "melody":
                continue
            column = events[:, i]
            notes = column >= FIRST_PITCH_CLASS
            shifted = column[notes] + semitones
            if len(shifted) and (
                shifted.min() < FIRST_PITCH_CLASS or shifted.max() >= MELODY_CLASSES
            ):
                return None
            column[notes] = shifted
        return events

    def valid_shifts(self, events: np.ndarray, max_shift: int) -> list[int]:
        """Transpositions in ``[-max_shift, max_shift]`` that keep every note in range."""
        if not self.has_melody or max_shift <= 0:
            return [0]
        events = np.asarray(events)
        cols = [i for i, t in enumerate(self.tracks) if t.kind == "melody"]
        notes = events[:, cols]
        notes = notes[notes >= FIRST_PITCH_CLASS]
        if len(notes) == 0:
            return [0]
        lo = max(-max_shift, FIRST_PITCH_CLASS - int(notes.min()))
        hi = min(max_shift, MELODY_CLASSES - 1 - int(notes.max()))
        return list(range(lo, hi + 1))

    def augment(
        self, events: np.ndarray, max_shift: int, rng: np.random.RandomState | None = None
    ) -> np.ndarray:
        """Random transposition within ±``max_shift`` semitones that keeps the range
        (uses NumPy's global RNG unless ``rng`` is given, so the harness can reseed it)."""
        shifts = self.valid_shifts(events, max_shift)
        shift = shifts[(rng or np.random).randint(len(shifts))]
        out = self.transpose(events, shift)
        assert out is not None
        return out


def _mean_pitch(notes: Sequence[Note]) -> float:
    return float(np.mean([n.pitch for n in notes])) if notes else 0.0


def _assign_trio(
    seq: NoteSequence, by_track: dict[int, list[Note]], drums: list[Note]
) -> list[list[Note]]:
    """Bass = a GM bass program (else the lowest of several pitched tracks); melody = the rest."""
    if not by_track:
        return [[], [], drums]
    basses = [i for i in by_track if seq.tracks[i].program in BASS_PROGRAMS]
    if basses:
        bass = min(basses, key=lambda i: _mean_pitch(by_track[i]))
    elif len(by_track) >= 2:
        bass = min(by_track, key=lambda i: _mean_pitch(by_track[i]))
    else:
        bass = None
    melody = [n for i, notes in by_track.items() if i != bass for n in notes]
    return [melody, by_track.get(bass, []) if bass is not None else [], drums]


def _assign_voices(
    seq: NoteSequence, by_track: dict[int, list[Note]], voices: int
) -> list[list[Note]]:
    """Voices by track name (soprano, alto, tenor, bass) or else by mean pitch, high to low."""
    names = ("soprano", "alto", "tenor", "bass")
    named = {seq.tracks[i].name.strip().lower(): i for i in by_track}
    if voices == 4 and all(name in named for name in names):
        return [by_track[named[name]] for name in names]
    tracks = sorted(by_track, key=lambda i: -len(by_track[i]))[:voices]
    tracks.sort(key=lambda i: -_mean_pitch(by_track[i]))
    parts = [by_track[i] for i in tracks]
    return parts + [[] for _ in range(voices - len(parts))]


MELODY = Representation("melody", (Track("melody", "melody", 0),))
DRUMS = Representation("drums", (Track("drums", "drums", 0),))
TRIO = Representation(
    "trio", (Track("melody", "melody", 0), Track("bass", "melody", 33), Track("drums", "drums", 0))
)
SATB = Representation(
    "satb",
    (
        Track("soprano", "melody", 52),
        Track("alto", "melody", 52),
        Track("tenor", "melody", 52),
        Track("bass", "melody", 52),
    ),
)
REPRESENTATIONS: dict[str, Representation] = {r.name: r for r in (MELODY, DRUMS, TRIO, SATB)}


def get_representation(name: str) -> Representation:
    """Look up ``melody``, ``drums``, ``trio`` or ``satb``."""
    if name not in REPRESENTATIONS:
        raise InputError(
            f"Unknown representation '{name}'; choose one of: {', '.join(REPRESENTATIONS)}."
        )
    return REPRESENTATIONS[name]
