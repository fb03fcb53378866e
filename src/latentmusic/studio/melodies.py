"""Melodies as the studio's pages see them: JSON note lists, MIDI bytes and WAV bytes.

A melody in JSON is ``{"notes": [{"pitch", "start", "end", "velocity"?, "drum"?, "track"?,
"program"?}], "total_steps": n, "qpm"?}`` with times in 16th-note steps (4 per quarter, 16
per 4/4 bar): exactly a :class:`~latentmusic.midi.sequence.NoteSequence` on the grid every
MusicVAE reads. Everything here checks its input against :mod:`latentmusic.studio.limits`
and raises :class:`~latentmusic.errors.InputError` with one sentence; nothing imports torch.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from latentmusic.errors import InputError
from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo
from latentmusic.studio import limits

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise InputError(f"{what} must be a whole number, not {value!r}.")
    value = int(value)
    if not low <= value <= high:
        raise InputError(f"{what} must be between {low} and {high}, not {value}.")
    return value


def sequence_from_json(data: Any, name: str = "The melody") -> NoteSequence:
    """A NoteSequence from a melody's JSON (InputError naming the melody and note when wrong)."""
    if not isinstance(data, dict) or not isinstance(data.get("notes"), list):
        raise InputError(f"{name} must be an object with a list of notes.")
    rows = data["notes"]
    if len(rows) > limits.MAX_MELODY_NOTES:
        raise InputError(
            f"{name} has {len(rows)} notes; the studio takes at most {limits.MAX_MELODY_NOTES}."
        )
    max_steps = limits.MAX_MELODY_STEPS
    notes = []
    tracks: dict[int, TrackInfo] = {}
    for i, row in enumerate(rows, start=1):
        what = f"{name}, note {i}"
        if not isinstance(row, dict):
            raise InputError(f"{what} must be an object with pitch, start and end.")
        try:
            pitch, start, end = row["pitch"], row["start"], row["end"]
        except KeyError as exc:
            raise InputError(f"{what} has no {exc.args[0]}.") from None
        pitch = _int(pitch, f"{what}: pitch", 0, 127)
        start = _int(start, f"{what}: start", 0, max_steps - 1)
        end = _int(end, f"{what}: end", 1, max_steps)
        if end <= start:
            raise InputError(f"{what} ends (step {end}) before it starts (step {start}).")
        velocity = _int(row.get("velocity", 80), f"{what}: velocity", 1, 127)
        track = _int(row.get("track", 0), f"{what}: track", 0, 15)
        program = _int(row.get("program", 0), f"{what}: program", 0, 127)
        drum = bool(row.get("drum", False))
        tracks.setdefault(track, TrackInfo("", program, drum))
        notes.append(Note(pitch, start, end, velocity, program, drum, track))
    total = data.get("total_steps", 0)
    total = _int(total if total is not None else 0, f"{name}: total_steps", 0, max_steps)
    qpm = data.get("qpm", 120.0)
    if isinstance(qpm, bool) or not isinstance(qpm, (int, float)):
        raise InputError(f"{name}: qpm must be a number, not {qpm!r}.")
    if not limits.MIN_QPM <= qpm <= limits.MAX_QPM:
        raise InputError(
            f"{name}: qpm must be between {limits.MIN_QPM:g} and {limits.MAX_QPM:g}, not {qpm:g}."
        )
    return NoteSequence(
        notes=notes,
        steps_per_quarter=STEPS_PER_QUARTER,
        qpm=float(qpm),
        total_steps=total,
        source_id=name,
        tracks=tracks,
    )


def sequence_to_json(seq: NoteSequence) -> dict[str, Any]:
    """The JSON form the pages draw and play (times in steps)."""
    return {
        "notes": [
            {
                "pitch": n.pitch,
                "start": n.start,
                "end": n.end,
                "velocity": n.velocity,
                "drum": n.is_drum,
                "track": n.track,
                "program": n.program,
            }
            for n in seq.notes
        ],
        "total_steps": seq.total_steps,
        "qpm": seq.qpm,
    }


