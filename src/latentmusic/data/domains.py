"""Folder-per-domain audio: build paired domains with FluidSynth, read anyone's folders.

The Universal Music Translation Network trains on one folder of audio per domain
(instrument or style). ``build_domains`` makes such folders offline by rendering the same
pieces (Bach chorales from music21's corpus by default, or a folder of MIDI files) with
one General MIDI program per domain, so every file has a perfectly aligned counterpart in
every other domain: the ground truth a translation should produce.

    OUT/<domain>/<piece>.wav
    OUT/manifest.json   {"sample_rate", "domains", "files": [{"path", "domain", "piece",
                         "split", "program"}], ...}

``DomainAudioSet`` reads that layout, or, without a manifest, any ``root/<domain>/**``
folder of wav/flac/ogg/mp3/aiff at any rate; ``SegmentDataset`` serves random fixed-length
segments of it for training without decoding whole files.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.audio import io
from latentmusic.audio.formats import AUDIO_SUFFIXES, is_audio
from latentmusic.data.render import (
    NoteEvent,
    Part,
    Renderer,
    TaskPool,
    check_sample_rate,
    parts_from_pretty_midi,
    peak_normalize,
    resolve_soundfont,
)
from latentmusic.errors import InputError
from latentmusic.fileio import empty_dirs_removed_on_failure, ensure_writable_dir, write_json

# ---------------------------------------------------------------------------- config
MIDI_SUFFIXES = (".mid", ".midi")
SPLIT_FRACTIONS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
SPLITS = tuple(name for name, _ in SPLIT_FRACTIONS)
PIECE_PEAK = 0.9  # every render is scaled to this peak (dynamics inside a piece are kept)
FADE_SECONDS = 0.05  # fade-out where ``seconds_per_piece`` cuts a piece short
MIN_HEARD_SECONDS = 0.5  # the least music a render cut to ``seconds_per_piece`` must hold
DEFAULT_INSTRUMENTS = {
    "piano": 0,
    "harpsichord": 6,
    "organ": 19,
    "strings": 48,
    "flute": 73,
    "clarinet": 71,
}
KNOWN_INSTRUMENTS = {
    **DEFAULT_INSTRUMENTS,
    "electric_piano": 4,
    "vibraphone": 11,
    "marimba": 12,
    "accordion": 21,
    "guitar": 24,
    "electric_guitar": 27,
    "bass": 32,
    "violin": 40,
    "viola": 41,
    "cello": 42,
    "harp": 46,
    "choir": 52,
    "trumpet": 56,
    "trombone": 57,
    "tuba": 58,
    "french_horn": 60,
    "brass": 61,
    "soprano_sax": 64,
    "alto_sax": 65,
    "tenor_sax": 66,
    "oboe": 68,
    "english_horn": 69,
    "bassoon": 70,
    "piccolo": 72,
    "recorder": 74,
    "pan_flute": 75,
    "square_lead": 80,
    "saw_lead": 81,
}


# ---------------------------------------------------------------------------- splits
def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` alone (same on every machine and Python run)."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / float(16**12)


def split_of(key: str) -> str:
    """80/10/10 train/valid/test by a stable hash of ``key`` (a piece id or relative path)."""
    x = stable_fraction(key)
    edge = 0.0
    for name, fraction in SPLIT_FRACTIONS:
        edge += fraction
        if x < edge:
            return name
    return SPLIT_FRACTIONS[-1][0]


def assign_splits(keys: Iterable[str], fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    """Hash splits for every key; small sets (>= 3 keys) still get one valid and one test key.

    ``fixed`` pins keys whose split is already on disk, so growing a build never moves them.
    """
    keys = sorted(set(keys))
    fixed = dict(fixed or {})
    splits = {k: fixed.get(k) or split_of(k) for k in keys}
    if len(keys) >= 3:
        for need in ("test", "valid"):
            if need in splits.values():
                continue
            movable = [k for k in keys if splits[k] == "train" and k not in fixed]
            if sum(v == "train" for v in splits.values()) > 1 and movable:
                # the train key hashed nearest the top of the range moves: still deterministic
                splits[max(movable, key=stable_fraction)] = need
    return splits


def slug(text: str) -> str:
    """A file-name-safe version of a piece id ("essenFolksong/han1:3" -> "essenFolksong_han1_3")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "piece"


