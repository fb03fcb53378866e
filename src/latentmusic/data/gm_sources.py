"""Real General MIDI songs with drums, found offline in Debian packages, with their licences.

The drum and trio sets (``latentmusic data drums|trios``) are built from music that people
wrote and that Debian ships as data; nothing here generates notes:

==============  ======================  ==================================================
source          Debian package          what it holds
==============  ======================  ==================================================
freedoom        freedoom                the MIDI music lumps of freedoom1.wad/freedoom2.wad
openmsx         openttd-openmsx         OpenMSX, OpenTTD's General MIDI music set
planetblupi     planetblupi-music-midi  the General MIDI soundtrack of Planet Blupi
hydrogen        hydrogen-data           the drum-machine demo songs (.h2song XML patterns)
==============  ======================  ==================================================

A package's files are read where it is installed (``/``); otherwise ``apt-get download`` +
``dpkg-deb -x`` unpack it into ``$LATENTMUSIC_CACHE/debian/PKG`` (no root, nothing installed
system-wide). The licence of each source is the ``License:`` of the ``Files: *`` paragraph of
``usr/share/doc/PKG/copyright``, recorded in the set's manifest with the copyright line.

Hydrogen songs are drum-machine patterns in XML: each instrument is mapped to a General MIDI
drum pitch by its name (kick, snare, hat closed, ...) and the song's pattern sequence is laid
out bar after bar, 48 ticks per quarter note snapped to the 16th-note grid.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from latentmusic.errors import InputError
from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo

SourceKind = Literal["midi", "wad", "hydrogen"]


@dataclass(frozen=True)
class Source:
    """One Debian package that ships songs, and where in it they are."""

    name: str
    package: str
    patterns: tuple[str, ...]  # globs relative to the package's root
    kind: SourceKind
    description: str


SOURCES: tuple[Source, ...] = (
    Source("freedoom", "freedoom", ("usr/share/games/doom/freedoom*.wad",), "wad",
           "Freedoom's level music: General MIDI lumps of freedoom1.wad and freedoom2.wad"),
    Source("openmsx", "openttd-openmsx", ("usr/share/games/openttd/baseset/openmsx/*.mid",),
           "midi", "OpenMSX, the General MIDI music set of OpenTTD"),
    Source("planetblupi", "planetblupi-music-midi", ("usr/share/planetblupi/music/*.mid",),
           "midi", "the General MIDI soundtrack of the game Planet Blupi"),
    Source("hydrogen", "hydrogen-data", ("usr/share/hydrogen/data/demo_songs/*.h2song",),
           "hydrogen", "Hydrogen drum-machine demo songs (XML patterns, drums only)"),
)  # fmt: skip
SOURCE_NAMES = tuple(s.name for s in SOURCES)


@dataclass
class Song:
    """One song of a source, quantized; ``id`` is ``source/name`` and decides the split."""

    id: str
    title: str
    sequence: NoteSequence


def default_cache_dir() -> Path:
    """``$LATENTMUSIC_CACHE/debian`` or ``~/.cache/latentmusic/debian``."""
    base = os.environ.get("LATENTMUSIC_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "latentmusic") / "debian"


def select_sources(names: list[str] | None) -> tuple[Source, ...]:
    if not names:
        return SOURCES
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown:
        raise InputError(f"Unknown source {unknown[0]!r}; choose from: {', '.join(SOURCE_NAMES)}.")
    return tuple(s for s in SOURCES if s.name in names)


# ------------------------------------------------------------------------------ packages
def _has_files(root: Path, source: Source) -> bool:
    return any(any(root.glob(p)) for p in source.patterns)


def _apt_fetch(package: str, target: Path) -> None:
    """``apt-get download`` the package and unpack it into ``target`` (no root needed)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise FileNotFoundError("apt-get")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["apt-get", "download", "-q", package], cwd=tmp, check=True, capture_output=True
        )
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise FileNotFoundError(package)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(staging)], check=True)
            version = subprocess.run(
                ["dpkg-deb", "-f", str(debs[0]), "Version"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            (staging / "DEBIAN_VERSION").write_text(version + "\n")
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)  # two builds fetching at once: the last one's copy stays
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def package_root(
    source: Source,
    roots: list[Path] | None = None,
    cache_dir: Path | None = None,
    fetch: bool = True,
) -> Path:
    """The folder the package's paths are relative to: an installed copy (under ``roots``,
    default ``/``), one unpacked earlier into the cache, or (``fetch``) a fresh
    ``apt-get download``; InputError naming the apt command when none works."""
    cache = (cache_dir or default_cache_dir()) / source.package
    for root in [*(roots if roots is not None else [Path("/")]), cache]:
        if _has_files(root, source):
            return root
    why = "fetching is off"
    if fetch:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            _apt_fetch(source.package, cache)
        except (OSError, subprocess.CalledProcessError) as exc:
            why = f"apt-get download failed: {type(exc).__name__}"
        else:
            why = f"the package holds none of {source.patterns[0]}"
        if _has_files(cache, source):  # also when a build running beside this one unpacked it
            return cache
    raise InputError(
        f"The {source.name} songs come from the Debian package {source.package}, which is "
        f"neither installed nor unpacked in {cache.parent} ({why}): run "
        f"`apt-get install --no-install-recommends {source.package}`, or leave the source "
        "out with --sources."
    )


def package_version(root: Path, package: str) -> str:
    stamp = root / "DEBIAN_VERSION"
    if stamp.is_file():
        return stamp.read_text().strip()
    if shutil.which("dpkg-query") and root == Path("/"):
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return "unknown"


def licence_of(root: Path, package: str) -> dict[str, str]:
    """``license`` and ``copyright`` of the ``Files: *`` paragraph of the package's
    machine-readable ``copyright`` file (the first paragraph with a License when none is)."""
    path = root / "usr" / "share" / "doc" / package / "copyright"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {"license": "unknown", "copyright": "", "copyright_file": str(path)}
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]

    def field(paragraph: str, name: str) -> str:
        match = re.search(rf"^{name}:[ \t]*(.*(?:\n[ \t]+.*)*)", paragraph, re.MULTILINE)
        if not match:
            return ""
        return " ".join(line.strip() for line in match.group(1).splitlines() if line.strip())

    chosen = next((p for p in paragraphs if field(p, "Files") == "*"), None)
    chosen = chosen or next((p for p in paragraphs if field(p, "License")), "")
    licence = field(chosen, "License").split(" ")[0] if chosen else ""
    return {
        "license": licence or "unknown",
        "copyright": field(chosen, "Copyright") if chosen else "",
        "copyright_file": f"/usr/share/doc/{package}/copyright",
    }


