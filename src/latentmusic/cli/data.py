"""``latentmusic data``: build the offline training sets (SoundFonts + FluidSynth, music21)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from latentmusic.cli import validate as v

app = typer.Typer(
    help="Build data sets offline from SoundFonts and the music21 corpus.", no_args_is_help=True
)


def _int_list(text: str | None, what: str) -> list[int] | None:
    """Parse '60,64,67' or '48-72' or '48-72:3' into integers."""
    from latentmusic.errors import InputError

    if text is None:
        return None
    values: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                span, _, step = part.partition(":")
                lo, hi = span.split("-", 1)
                values.extend(range(int(lo), int(hi) + 1, int(step or 1)))
            elif part:
                values.append(int(part))
    except ValueError as exc:
        raise InputError(
            f"--{what} expects numbers like 60,64,67 or 48-72 or 48-72:3, not {text!r}."
        ) from exc
    if not values:
        raise InputError(f"--{what} is empty.")
    return values


@app.command("notes")
def notes(
    out: Annotated[Path, typer.Argument(help="Output directory (NSynth layout).")],
    programs: Annotated[
        str | None,
        typer.Option(help="GM programs, e.g. 0,19,40,73, or 'all' (every melodic program)."),
    ] = None,
    pitches: Annotated[
        str | None, typer.Option(help="MIDI pitches, e.g. 21-108 or 48-72:3.")
    ] = None,
    velocities: Annotated[
        str | None, typer.Option(help="Velocities, e.g. 25,50,75,100,127.")
    ] = None,
    soundfont: Annotated[
        Path | None, typer.Option(help="A .sf2 file (default: TimGM6mb from pretty_midi).")
    ] = None,
    sample_rate: Annotated[
        int, typer.Option(help="Sample rate.", callback=v.int_range(8000, 192_000))
    ] = 16000,
    workers: Annotated[
        int, typer.Option(help="Parallel render processes.", callback=v.int_range(1, 256))
    ] = 2,
    test_programs: Annotated[
        str | None,
        typer.Option(
            help="Programs held out as the test split, e.g. 6,12,71,73 (default: about 15 % "
            "chosen by a stable hash). Lets a wider set keep a smaller one's test instruments."
        ),
    ] = None,
) -> None:
    """Render an NSynth-format note set (4 s notes, split by instrument)."""
    from latentmusic.data.notes import ALL_PROGRAMS, build_notes

    if programs is not None and programs.strip().lower() == "all":
        program_list: list[int] | None = list(ALL_PROGRAMS)
    else:
        program_list = _int_list(programs, "programs")
    pitch_list = _int_list(pitches, "pitches")
    velocity_list = _int_list(velocities, "velocities")
    if soundfont is not None:
        v.input_file(soundfont, "SoundFont")
    with v.removed_on_failure(out):
        path = build_notes(
            out,
            programs=program_list,
            pitches=pitch_list,
            velocities=velocity_list,
            soundfont=soundfont,
            sr=sample_rate,
            workers=workers,
            test_programs=_int_list(test_programs, "test-programs"),
        )
    typer.echo(f"Note set written to {path}")


@app.command("domains")
def domains(
    out: Annotated[Path, typer.Argument(help="Output directory (one folder per domain).")],
    instruments: Annotated[
        str | None, typer.Option(help="Domains as name=program pairs, e.g. piano=0,organ=19.")
    ] = None,
    max_pieces: Annotated[
        int | None,
        typer.Option(
            help="Use only the first N pieces of the corpus.", callback=v.int_range(1, 100_000)
        ),
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(
            help="Cut each rendering to this many seconds (at least the latest piece's first note + 0.5 s).",
            callback=v.float_range(0.0, 36_000.0, low_open=True),
        ),
    ] = None,
    soundfont: Annotated[
        Path | None, typer.Option(help="A .sf2 file (default: TimGM6mb from pretty_midi).")
    ] = None,
    sample_rate: Annotated[
        int, typer.Option(help="Sample rate.", callback=v.int_range(8000, 192_000))
    ] = 16000,
    workers: Annotated[
        int, typer.Option(help="Parallel render processes.", callback=v.int_range(1, 256))
    ] = 2,
    corpus: Annotated[
        str,
        typer.Option(
            help="chorales, folk, folk:COLLECTION,... (first N pieces of each; e.g. "
            "folk:oneills1850,ryansMammoth) or a folder of MIDI files. Run it again on the "
            "same output to add pieces of another corpus."
        ),
    ] = "chorales",
) -> None:
    """Render the Bach chorales (or folk tunes, or your MIDI files) with several instruments:
    the same pieces in every domain."""
    from latentmusic.data.domains import build_domains
    from latentmusic.errors import InputError

    parsed = None
    if instruments:
        parsed = {}
        for pair in instruments.split(","):
            name, sep, program = pair.partition("=")
            if not sep or not program.strip().isdigit():
                raise InputError(
                    f"--instruments expects name=program pairs like piano=0,organ=19, not {pair!r}."
                )
            key = v.domain_name(None, name.strip()) or ""
            if key in parsed:
                raise InputError(f"--instruments names the domain '{key}' twice.")
            if not 0 <= int(program) <= 127:
                raise InputError(
                    f"--instruments: GM program numbers are 0 to 127, not {int(program)}."
                )
            parsed[key] = int(program)
    if soundfont is not None:
        v.input_file(soundfont, "SoundFont")
    with v.removed_on_failure(out):
        path = build_domains(
            out,
            instruments=parsed,
            max_pieces=max_pieces,
            sr=sample_rate,
            soundfont=soundfont,
            workers=workers,
            seconds_per_piece=seconds,
            corpus=corpus,
        )
    typer.echo(f"Domain set written to {path}")


@app.command("melodies")
def melodies(
    out: Annotated[Path, typer.Argument(help="Output directory (MIDI files split by piece).")],
    max_pieces: Annotated[
        int | None,
        typer.Option(
            help="Use only the first N pieces per collection.", callback=v.int_range(1, 100_000)
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Parallel parse processes.", callback=v.int_range(1, 256))
    ] = 2,
) -> None:
    """Extract melodies and four-voice parts from music21's chorales and folk songs."""
    from latentmusic.data.melodies import build_melodies

    with v.removed_on_failure(out):
        path = build_melodies(out, max_pieces=max_pieces, workers=workers)
    typer.echo(f"Melodies written to {path}")