# ---------------------------------------------------------------------------- pieces
@dataclass(frozen=True)
class Piece:
    """One piece to render in every domain: its parts as timed notes (programs set later)."""

    id: str
    title: str
    parts: tuple[tuple[NoteEvent, ...], ...]


def _bundled_corpus(corpus: str | Path) -> tuple[str, tuple[str, ...] | None] | None:
    """("chorales", None), ("folk", collections or None) for a bundled corpus name, else None.

    "folk:oneills1850,ryansMammoth" names folk collections; ``max_pieces`` then counts
    per collection, so a build can hold several "artists" (collections) side by side.
    """
    if not isinstance(corpus, str):
        return None
    if corpus == "chorales":
        return "chorales", None
    name, sep, rest = corpus.partition(":")
    if name != "folk":
        return None
    collections = tuple(c.strip() for c in rest.split(",") if c.strip()) if sep else None
    if sep and not collections:
        raise InputError("Name at least one folk collection after 'folk:'.")
    return "folk", collections


def _corpus_pieces(corpus: str | Path, max_pieces: int | None, workers: int) -> list[Piece]:
    """Pieces of a bundled corpus ("chorales", "folk", "folk:C1,C2") or a folder of MIDI files."""
    bundled_name = _bundled_corpus(corpus)
    if bundled_name is not None:
        from latentmusic.midi import corpus as bundled

        name, collections = bundled_name
        if name == "chorales":
            groups = [bundled.iter_chorales(limit=max_pieces, workers=workers)]
        elif collections is None:
            groups = [bundled.iter_folk(limit=max_pieces, workers=workers)]
        else:
            groups = [
                bundled.iter_folk(limit=max_pieces, collections=[c], workers=workers)
                for c in collections
            ]
        pieces = []
        for cp in (cp for group in groups for cp in group):
            parts = []
            for seq in cp.parts.values():
                sps = seq.seconds_per_step
                parts.append(
                    tuple(
                        NoteEvent(n.pitch, n.start * sps, n.end * sps, n.velocity)
                        for n in seq.notes
                        if not n.is_drum
                    )
                )
            pieces.append(Piece(cp.id, cp.title, tuple(p for p in parts if p)))
        return pieces
    folder = Path(corpus).expanduser()
    if not folder.is_dir():
        raise InputError(
            f"Corpus '{corpus}' is neither 'chorales', 'folk', 'folk:COLLECTION,...' "
            "nor a folder of MIDI files."
        )
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise InputError(f"No MIDI files (.mid, .midi) in {folder}.")
    from latentmusic.midi.io import read_midi

    pieces = []
    for path in files[:max_pieces]:
        parts = [p.notes for p in parts_from_pretty_midi(read_midi(path)) if not p.is_drum]
        if parts:
            piece_id = path.relative_to(folder).with_suffix("").as_posix()
            pieces.append(Piece(piece_id, path.stem, tuple(parts)))
    if not pieces:
        raise InputError(f"The MIDI files in {folder} have no pitched (non-drum) notes.")
    return pieces


def _truncate(parts: Sequence[Sequence[NoteEvent]], seconds: float | None) -> list[Part]:
    out = []
    for notes in parts:
        kept = tuple(
            NoteEvent(n.pitch, n.start, min(n.end, seconds), n.velocity) if seconds else n
            for n in notes
            if seconds is None or n.start < seconds
        )
        if kept:
            out.append(kept)
    return out


def first_onset(piece: Piece) -> float:
    """When a piece plays its first note, in seconds (corpus pieces may open with rests)."""
    return min((n.start for part in piece.parts for n in part), default=0.0)


