"""Real music that ships offline: Bach chorales and folk-song collections from music21's corpus.

Pieces are read from the MusicXML/ABC files bundled with music21, turned into NoteSequences on
the 4-steps-per-quarter grid, and cached as JSON (music21 parsing is slow: ~0.1 s a tune,
~20 minutes for everything), so the second pass over the corpus takes seconds.

- Chorales: every score under ``bach/`` (.mxl/.xml) with four parts, or with four parts named
  for the voices among instrumental ones; parts soprano/alto/tenor/bass.
- Folk: every tune (``X:`` number) in the ABC collections in ``FOLK_COLLECTIONS``, one part
  "melody".

Conventions: a pickup bar (anacrusis) is padded with rests so bar lines fall on multiples of
``steps_per_bar``; tied notes are merged; grace notes and chord symbols are ignored; each part
is made monophonic (chords keep their top note, a note ends where the next begins); repeats
are not expanded.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from latentmusic.errors import InputError
from latentmusic.fileio import atomic_path
from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo

log = logging.getLogger(__name__)

STEPS_PER_QUARTER = 4
CHORALE_COLLECTION = "bach-chorales"
VOICES = ("soprano", "alto", "tenor", "bass")
FOLK_COLLECTIONS = (
    "essenFolksong",  # Essen folksong collection: German, Chinese, ... songs (~8.5k tunes)
    "oneills1850",  # O'Neill's Music of Ireland (~2k tunes)
    "ryansMammoth",  # Ryan's Mammoth Collection of fiddle tunes (~1k)
    "airdsAirs",  # Aird's Selection of Scotch, English, Irish and Foreign Airs (~1.2k)
    "miscFolk",  # American fife tunes, Northumbrian minstrelsy
    "nottingham-dataset",
)
CHORALE_QPM = 100.0  # tempo when a score has no metronome mark
FOLK_QPM = 120.0
VELOCITY = 100
CACHE_FORMAT = 2  # bump when the conversion changes, so stale caches are ignored


@dataclass
class CorpusPiece:
    """One piece: ``parts`` maps a part name to a one-track NoteSequence."""

    id: str
    collection: str
    title: str
    parts: dict[str, NoteSequence]
    lyrics: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collection": self.collection,
            "title": self.title,
            "lyrics": self.lyrics,
            "parts": {name: seq.to_dict() for name, seq in self.parts.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusPiece:
        return cls(
            id=data["id"],
            collection=data["collection"],
            title=data.get("title", ""),
            parts={k: NoteSequence.from_dict(v) for k, v in data["parts"].items()},
            lyrics=data.get("lyrics", ""),
        )


@dataclass(frozen=True)
class CorpusItem:
    """Where a piece lives in music21's corpus; cheap to list, parsed only on demand."""

    id: str
    collection: str
    path: str  # relative to the corpus root, e.g. "bach/bwv26.6.mxl"
    number: int | None = None  # tune number (X: field) inside an ABC collection file


# --------------------------------------------------------------------------------- listing
def corpus_root() -> Path:
    """The directory of music21's bundled corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def _natural_key(text: str) -> list:
    """'bwv2.6' before 'bwv10.7', so ``limit`` takes chorales in catalogue order."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def chorale_items() -> list[CorpusItem]:
    """Every MusicXML score under the corpus's ``bach/`` folder, in BWV order."""
    bach = corpus_root() / "bach"
    files = [p for p in bach.iterdir() if p.suffix in (".mxl", ".xml") and p.is_file()]
    files.sort(key=lambda p: _natural_key(p.name))
    return [CorpusItem(p.stem, CHORALE_COLLECTION, f"bach/{p.name}") for p in files]


_X_FIELD = re.compile(rb"^X:\s*(\d+)", re.MULTILINE)


def folk_items(collections: Iterable[str] | None = None) -> list[CorpusItem]:
    """Every tune in the ABC folk collections, found by scanning the files' ``X:`` fields."""
    root = corpus_root()
    chosen = list(collections) if collections is not None else list(FOLK_COLLECTIONS)
    items = []
    for collection in chosen:
        folder = root / collection
        if not folder.is_dir():
            raise InputError(
                f"Folk collection {collection!r} is not in music21's corpus "
                f"(known: {', '.join(FOLK_COLLECTIONS)})."
            )
        for path in sorted(folder.glob("*.abc"), key=lambda p: _natural_key(p.name)):
            numbers = dict.fromkeys(int(m) for m in _X_FIELD.findall(path.read_bytes()))
            for number in numbers:
                items.append(
                    CorpusItem(
                        f"{collection}/{path.stem}:{number}",
                        collection,
                        f"{collection}/{path.name}",
                        number,
                    )
                )
    return items