def _gm_set_options(sources: str | None, packages_root: list[Path] | None) -> dict:
    return {
        "sources": [s.strip() for s in sources.split(",") if s.strip()] if sources else None,
        "roots": list(packages_root) if packages_root else None,
    }


_SOURCES_HELP = "Comma-separated sources: freedoom,openmsx,planetblupi,hydrogen (default: all)."
_ROOT_HELP = "Where the Debian packages' files are (default: /, else fetched into the cache)."


@app.command("drums")
def drums(
    out: Annotated[Path, typer.Argument(help="Output directory (MIDI drum tracks split by song).")],
    sources: Annotated[str | None, typer.Option(help=_SOURCES_HELP)] = None,
    packages_root: Annotated[list[Path] | None, typer.Option(help=_ROOT_HELP)] = None,
) -> None:
    """Drum tracks (GM channel 10) of real songs from Debian packages, with their licences."""
    from latentmusic.data.drums import build_drums, summary

    with v.removed_on_failure(out):
        path = build_drums(out, **_gm_set_options(sources, packages_root))
    typer.echo(f"Drum set written to {path}: {summary(path)}")


@app.command("trios")
def trios(
    out: Annotated[Path, typer.Argument(help="Output directory (melody+bass+drums per song).")],
    sources: Annotated[str | None, typer.Option(help=_SOURCES_HELP)] = None,
    packages_root: Annotated[list[Path] | None, typer.Option(help=_ROOT_HELP)] = None,
) -> None:
    """Melody, bass and drum trios of real GM songs from Debian packages, with their licences."""
    from latentmusic.data.drums import summary
    from latentmusic.data.trios import build_trios

    with v.removed_on_failure(out):
        path = build_trios(out, **_gm_set_options(sources, packages_root))
    typer.echo(f"Trio set written to {path}: {summary(path)}")