def min_seconds_per_piece(pieces: Sequence[Piece]) -> float:
    """The shortest ``seconds_per_piece`` that gives every piece at least
    ``MIN_HEARD_SECONDS`` of music: the latest first note plus that, rounded up to 0.1 s."""
    latest = max((first_onset(p) for p in pieces), default=0.0)
    return math.ceil((latest + MIN_HEARD_SECONDS) * 10 - 1e-9) / 10


def check_seconds_per_piece(pieces: Sequence[Piece], seconds: float) -> None:
    """Refuse a cut so short that some render would be (nearly) silent, naming the minimum."""
    minimum = min_seconds_per_piece(pieces)
    if seconds >= minimum:
        return
    late = max(pieces, key=first_onset)
    raise InputError(
        f"--seconds {seconds:g} is too short for these pieces: {late.id} plays its first note "
        f"{first_onset(late):.2f} s in, so use at least {minimum:g} (every render then holds "
        f"{MIN_HEARD_SECONDS:g} s of music or more)."
    )


# ---------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(sr: int, effects: bool) -> None:
    _WORKER.clear()
    _WORKER.update(sr=sr, effects=effects, renderers={})


def _close_worker() -> None:
    for renderer in _WORKER.get("renderers", {}).values():
        renderer.close()
    _WORKER.clear()


def _render_piece(task: tuple) -> str:
    """Render one piece with one program into its wav (runs in a worker process)."""
    wav, font, program, parts, seconds = task
    sr = _WORKER["sr"]
    renderers = _WORKER["renderers"]
    if font not in renderers:
        renderers[font] = Renderer(font, sr, effects=_WORKER["effects"])
    audio = renderers[font].render([Part(program, notes) for notes in parts], tail=1.0)
    if seconds is not None:
        audio = audio[: round(seconds * sr)]
        fade = min(len(audio), round(FADE_SECONDS * sr))
        if fade and len(audio) == round(seconds * sr):
            audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    io.save(wav, peak_normalize(audio, PIECE_PEAK), sr, subtype="PCM_16")
    return wav


# ---------------------------------------------------------------------------- build
def _instrument_table(instruments: Any) -> dict[str, int]:
    if instruments is None:
        return dict(DEFAULT_INSTRUMENTS)
    if isinstance(instruments, Mapping):
        table = {str(k): v for k, v in instruments.items()}
    else:
        table = {}
        for item in instruments:
            if isinstance(item, str):
                if item not in KNOWN_INSTRUMENTS:
                    raise InputError(
                        f"Unknown instrument '{item}'; use a General MIDI program number or one "
                        f"of {', '.join(sorted(KNOWN_INSTRUMENTS))}."
                    )
                table[item] = KNOWN_INSTRUMENTS[item]
            else:
                import pretty_midi

                name = slug(pretty_midi.program_to_instrument_name(int(item)).lower())
                table[name] = item
    if not table:
        raise InputError("No instruments given to render domains with.")
    for name, program in table.items():
        if isinstance(program, bool) or not isinstance(program, (int, np.integer)):
            raise InputError(f"Domain '{name}' needs an integer General MIDI program.")
        if not 0 <= program <= 127:
            raise InputError(f"Domain '{name}' has program {program}; programs are 0..127.")
        if slug(name) != name:
            raise InputError(f"Domain name '{name}' must be a plain folder name.")
    return {k: int(v) for k, v in table.items()}