# ----------------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    """``$LATENTMUSIC_CACHE/corpus`` or ``~/.cache/latentmusic/corpus``."""
    base = os.environ.get("LATENTMUSIC_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "latentmusic"
    return root / "corpus"


def _cache_file(item: CorpusItem, cache_dir: Path) -> Path:
    import music21

    versioned = cache_dir / f"music21-{music21.__version__}-v{CACHE_FORMAT}"
    if item.number is None:
        return versioned / f"{item.path}.json"
    return versioned / item.path / f"{item.number}.json"


# ------------------------------------------------------------------------------ conversion
def _nearest(x: float) -> int:
    return int(math.floor(x + 0.5))


def _score_qpm(score: Any, default: float) -> float:
    """Quarter notes per minute of the first metronome mark (shown or playback-only), else
    ``default``. A half-note mark counts double: Half=112 is 224 quarters a minute."""
    from music21 import tempo

    for mark in score.recurse().getElementsByClass(tempo.MetronomeMark):
        try:
            bpm = mark.getQuarterBPM()  # uses the playback number when no number is shown
        except Exception:  # a mark with neither number nor known text
            continue
        if bpm:
            return round(float(bpm), 3)
    return default


def _time_signature(part: Any) -> tuple[int, int]:
    from music21 import meter

    ts = part.recurse().getElementsByClass(meter.TimeSignature).first()
    if ts is None:
        return (4, 4)
    return (int(ts.numerator), int(ts.denominator))


def _pickup_quarters(part: Any) -> float:
    """Length of the rests that would complete a pickup bar, in quarter notes (0 if none)."""
    from music21 import stream

    measures = part.getElementsByClass(stream.Measure)
    if not measures:
        return 0.0
    first = measures[0]
    pad = float(first.paddingLeft or 0.0)
    if pad == 0.0 and first.number == 0:  # a pickup measure music21 did not pad
        try:
            bar = float(first.barDuration.quarterLength)
        except Exception:  # no meter in context: cannot tell a pickup from a bar
            return 0.0
        pad = max(0.0, bar - float(first.duration.quarterLength))
    return round(pad * STEPS_PER_QUARTER) / STEPS_PER_QUARTER  # whole steps keep bars aligned


def _monophonic(notes: list[Note]) -> list[Note]:
    """One note at a time: the highest of simultaneous onsets; a note ends where the next starts."""
    notes = sorted(notes, key=lambda n: (n.start, -n.pitch))
    kept: list[Note] = []
    for n in notes:
        if kept and kept[-1].start == n.start:
            continue
        if kept and kept[-1].end > n.start:
            prev = kept[-1]
            kept[-1] = Note(prev.pitch, prev.start, n.start, prev.velocity)
        kept.append(n)
    return kept


def _lyrics(part: Any) -> str:
    from music21 import text

    try:
        words = text.assembleLyrics(part, lineNumber=1)
    except Exception:  # music21 trips over a few odd syllable sequences; lyrics are optional
        return ""
    return " ".join(str(words or "").split())


def _part_to_sequence(
    part: Any, shift: float, qpm: float, ts: tuple[int, int], name: str, source_id: str
) -> NoteSequence:
    from music21 import harmony

    spq = STEPS_PER_QUARTER
    notes = []
    for el in part.stripTies().flatten().notes:
        if isinstance(el, harmony.Harmony) or el.duration.isGrace:
            continue
        length = float(el.duration.quarterLength)
        pitches = [p.midi for p in getattr(el, "pitches", ())]
        if length <= 0 or not pitches:
            continue
        onset = float(el.offset) + shift
        start = _nearest(onset * spq)
        end = max(_nearest((onset + length) * spq), start + 1)
        notes.append(Note(max(pitches), start, end, VELOCITY))
    total = _nearest((float(part.highestTime) + shift) * spq)
    return NoteSequence(
        notes=_monophonic(notes),
        steps_per_quarter=spq,
        qpm=qpm,
        time_signature=ts,
        total_steps=total,
        source_id=source_id,
        lyrics=_lyrics(part),
        tracks={0: TrackInfo(name, 0, False)},
    )


@lru_cache(maxsize=1)
def _chorale_titles() -> dict[str, str]:
    from music21.corpus import chorales

    titles: dict[str, str] = {}
    for entry in chorales.ChoraleListRKBWV().byRiemenschneider.values():
        titles.setdefault(str(entry["bwv"]), str(entry["title"]))
    return titles


def _chorale_title(piece_id: str) -> str:
    bwv = piece_id.removeprefix("bwv")
    titles = _chorale_titles()
    return titles.get(bwv) or titles.get(bwv.split("-")[0]) or piece_id


def _satb_parts(parts: list) -> list | None:
    """The four voices: the only four parts, or the parts named Soprano/Alto/Tenor/Bass in a
    score that adds instruments (e.g. bwv1.6 has a horn; bwv190.7-inst a whole orchestra)."""
    if len(parts) == 4:
        return parts
    named: dict[str, list] = {v: [] for v in VOICES}
    for part in parts:
        name = (part.partName or "").strip().lower()
        for voice in VOICES:
            if name.startswith(voice[:4]):  # "Soprano", "Sopran", "Tenor 1"...
                named[voice].append(part)
    if all(len(found) == 1 for found in named.values()):
        return [named[v][0] for v in VOICES]
    return None


def _parse(item: CorpusItem) -> CorpusPiece | str:
    """The piece, or a one-line reason why it is skipped."""
    from music21 import converter, stream

    path = corpus_root() / item.path
    kwargs = {"number": item.number} if item.number is not None else {}
    parsed = converter.parse(path, forceSource=True, **kwargs)
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            return "the file holds no score"
        parsed = scores[0]
    parts = list(parsed.parts) or [parsed]

    if item.collection == CHORALE_COLLECTION:
        voices = _satb_parts(parts)
        if voices is None:
            return f"has {len(parts)} parts, not 4 and not one named for each of S, A, T, B"
        parts = voices
        qpm, title = _score_qpm(parsed, CHORALE_QPM), _chorale_title(item.id)
        names = VOICES
    else:
        parts = parts[:1]
        qpm, names = _score_qpm(parsed, FOLK_QPM), ("melody",)
        title = (parsed.metadata.title if parsed.metadata else None) or item.id
    ts, shift = _time_signature(parts[0]), _pickup_quarters(parts[0])
    sequences = {}
    for name, part in zip(names, parts, strict=True):
        seq = _part_to_sequence(part, shift, qpm, ts, name.capitalize(), f"{item.id}/{name}")
        if not seq.notes:
            return f"the {name} part has no notes"
        sequences[name] = seq
    return CorpusPiece(item.id, item.collection, str(title), sequences, sequences[names[0]].lyrics)


def load_piece(
    item: CorpusItem, cache_dir: str | Path | None = None, stats: dict[str, int] | None = None
) -> CorpusPiece | None:
    """Parse one corpus item (or read it from the JSON cache); None if it is skipped.

    Skips (failed parse, wrong number of parts, empty part) are cached too, so a second pass
    does not re-parse them. ``stats`` counts "cached", "parsed" and "skipped".
    """
    stats = stats if stats is not None else {}
    cache = _cache_file(item, Path(cache_dir) if cache_dir is not None else default_cache_dir())
    if cache.exists():
        try:
            data = json.loads(cache.read_text())
            piece = None if "skipped" in data else CorpusPiece.from_dict(data)
        except (OSError, ValueError, KeyError, InputError):
            pass  # unreadable cache entry: parse again below
        else:
            stats["cached"] = stats.get("cached", 0) + 1
            if piece is None:
                stats["skipped"] = stats.get("skipped", 0) + 1
            return piece
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every ABC oddity it repairs
        try:
            result = _parse(item)
        except Exception as exc:  # music21 raises many kinds on malformed files
            result = f"music21 could not parse it ({type(exc).__name__}: {exc})"
    stats["parsed"] = stats.get("parsed", 0) + 1
    if isinstance(result, str):
        log.info("Skipping %s: %s", item.id, result)
        stats["skipped"] = stats.get("skipped", 0) + 1
        data: dict[str, Any] = {"id": item.id, "skipped": result}
    else:
        data = result.to_dict()
    try:
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps(data, separators=(",", ":")))
    except (OSError, InputError) as exc:  # a read-only cache only costs speed
        log.warning("Cannot write corpus cache %s: %s", cache, exc)
    return None if isinstance(result, str) else result