# ---------------------------------------------------------------------------------- songs
def sequence_from_bytes(data: bytes, source_id: str) -> NoteSequence:
    """Quantize MIDI bytes (4 steps per quarter); InputError when they are not usable MIDI."""
    import pretty_midi

    from latentmusic.midi.quantize import quantize

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns about odd meta events
            pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # mido/pretty_midi raise many kinds
        raise InputError(f"{source_id} is not a readable MIDI file.") from exc
    if not any(inst.notes for inst in pm.instruments):
        raise InputError(f"{source_id} contains no notes.")
    return quantize(pm, 4, source_id=source_id)


def wad_midi_lumps(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(lump name, bytes)`` of every Standard MIDI File lump of a Doom WAD."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] not in (b"IWAD", b"PWAD"):
        raise InputError(f"{path} is not a Doom WAD file.")
    count, offset = struct.unpack_from("<ii", data, 4)
    for i in range(count):
        start, size, raw = struct.unpack_from("<ii8s", data, offset + 16 * i)
        lump = data[start : start + size]
        if lump[:4] == b"MThd":
            yield raw.rstrip(b"\0").decode("ascii", "replace"), lump


# Hydrogen instrument names -> General MIDI drum pitch: the first pattern found wins.
_HYDROGEN_NAMES: tuple[tuple[str, int], ...] = (
    (r"cowbell", 56), (r"kick|bass ?drum|\bbd\b", 36), (r"stick|\brim", 37), (r"clap", 39),
    (r"snare|\bsd\b", 38), (r"pedal", 44), (r"open", 46), (r"closed|hi-?hat|\bhh\b|\bhat", 42),
    (r"floor|\blow\b|\blo\b", 41), (r"tom ?2|\bmid", 47), (r"tom ?1|\bhi(gh)?\b", 50),
    (r"\btom", 47), (r"splash", 55), (r"china", 52), (r"crash|cymbal", 49), (r"ride", 51),
    (r"bell", 53), (r"shaker|maraca", 70), (r"conga", 63), (r"bongo", 61), (r"clave", 75),
    (r"tamb", 54),
)  # fmt: skip
HYDROGEN_TICKS_PER_QUARTER = 48


def hydrogen_pitch(name: str) -> int | None:
    """The GM drum pitch of a Hydrogen instrument name ('Hat Closed' -> 42), None if unknown."""
    lowered = name.lower()
    return next((pitch for key, pitch in _HYDROGEN_NAMES if re.search(key, lowered)), None)


def read_hydrogen_song(path: Path, source_id: str = "") -> NoteSequence:
    """A Hydrogen ``.h2song`` as a one-track drum sequence: its pattern sequence laid out in
    order (patterns of one column together, the column as long as its longest pattern).

    Notes of instruments whose name maps to no GM drum, and notes played with probability
    below one half, are left out."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"{path} is not a readable Hydrogen song.") from exc
    pitches: dict[str, int | None] = {}
    for inst in root.iterfind("instrumentList/instrument"):
        pitches[(inst.findtext("id") or "").strip()] = hydrogen_pitch(inst.findtext("name") or "")
    patterns: dict[str, tuple[int, list[tuple[int, int, int]]]] = {}
    for pat in root.iterfind("patternList/pattern"):
        size = int(float(pat.findtext("size") or 192))
        hits = []
        for note in pat.iterfind("noteList/note"):
            pitch = pitches.get((note.findtext("instrument") or "").strip())
            if pitch is None or float(note.findtext("probability") or 1) < 0.5:
                continue
            position = int(float(note.findtext("position") or 0))
            velocity = round(127 * float(note.findtext("velocity") or 0.8))
            hits.append((position, pitch, min(127, max(1, velocity))))
        patterns[(pat.findtext("name") or "").strip()] = (size, hits)
    columns = [
        [(g.text or "").strip() for g in group.iterfind("patternID")]
        for group in root.iterfind("patternSequence/group")
    ]
    columns = [c for c in columns if any(name in patterns for name in c)]
    if not columns:  # pattern mode: every pattern once, in the order they are listed
        columns = [[name] for name in patterns]
    tick = HYDROGEN_TICKS_PER_QUARTER // 4  # ticks per 16th-note step
    notes: list[Note] = []
    offset = 0
    for column in columns:
        used = [patterns[name] for name in column if name in patterns]
        for _, hits in used:
            for position, pitch, velocity in hits:
                start = (offset + position + tick // 2) // tick
                notes.append(Note(pitch, start, start + 1, velocity, 0, True, 0))
        offset += max(size for size, _ in used)
    if not notes:
        raise InputError(f"{path} has no drum hits on known instruments.")
    return NoteSequence(
        notes=notes,
        steps_per_quarter=4,
        qpm=float(root.findtext("bpm") or 120),
        time_signature=(4, 4),
        total_steps=offset // tick,
        source_id=source_id,
        tracks={0: TrackInfo("drums", 0, True)},
    )


def iter_songs(source: Source, root: Path, stats: dict[str, int]) -> Iterator[Song]:
    """The songs of one source (files sorted by name; byte-identical songs once).

    ``stats["unreadable"]`` counts files that could not be read as songs."""
    files = sorted({f for p in source.patterns for f in root.glob(p) if f.is_file()})
    seen: set[str] = set()

    def once(data: bytes) -> bool:
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            stats["duplicates"] = stats.get("duplicates", 0) + 1
            return False
        seen.add(digest)
        return True

    for path in files:
        try:
            if source.kind == "wad":
                for lump, data in wad_midi_lumps(path):
                    if not once(data):
                        continue
                    song_id = f"{source.name}/{path.stem}/{lump}"
                    try:
                        yield Song(song_id, lump, sequence_from_bytes(data, song_id))
                    except InputError:
                        stats["unreadable"] = stats.get("unreadable", 0) + 1
                continue
            data = path.read_bytes()
            if not once(data):
                continue
            song_id = f"{source.name}/{path.stem}"
            if source.kind == "hydrogen":
                seq = read_hydrogen_song(path, song_id)
                title = ET.parse(path).getroot().findtext("name") or path.stem
            else:
                seq, title = sequence_from_bytes(data, song_id), path.stem
            yield Song(song_id, title.strip() or path.stem, seq)
        except InputError:
            stats["unreadable"] = stats.get("unreadable", 0) + 1
