"""Read and write MIDI files with one-sentence errors for the files users actually hand us."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from latentmusic.errors import InputError
from latentmusic.fileio import atomic_path

if TYPE_CHECKING:
    import pretty_midi

    from latentmusic.midi.sequence import NoteSequence


def read_midi(path: str | Path) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file; InputError if it is missing, not MIDI, or has no notes to work with."""
    import pretty_midi

    path = Path(path)
    if not path.exists():
        raise InputError(f"MIDI file {path} does not exist.")
    if not path.is_file():
        raise InputError(f"{path} is a directory, not a MIDI file.")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise many kinds (OSError, EOFError, ValueError...)
        raise InputError(f"{path} is not a readable MIDI file.") from exc
    if not any(inst.notes for inst in pm.instruments):
        raise InputError(f"{path} contains no notes.")
    return pm


def write_midi(pm: pretty_midi.PrettyMIDI, path: str | Path) -> Path:
    """Write ``pm`` atomically (a crash never leaves a truncated .mid behind)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        pm.write(str(tmp))
    return path


def read_sequence(path: str | Path, steps_per_quarter: int = 4) -> NoteSequence:
    """Read a MIDI file straight into a quantized NoteSequence (``source_id`` = the file name)."""
    from dataclasses import replace

    from latentmusic.midi.quantize import quantize

    path = Path(path)
    seq = quantize(read_midi(path), steps_per_quarter, source_id=path.stem)
    qpm = midi_qpm(seq.qpm)  # every writer (ours, pretty_midi's) can store it again
    return seq if qpm == seq.qpm else replace(seq, qpm=qpm)


# A MIDI tempo is microseconds per quarter note in 3 bytes: 1 .. 16,777,215.
MIDI_MIN_QPM = 60e6 / 0xFFFFFF  # about 3.5763
MIDI_MAX_QPM = 60e6


def midi_qpm(qpm: float) -> float:
    """``qpm`` moved into the range a MIDI file can store (a file read at the slowest
    tempo comes back from rounding just below it)."""
    import math

    if not math.isfinite(qpm) or qpm <= 0:
        raise InputError(f"A tempo of {qpm} quarter notes per minute cannot be written to MIDI.")
    return min(max(qpm, MIDI_MIN_QPM * (1 + 1e-9)), MIDI_MAX_QPM)


def write_sequence(seq: NoteSequence, path: str | Path) -> Path:
    """Write a NoteSequence as a MIDI file (atomically), its tempo within MIDI's range."""
    from dataclasses import replace

    from latentmusic.midi.quantize import to_pretty_midi

    qpm = midi_qpm(seq.qpm)
    if qpm != seq.qpm:
        seq = replace(seq, qpm=qpm)
    return write_midi(to_pretty_midi(seq), path)