def read_midi_bytes(data: bytes, name: str = "The upload") -> NoteSequence:
    """An uploaded MIDI file as a quantized sequence, within the size, duration and note limits."""
    import pretty_midi

    from latentmusic.midi.quantize import quantize

    if not data:
        raise InputError(f"{name} is empty; send the bytes of a MIDI file.")
    if len(data) > limits.MAX_MIDI_BYTES:
        raise InputError(
            f"{name} is {len(data) / 1024:.0f} KB; the studio takes MIDI files up to "
            f"{limits.MAX_MIDI_BYTES // 1024} KB."
        )
    if not data.startswith(b"MThd"):
        raise InputError(f"{name} is not a MIDI file (it does not start with 'MThd').")
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
        seconds = float(pm.get_end_time())
    except Exception as exc:  # mido/pretty_midi raise many kinds on damaged files
        raise InputError(f"{name} is not a readable MIDI file.") from exc
    if seconds > limits.MAX_MIDI_SECONDS:
        raise InputError(
            f"{name} lasts {seconds / 60:.1f} minutes; the studio reads MIDI files up to "
            f"{limits.MAX_MIDI_SECONDS / 60:.0f} minutes."
        )
    count = sum(len(inst.notes) for inst in pm.instruments)
    if count == 0:
        raise InputError(f"{name} contains no notes.")
    if count > limits.MAX_MIDI_NOTES:
        raise InputError(
            f"{name} has {count} notes; the studio reads files of up to {limits.MAX_MIDI_NOTES}."
        )
    return quantize(pm, STEPS_PER_QUARTER, source_id=name)


def concatenate(seqs: Sequence[NoteSequence], gap_bars: int = 0) -> NoteSequence:
    """``seqs`` one after the other in one sequence, ``gap_bars`` of rest between them."""
    if not seqs:
        raise InputError("There is nothing to export: send at least one melody.")
    notes: list[Note] = []
    tracks: dict[int, TrackInfo] = {}
    offset = 0
    gap = gap_bars * STEPS_PER_BAR
    for seq in seqs:
        notes.extend(replace(n, start=n.start + offset, end=n.end + offset) for n in seq.notes)
        for index, info in seq.tracks.items():
            tracks.setdefault(index, info)
        offset += seq.total_steps + gap
    total = offset - gap
    if total > limits.MAX_EXPORT_STEPS:
        raise InputError(
            f"The export would be {total} steps long; the studio writes at most "
            f"{limits.MAX_EXPORT_STEPS} steps ({limits.MAX_EXPORT_STEPS // STEPS_PER_BAR} bars)."
        )
    return replace(seqs[0], notes=notes, total_steps=total, tracks=tracks, source_id="")


def with_tempo(seq: NoteSequence, qpm: float | None) -> NoteSequence:
    if qpm is None:
        return seq
    if not limits.MIN_QPM <= qpm <= limits.MAX_QPM:
        raise InputError(
            f"qpm must be between {limits.MIN_QPM:g} and {limits.MAX_QPM:g}, not {qpm:g}."
        )
    return replace(seq, qpm=float(qpm))


def with_program(seq: NoteSequence, program: int | None) -> NoteSequence:
    """Every pitched track played by General MIDI ``program`` (drums stay drums)."""
    if program is None:
        return seq
    program = _int(program, "program", 0, 127)
    tracks = {
        i: t if t.is_drum else TrackInfo(t.name, program, False) for i, t in seq.tracks.items()
    }
    notes = [n if n.is_drum else replace(n, program=program) for n in seq.notes]
    return replace(seq, notes=notes, tracks=tracks)


