"""Trio sets (melody, bass, drums) from real General MIDI songs: ``latentmusic data trios OUT``.

A song qualifies when it has a GM drum channel, a track with a General MIDI bass program
(32-39, magenta's rule) and at least one melodic track (programs 0-31, 40-95 and 104-111:
everything pitched but basses, synth effects, percussive instruments and sound effects).
As magenta's trio converter pairs every melody instrument with the bass and the drums, each
melodic track (up to ``MAX_MELODIES``, most notes first) gives one three-track file::

    OUT/<split>/<song>_trio<k>.mid   track 0: that melody, track 1: the bass, track 2: drums

The three tracks are the song's own notes on the song's own timeline (tempo, meter, length),
so they stay aligned bar for bar. Everything else (splits by song, manifest, licences,
window counts for 16-bar and 4-bar trio windows) is the drum set's builder,
:func:`latentmusic.data.drums.build_gm_set`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from latentmusic.data.drums import Part, build_gm_set, drum_part
from latentmusic.midi.representations import BASS_PROGRAMS
from latentmusic.midi.sequence import NoteSequence, merge_tracks

MELODY_PROGRAMS = frozenset((*range(0, 32), *range(40, 96), *range(104, 112)))
MAX_MELODIES = 4


def trio_parts(seq: NoteSequence) -> tuple[list[Part], str]:
    """The trio files of one song, or no file and why (``no_drums``, ``no_bass``, ``no_melody``)."""
    drums = drum_part(seq)
    if drums is None:
        return [], "no_drums"
    notes = Counter(n.track for n in seq.notes if not n.is_drum)
    basses = [i for i in notes if seq.tracks[i].program in BASS_PROGRAMS]
    if not basses:
        return [], "no_bass"
    bass = max(basses, key=lambda i: (notes[i], -i))
    melodies = [i for i in notes if i not in basses and seq.tracks[i].program in MELODY_PROGRAMS]
    if not melodies:
        return [], "no_melody"
    melodies = sorted(melodies, key=lambda i: (-notes[i], i))[:MAX_MELODIES]
    parts: list[Part] = []
    for k, melody in enumerate(melodies):
        trio = merge_tracks([seq.track(melody), seq.track(bass), drums], source_id=seq.source_id)
        facts = {
            "melody_track": melody,
            "melody_program": seq.tracks[melody].program,
            "melody_name": seq.tracks[melody].name,
            "bass_track": bass,
            "bass_program": seq.tracks[bass].program,
        }
        parts.append((f"_trio{k}", trio, facts))
    return parts, ""


def build_trios(
    out: str | Path,
    sources: list[str] | None = None,
    roots: list[Path] | None = None,
    cache_dir: Path | None = None,
    fetch: bool = True,
) -> Path:
    """The trio set: melody + bass + drums files per qualifying song (see the module docstring)."""
    return build_gm_set(out, "trio", trio_parts, sources, roots, cache_dir, fetch)
