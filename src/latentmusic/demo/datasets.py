"""Small data sets the demo builds once and caches in its work directory."""

from __future__ import annotations

from pathlib import Path

# A spread of timbres: keys, organ, guitar, strings, brass, reed, flute, mallet, bass, synth.
DEMO_PROGRAMS = (0, 19, 24, 48, 56, 71, 73, 12, 33, 81)
DEMO_PITCHES = tuple(range(48, 73, 2))


def demo_notes(work: Path) -> Path:
    from latentmusic.data.notes import build_notes

    return build_notes(
        work / "notes",
        programs=list(DEMO_PROGRAMS),
        pitches=list(DEMO_PITCHES),
        velocities=[100],
        progress=False,
    )


def demo_domains(work: Path) -> Path:
    from latentmusic.data.domains import DEFAULT_INSTRUMENTS, build_domains

    # the shipped translation models' six instruments, so every translation the demo plays
    # has its paired ground truth beside it
    return build_domains(
        work / "domains",
        instruments=dict(DEFAULT_INSTRUMENTS),
        max_pieces=10,
        seconds_per_piece=16.0,
        progress=False,
    )


def demo_melodies(work: Path) -> Path:
    from latentmusic.data.melodies import build_melodies

    return build_melodies(work / "melodies", max_pieces=80, progress=False)