def midi_bytes(seq: NoteSequence) -> bytes:
    """A standard MIDI file (tempo, meter, named tracks) of ``seq``."""
    from latentmusic.midi.quantize import to_pretty_midi

    pm = to_pretty_midi(seq)
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def render_wav(seq: NoteSequence, sample_rate: int = limits.RENDER_SAMPLE_RATE) -> bytes:
    """``seq`` rendered with FluidSynth (the project's renderer and SoundFont) as 16-bit WAV."""
    import numpy as np
    import soundfile as sf

    from latentmusic.data.render import render_midi
    from latentmusic.midi.quantize import to_pretty_midi

    if seq.duration_seconds > limits.MAX_RENDER_SECONDS:
        raise InputError(
            f"That is {seq.duration_seconds:.0f} seconds of music; the studio renders at most "
            f"{limits.MAX_RENDER_SECONDS:.0f} seconds at once."
        )
    length = round(seq.duration_seconds * sample_rate)
    audio = np.zeros(0, np.float32)  # all rests: honest silence
    if seq.notes:
        audio = render_midi(to_pretty_midi(seq), sr=sample_rate, tail=0.5)
    if len(audio) < length:  # trailing rests are part of the music
        audio = np.concatenate([audio, np.zeros(length - len(audio), np.float32)])
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# ------------------------------------------------------------------------------- presets


def _melody(name: str, line: str, qpm: float = 120.0) -> dict[str, Any]:
    """A 2-bar preset from a compact line: one token per 8th note, '-' holds, '.' rests."""
    notes: list[dict[str, int]] = []
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    for i, token in enumerate(line.split()):
        step = 2 * i
        if token == "-":
            notes[-1]["end"] = step + 2
            continue
        if token == ".":
            continue
        pitch = 12 * (int(token[-1]) + 1) + names[token[0]] + token[1:-1].count("#")
        pitch -= token[1:-1].count("b")
        notes.append({"pitch": pitch, "start": step, "end": step + 2})
    return {"name": name, "melody": {"notes": notes, "total_steps": 32, "qpm": qpm}}


MELODY_PRESETS = [
    _melody("Twinkle", "C4 C4 G4 G4 A4 A4 G4 - F4 F4 E4 E4 D4 D4 C4 -"),
    _melody("Ode to Joy", "E4 E4 F4 G4 G4 F4 E4 D4 C4 C4 D4 E4 E4 - D4 D4"),
    _melody("Frère Jacques", "C4 D4 E4 C4 C4 D4 E4 C4 E4 F4 G4 - E4 F4 G4 -"),
    _melody("Arpeggio up", "C4 E4 G4 C5 E5 G5 C6 - G5 E5 C5 G4 E4 C4 . ."),
    _melody("Falling scale", "C6 B5 A5 G5 F5 E5 D5 C5 B4 A4 G4 F4 E4 D4 C4 -"),
    _melody("Minor riff", "A3 . C4 A3 E4 . D4 C4 A3 . G3 A3 C4 - A3 -"),
    _melody("Blues", "C4 Eb4 F4 F#4 G4 - Bb4 G4 C5 - Bb4 G4 F4 Eb4 C4 -"),
    _melody("Pentatonic", "D5 . C5 A4 G4 . A4 C5 D5 - E5 D5 C5 A4 G4 -"),
]

# General MIDI drums: 36 kick, 38 snare, 42 closed hi-hat, 46 open hi-hat, 51 ride, 49 crash.
_DRUM_LINES = {
    "Rock": {36: "x.......x.x.....x.......x.x.....", 38: "....x.......x.......x.......x...",
             42: "x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x."},
    "Four on the floor": {36: "x...x...x...x...x...x...x...x...", 38: "....x.......x.......x.......x...",
                          46: "..x...x...x...x...x...x...x...x."},
    "Breakbeat": {36: "x.........x.....x.x.......x.....", 38: "....x..x.x..x..x....x..x.x..x..x",
                  42: "x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x."},
    "Half time": {36: "x.....x.........x.....x.x.......", 38: "........x...............x.......",
                  51: "x...x...x...x...x...x...x...x..."},
}  # fmt: skip


def _beat(name: str, lines: dict[int, str]) -> dict[str, Any]:
    notes = [
        {"pitch": pitch, "start": t, "end": t + 1, "drum": True}
        for pitch, line in lines.items()
        for t, cell in enumerate(line)
        if cell == "x"
    ]
    notes.sort(key=lambda n: (n["start"], n["pitch"]))
    return {"name": name, "melody": {"notes": notes, "total_steps": 32, "qpm": 120.0}}


DRUM_PRESETS = [_beat(name, lines) for name, lines in _DRUM_LINES.items()]