def _load_for_pool(item: CorpusItem, cache_dir: str) -> tuple[CorpusPiece | None, dict[str, int]]:
    stats: dict[str, int] = {}
    return load_piece(item, cache_dir, stats), stats


def load_pieces(
    items: Iterable[CorpusItem],
    workers: int = 1,
    cache_dir: str | Path | None = None,
    stats: dict[str, int] | None = None,
    executor: Executor | None = None,
) -> Iterator[tuple[CorpusItem, CorpusPiece | None]]:
    """``(item, piece or None)`` in the order of ``items``, parsed by ``workers`` processes.

    Lazy with a small look-ahead, so a consumer that stops early (a ``limit``) does not pay
    for the whole corpus; stopping cancels the work still queued. Cached items are read in
    this process; worker processes start only when something must really be parsed. Pass an
    ``executor`` to share one pool between several calls.
    """
    cache = str(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    stats = stats if stats is not None else {}
    if workers <= 1 and executor is None:
        for item in items:
            yield item, load_piece(item, cache, stats)
        return

    pool = executor
    own_pool = None
    pending: deque = deque()
    iterator = iter(items)
    try:
        while True:
            while len(pending) < 4 * max(workers, 1):
                item = next(iterator, None)
                if item is None:
                    break
                if _cache_file(item, Path(cache)).exists():
                    pending.append((item, None))  # cheap: read here, in order
                    continue
                if pool is None:
                    pool = own_pool = new_process_pool(workers)
                pending.append((item, pool.submit(_load_for_pool, item, cache)))
            if not pending:
                return
            item, future = pending.popleft()
            if future is None:
                yield item, load_piece(item, cache, stats)
                continue
            piece, item_stats = future.result()
            for key, value in item_stats.items():
                stats[key] = stats.get(key, 0) + value
            yield item, piece
    finally:
        for _, future in pending:
            if future is not None:
                future.cancel()
        if own_pool is not None:
            own_pool.shutdown(wait=True, cancel_futures=True)


def new_process_pool(workers: int) -> Executor:
    """A process pool for corpus parsing; its processes start on the first submitted task.

    Forked on Linux: fast, and it works from scripts without an ``if __name__ == "__main__"``
    guard (spawn would re-run them); the workers only run music21, never torch/OpenMP, so a
    parent holding such threads is safe. Spawned elsewhere (macOS/Windows defaults).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _iterate(
    items: list[CorpusItem],
    limit: int | None,
    cache_dir: str | Path | None,
    stats: dict[str, int] | None,
    workers: int,
) -> Iterator[CorpusPiece]:
    stats = stats if stats is not None else {}
    if limit is not None and limit <= 0:
        return
    count = 0
    loader = load_pieces(items, workers=workers, cache_dir=cache_dir, stats=stats)
    try:
        for _, piece in loader:
            if piece is None:
                continue
            yield piece
            count += 1
            stats["pieces"] = stats.get("pieces", 0) + 1
            if limit is not None and count >= limit:
                return
    finally:
        loader.close()
        if stats.get("skipped"):
            log.info(
                "Skipped %d corpus files (not 4 parts, empty or unparsable).", stats["skipped"]
            )


def iter_chorales(
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    stats: dict[str, int] | None = None,
    workers: int = 1,
) -> Iterator[CorpusPiece]:
    """Bach chorales with parts "soprano", "alto", "tenor", "bass" and the soprano's lyrics.

    Scores that fail to parse, or have neither exactly four parts nor four parts named for the
    voices, are skipped and counted in ``stats["skipped"]``; ``limit`` counts yielded pieces.
    """
    yield from _iterate(chorale_items(), limit, cache_dir, stats, workers)


def iter_folk(
    limit: int | None = None,
    collections: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
    stats: dict[str, int] | None = None,
    workers: int = 1,
) -> Iterator[CorpusPiece]:
    """Folk tunes (one part, "melody") from music21's ABC collections, collection by collection."""
    yield from _iterate(folk_items(collections), limit, cache_dir, stats, workers)