def build_domains(
    out: str | Path,
    instruments: Mapping[str, int] | Sequence[str | int] | None = None,
    corpus: str | Path = "chorales",
    max_pieces: int | None = None,
    sr: int = 16000,
    soundfont: str | Path | None = None,
    workers: int = 2,
    progress: bool = True,
    seconds_per_piece: float | None = None,
    effects: bool = True,
) -> Path:
    """Render every piece of ``corpus`` with every instrument into ``out/<domain>/``.

    ``instruments`` maps domain names to GM programs (or lists known names / programs);
    default piano, harpsichord, organ, strings, flute, clarinet. All voices of a piece play
    the domain's program. ``corpus`` is "chorales", "folk", "folk:COLLECTION,..." (the
    first ``max_pieces`` of each named collection) or a folder of MIDI files.
    ``seconds_per_piece`` cuts renders short (demos); a cut that would leave a piece
    under ``MIN_HEARD_SECONDS`` of music is refused before anything is made. Files on disk
    are kept, so a build resumes, and a later call may add domains or pieces to the same
    folder; a failed build leaves no empty folder. Rendering uses spawned processes: call
    it under ``if __name__ == "__main__":`` in a script.
    """
    sr = check_sample_rate(sr)
    table = _instrument_table(instruments)
    font = resolve_soundfont(soundfont)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"Workers must be a positive integer; got {workers!r}.")
    if max_pieces is not None and max_pieces < 1:
        raise InputError(f"max_pieces must be at least 1; got {max_pieces}.")
    if seconds_per_piece is not None and not seconds_per_piece > 0:
        raise InputError(f"seconds_per_piece must be positive; got {seconds_per_piece}.")
    with Renderer(font, sr, effects=False) as probe:
        for name, program in table.items():
            if not probe.has_program(program):
                raise InputError(f"SoundFont {font.name} has no program {program} for '{name}'.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"The output directory {out} is an existing file, not a directory.")

    settings = {
        "sample_rate": sr,
        "soundfont": font.name,
        "seconds_per_piece": seconds_per_piece,
        "effects": effects,
    }
    manifest_path = out / "manifest.json"
    old = _read_manifest(manifest_path) if manifest_path.exists() else None
    old_files: list[dict] = []
    if old is not None:
        if {k: old.get(k) for k in settings} != settings:
            raise InputError(
                f"{out} already holds domains rendered with other settings "
                "(sample rate, SoundFont, length or effects); use a new output directory."
            )
        for name, program in old.get("programs", {}).items():
            if name in table and table[name] != program:
                raise InputError(
                    f"Domain '{name}' in {out} was rendered with program {program}, "
                    f"not {table[name]}."
                )
        old_files = [f for f in old["files"] if (out / f["path"]).is_file()]

    pieces = _corpus_pieces(corpus, max_pieces, workers)
    if seconds_per_piece is not None:
        check_seconds_per_piece(pieces, seconds_per_piece)
    slugs: dict[str, str] = {}
    for piece in pieces:
        name = slug(piece.id)
        if name in slugs.values():  # two ids that differ only in punctuation
            name = f"{name}_{int(stable_fraction(piece.id) * 1e8):08d}"
        slugs[piece.id] = name
    splits = assign_splits(slugs, {f["piece"]: f["split"] for f in old_files})

    tasks = []
    files = {(f["domain"], f["piece"]): f for f in old_files}
    for domain, program in sorted(table.items()):
        for piece in pieces:
            rel = f"{domain}/{slugs[piece.id]}.wav"
            files[(domain, piece.id)] = {
                "path": rel,
                "domain": domain,
                "piece": piece.id,
                "split": splits[piece.id],
                "program": program,
            }
            if not (out / rel).is_file():
                parts = _truncate(piece.parts, seconds_per_piece)
                tasks.append((str(out / rel), str(font), program, parts, seconds_per_piece))
    # Everything is checked: only now is anything created. A build that fails or is
    # stopped keeps the files it rendered (it resumes) but no folder left empty.
    with empty_dirs_removed_on_failure(out, *(out / domain for domain in table)):
        ensure_writable_dir(out)
        for domain in table:
            (out / domain).mkdir(exist_ok=True)
        with TaskPool(_render_piece, _init_worker, (sr, effects), workers, _close_worker) as pool:
            for _ in pool.run(tasks, "domains", progress, unit="file"):
                pass

    programs = {f["domain"]: f.get("program") for f in files.values()}
    titles = dict((old or {}).get("titles", {}))
    titles.update({p.id: p.title for p in pieces})
    manifest = {
        **settings,
        "domains": sorted(programs),
        "programs": dict(sorted(programs.items())),
        "titles": dict(sorted(titles.items())),
        "files": sorted(files.values(), key=lambda f: (f["domain"], f["piece"])),
    }
    if manifest != old:
        write_json(manifest_path, manifest)
    return out


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class DomainFile:
    """One audio file of a domain, with the piece it plays and its split."""

    path: Path
    domain: str
    piece: str
    split: str
    program: int | None = None


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        files = data["files"]
        for f in files:
            if not all(isinstance(f.get(k), str) for k in ("path", "domain", "piece", "split")):
                raise InputError("a file record lacks path, domain, piece or split")
        return data
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} is not a valid domain manifest ({exc}).") from exc


