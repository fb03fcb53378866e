"""Seconds <-> steps: turn any PrettyMIDI into a NoteSequence on the step grid and back.

Positions are converted through MIDI ticks (musical time), not seconds, so files with tempo
changes still land on the right beats; the first tempo becomes the sequence's ``qpm``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo

if TYPE_CHECKING:
    import pretty_midi

DEFAULT_QPM = 120.0
END_MARKER = "end"  # text event marking trailing silence, so total_steps survives a round trip


def _nearest(x: float) -> int:
    """Round half up (Python's round() would send 0.5 and 1.5 both to even numbers)."""
    return int(math.floor(x + 0.5))


def _join_lyrics(texts: list[str]) -> str:
    """Karaoke files carry spacing/hyphens in the syllables; bare words get a space between."""
    texts = [t for t in texts if t]
    if not texts:
        return ""
    if any(t != t.strip() or t.endswith("-") for t in texts):
        return "".join(texts).strip()
    return " ".join(texts)


def _clean_overlaps(notes: list[Note]) -> list[Note]:
    """One note per (track, pitch, onset); a repeated pitch cuts the previous one short.

    Quantization can make two attacks of the same key coincide or overlap, which a MIDI file
    cannot represent unambiguously; resolving it here makes to_pretty_midi/quantize exact inverses.
    """
    groups: dict[tuple[int, int], list[Note]] = defaultdict(list)
    for n in notes:
        groups[(n.track, n.pitch)].append(n)
    out: list[Note] = []
    for group in groups.values():
        group.sort(key=lambda n: (n.start, -n.end))
        kept: list[Note] = []
        for n in group:
            if kept and kept[-1].start == n.start:
                prev = kept[-1]
                kept[-1] = replace(
                    prev, end=max(prev.end, n.end), velocity=max(prev.velocity, n.velocity)
                )
                continue
            if kept and kept[-1].end > n.start:
                kept[-1] = replace(kept[-1], end=n.start)
            kept.append(n)
        out.extend(kept)
    return out


def quantize(
    pm: pretty_midi.PrettyMIDI, steps_per_quarter: int = 4, source_id: str = ""
) -> NoteSequence:
    """Snap every note of ``pm`` to the nearest step; each instrument becomes a track.

    Onsets and offsets round to the nearest step, a note that would last zero steps gets one
    step, and tempo (first tempo), time signature (first one, default 4/4), programs, drum flags,
    track names and lyrics are kept.
    """
    if steps_per_quarter < 1:
        from latentmusic.errors import InputError

        raise InputError(f"steps_per_quarter must be at least 1, got {steps_per_quarter}.")
    _, tempi = pm.get_tempo_changes()
    qpm = round(float(tempi[0]), 3) if len(tempi) else DEFAULT_QPM
    if pm.time_signature_changes:
        first = min(pm.time_signature_changes, key=lambda ts: ts.time)
        time_signature = (int(first.numerator), int(first.denominator))
    else:
        time_signature = (4, 4)
    ticks_per_step = pm.resolution / steps_per_quarter

    def to_step(seconds: float) -> int:
        return _nearest(pm.time_to_tick(seconds) / ticks_per_step)

    notes: list[Note] = []
    tracks: dict[int, TrackInfo] = {}
    for index, inst in enumerate(pm.instruments):
        tracks[index] = TrackInfo(inst.name or "", int(inst.program), bool(inst.is_drum))
        for n in inst.notes:
            start = to_step(n.start)
            end = max(to_step(n.end), start + 1)
            notes.append(
                Note(
                    int(n.pitch),
                    start,
                    end,
                    int(n.velocity),
                    int(inst.program),
                    bool(inst.is_drum),
                    index,
                )
            )
    notes = _clean_overlaps(notes)
    texts = [t.text for t in getattr(pm, "lyrics", [])]
    return NoteSequence(
        notes=notes,
        steps_per_quarter=steps_per_quarter,
        qpm=qpm,
        time_signature=time_signature,
        total_steps=to_step(pm.get_end_time()),
        source_id=source_id,
        lyrics=_join_lyrics(texts),
        tracks=tracks,
    )


_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2026": "..."})  # fmt: skip


def _latin1(text: str) -> str:
    """MIDI meta text is Latin-1 (pretty_midi's charset); map what does not fit to '?'."""
    return text.translate(_TYPOGRAPHY).encode("latin-1", "replace").decode("latin-1")


def to_pretty_midi(seq: NoteSequence) -> pretty_midi.PrettyMIDI:
    """Write a sequence as MIDI a DAW opens as-is: one tempo, meter, named tracks with programs.

    Trailing silence (``total_steps`` past the last note) is kept with a text event so that
    ``quantize(to_pretty_midi(seq))`` gives back ``seq``.
    """
    import pretty_midi

    spq = seq.steps_per_quarter
    resolution = 480 if 480 % spq == 0 else spq * 96
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=seq.qpm)
    num, den = seq.time_signature
    if den > 0 and den & (den - 1) == 0:  # MIDI can only store power-of-two denominators
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    sps = seq.seconds_per_step
    instruments: dict[int, pretty_midi.Instrument] = {}
    for index, info in seq.tracks.items():
        inst = pretty_midi.Instrument(
            program=int(info.program), is_drum=bool(info.is_drum), name=_latin1(info.name)
        )
        instruments[index] = inst
        pm.instruments.append(inst)
    for n in seq.notes:
        velocity = min(127, max(1, int(n.velocity)))
        instruments[n.track].notes.append(
            pretty_midi.Note(
                velocity=velocity, pitch=int(n.pitch), start=n.start * sps, end=n.end * sps
            )  # fmt: skip
        )
    if seq.lyrics:
        pm.lyrics.append(pretty_midi.Lyric(_latin1(seq.lyrics), 0.0))
    last_end = max((n.end for n in seq.notes), default=0)
    if seq.total_steps > last_end:
        pm.text_events.append(pretty_midi.Text(END_MARKER, seq.total_steps * sps))
    return pm
