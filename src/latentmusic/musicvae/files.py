"""MusicVAE's file level: MIDI inputs in, MIDI (and rendered WAV) outputs out.

The model (``musicvae/model.py``) works on quantized ``NoteSequence`` objects; these helpers
are what the CLI and the demo use to get them from files and to write results, so the model
file holds the network and its loss only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from latentmusic.errors import InputError
from latentmusic.midi.representations import STEPS_PER_BAR
from latentmusic.midi.sequence import Note, NoteSequence


def read_input(path: str | Path) -> NoteSequence:
    """A MIDI file as a quantized sequence (InputError when missing, unreadable or empty);
    its ``source_id`` is the path, so errors about it name the file."""
    from latentmusic.midi.io import read_sequence

    seq = read_sequence(path)
    seq.source_id = str(path)
    return seq


def concatenate(seqs: Sequence[NoteSequence], gap_bars: int = 0) -> NoteSequence:
    """One sequence with ``seqs`` one after the other (same tracks), ``gap_bars`` of rest between."""
    if not seqs:
        raise InputError("Nothing to write.")
    notes: list[Note] = []
    offset = 0
    for seq in seqs:
        notes.extend(replace(n, start=n.start + offset, end=n.end + offset) for n in seq.notes)
        offset += seq.total_steps + gap_bars * STEPS_PER_BAR
    first = seqs[0]
    total = offset - gap_bars * STEPS_PER_BAR
    return replace(first, notes=notes, total_steps=total)


def write_outputs(
    seqs: Sequence[NoteSequence],
    out: str | Path,
    each: bool = False,
    gap_bars: int = 0,
    wav: bool = False,
    soundfont: str | Path | None = None,
    sample_rate: int = 44100,
) -> list[Path]:
    """Write ``seqs`` as one MIDI file (in sequence) and, with ``each``, one file per sequence
    (``out-01.mid`` ...); ``wav`` renders every MIDI written with FluidSynth next to it."""
    from latentmusic.midi.io import write_midi
    from latentmusic.midi.quantize import to_pretty_midi

    out = Path(out)
    if out.suffix.lower() not in (".mid", ".midi"):
        raise InputError(f"The output {out} must be a .mid file.")
    jobs = [(out, concatenate(seqs, gap_bars))]
    if each:
        width = max(2, len(str(len(seqs))))
        jobs += [
            (out.with_name(f"{out.stem}-{i + 1:0{width}d}{out.suffix}"), s)
            for i, s in enumerate(seqs)
        ]
    if wav:
        from latentmusic.data.render import require_fluidsynth, resolve_soundfont

        require_fluidsynth()  # fail before writing anything
        resolve_soundfont(soundfont)
    written: list[Path] = []
    for path, seq in jobs:
        pm = to_pretty_midi(seq)
        written.append(write_midi(pm, path))
        if wav:
            from latentmusic.audio.io import save
            from latentmusic.data.render import render_midi

            if seq.notes:
                audio = render_midi(pm, sr=sample_rate, soundfont=soundfont)
            else:  # an all-rest result is honest silence, not an error
                audio = np.zeros(round(seq.duration_seconds * sample_rate), np.float32)
            written.append(save(path.with_suffix(".wav"), audio, sample_rate))
    return written