def _discover(root: Path) -> list[DomainFile]:
    """A user's folders: every audio file under ``root/<domain>/`` (hidden folders skipped)."""
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
    found: dict[str, list[tuple[Path, str]]] = {}
    for folder in folders:
        audio = sorted(
            p
            for p in folder.rglob("*")
            if is_audio(p)
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if not audio:
            raise InputError(
                f"Domain folder {folder} has no audio files ({', '.join(AUDIO_SUFFIXES)})."
            )
        found[folder.name] = [(p, p.relative_to(folder).with_suffix("").as_posix()) for p in audio]
    if not found:
        raise InputError(
            f"{root} has no domain folders; put each domain's audio in its own sub-folder "
            f"(e.g. {root}/piano/*.wav and {root}/organ/*.wav)."
        )
    # The same relative name in two domains is the same piece and lands in the same split.
    splits = assign_splits({piece for items in found.values() for _, piece in items})
    return [
        DomainFile(path, domain, piece, splits[piece])
        for domain, items in found.items()
        for path, piece in items
    ]


class DomainAudioSet:
    """The audio files of several domains, by split, with pieces matched across domains.

    With ``root/manifest.json`` (from ``build_domains``) the manifest says everything;
    otherwise ``root/<domain>/**`` is discovered and split 80/10/10 by a stable hash of each
    file's path inside its domain folder. ``split=None`` keeps all files.
    """

    def __init__(self, root: str | Path, split: str | None = None, sr: int = 16000) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise InputError(f"Domain folder {root} does not exist.")
        if split is not None and split not in SPLITS:
            raise InputError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
        self.root = root
        self.split = split
        self.sr = int(sr)
        manifest = root / "manifest.json"
        if manifest.is_file():
            data = _read_manifest(manifest)
            entries = [
                DomainFile(root / f["path"], f["domain"], f["piece"], f["split"], f.get("program"))
                for f in data["files"]
            ]
            for entry in entries:
                if not entry.path.is_file():
                    raise InputError(f"Audio file {entry.path} listed in {manifest} is missing.")
            self.domains = sorted(set(data.get("domains", [])) | {e.domain for e in entries})
            self.manifest: dict[str, Any] | None = data
        else:
            entries = _discover(root)
            self.domains = sorted({e.domain for e in entries})
            self.manifest = None
        if not self.domains:
            raise InputError(f"{root} has no domains.")
        self.entries = [e for e in entries if split is None or e.split == split]
        for domain in self.domains:
            if not any(e.domain == domain for e in self.entries):
                where = f" in split '{split}'" if split else ""
                raise InputError(f"Domain '{domain}' in {root} has no audio files{where}.")
        if len(self.domains) < 2:
            warnings.warn(
                f"{root} has only one domain ('{self.domains[0]}'); translation needs two or more.",
                stacklevel=2,
            )
        self._by_path = {e.path.resolve(): e for e in self.entries}
        self._by_piece = {(e.domain, e.piece): e.path for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def _check_domain(self, domain: str) -> None:
        if domain not in self.domains:
            raise InputError(f"Unknown domain '{domain}'; known: {', '.join(self.domains)}.")

    def files(self, domain: str) -> list[Path]:
        """The domain's audio files in this set's split, sorted."""
        self._check_domain(domain)
        return sorted(e.path for e in self.entries if e.domain == domain)

    def _entry(self, path: str | Path) -> DomainFile:
        entry = self._by_path.get(Path(path).resolve())
        if entry is None:
            raise InputError(f"{path} is not one of the files of {self.root} in this split.")
        return entry

    def domain_of(self, path: str | Path) -> str:
        return self._entry(path).domain

    def piece_of(self, path: str | Path) -> str:
        """The piece a file plays (manifest id, or its path inside the domain folder)."""
        return self._entry(path).piece

    def counterpart(self, path: str | Path, domain: str) -> Path | None:
        """The same piece played in ``domain``, or None when that domain lacks it."""
        self._check_domain(domain)
        return self._by_piece.get((domain, self.piece_of(path)))

    def load(self, path: str | Path) -> np.ndarray:
        """A whole file as mono float32 at ``self.sr`` (resampled if it was recorded otherwise)."""

        return io.load(path, sr=self.sr)[0]


class SegmentDataset:
    """Random ``segment``-sample excerpts of every file of every domain, labelled by domain.

    Indexes files (each item draws a fresh random offset with NumPy's global RNG, which the
    training harness reseeds per batch). Lengths come from file headers and only the frames
    needed are read, so hour-long recordings cost no more than short ones. Files shorter
    than a segment are zero-padded; other sample rates are resampled to ``sr``.
    """

    def __init__(
        self,
        domain_set: DomainAudioSet,
        split: str | None = None,
        segment: int = 16000,
        sr: int | None = None,
    ) -> None:

        if isinstance(segment, bool) or not isinstance(segment, int) or segment < 1:
            raise InputError(f"Segment length must be a positive number of samples; got {segment}.")
        split = split if split is not None else domain_set.split
        if split is not None and domain_set.split not in (None, split):
            raise InputError(
                f"The domain set holds split '{domain_set.split}', not '{split}'; "
                f"open it with split='{split}' or split=None."
            )
        entries = [e for e in domain_set.entries if split is None or e.split == split]
        for domain in domain_set.domains:
            if not any(e.domain == domain for e in entries):
                raise InputError(f"Domain '{domain}' has no audio files in split '{split}'.")
        self.domains = list(domain_set.domains)
        self.segment = segment
        self.sr = int(sr or domain_set.sr)
        self.items = []
        for e in entries:
            rate, frames, _ = io.info(e.path)
            self.items.append((e.path, self.domains.index(e.domain), rate, frames))

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, path: Path, start: int, frames: int, rate: int) -> np.ndarray:
        import soundfile as sf

        try:
            data = sf.read(
                str(path), start=start, stop=start + frames, dtype="float32", always_2d=True
            )[0]
            return data.mean(axis=1, dtype=np.float32)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            # formats libsndfile cannot seek: decode just the span
            return io.load(path, offset=start / rate, duration=frames / rate)[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        path, domain, rate, total = self.items[index]
        if rate == self.sr:
            need, margin = self.segment, 0
        else:  # read a little extra on each side so the resampler's edges fall outside
            margin = math.ceil(0.01 * rate)
            need = math.ceil(self.segment * rate / self.sr) + 2 * margin
        if total > need:
            start, trim = int(np.random.randint(0, total - need + 1)), margin
        else:  # shorter than a segment: take it all and pad
            start, trim = 0, 0
        audio = self._read(path, start, min(need, total), rate)
        if rate != self.sr:
            audio = io.resample(audio, rate, self.sr)[round(trim * self.sr / rate) :]
        audio = np.pad(audio[: self.segment], (0, max(0, self.segment - len(audio))))
        return {"audio": torch.tensor(audio, dtype=torch.float32), "domain": domain}
