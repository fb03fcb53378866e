"""Build an NSynth-format note set by rendering General MIDI programs with FluidSynth.

NSynth itself cannot be downloaded here, so we make the same kind of data from the
sampled instruments inside SoundFonts: every (SoundFont, program) is one NSynth
"instrument", played at every pitch of its playable range and at NSynth's velocities,
each note 4 s at 16 kHz (held 3 s, then released). The output is byte-for-byte the
layout of the public release, so ``nsynth.read_examples`` and any NSynth tooling read it:

    OUT/{train,valid,test}/examples.json        keyed by note_str, NSynth's 13 fields
    OUT/{train,valid,test}/audio/<note_str>.wav  16-bit PCM
    OUT/build.json                               settings, instruments, splits, counts

Splits are by instrument (as in NSynth, the test instruments are never heard in
training); a family keeps at least one instrument in train. Re-running skips notes
already on disk, so an interrupted build resumes and a finished one is a no-op.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.audio import io
from latentmusic.data.domains import stable_fraction
from latentmusic.data.nsynth import NSYNTH_FAMILIES, NSYNTH_QUALITIES, NSYNTH_SOURCES
from latentmusic.data.render import Renderer, TaskPool, check_sample_rate, resolve_soundfont
from latentmusic.errors import InputError
from latentmusic.fileio import ensure_writable_dir, write_json

# ---------------------------------------------------------------------------- config
NSYNTH_PITCHES = range(21, 109)
NSYNTH_VELOCITIES = (25, 50, 75, 100, 127)
QUICK_PITCHES = range(48, 73, 3)  # the small subset demos and tests use
QUICK_VELOCITIES = (100,)
SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = {"valid": 0.15, "test": 0.15}  # the rest is train
NOTE_GAIN = 5.0  # fixed for every note, so velocity and instrument loudness survive
SILENT_PEAK = 1e-4  # renders quieter than this (a preset with no sample there) are skipped

# GM program -> (NSynth family, source) for every program that has an NSynth family.
# Drum kits, pads, sound effects and untuned percussion have none.
_GM_FAMILY: dict[int, tuple[str, str]] = {}
for _prog, _fam, _src in [
    *[(p, "keyboard", "acoustic") for p in (0, 1, 3, 6)],
    *[(p, "keyboard", "electronic") for p in (2, 4, 5, 7)],
    *[(p, "mallet", "acoustic") for p in range(8, 16)],
    *[(p, "organ", "electronic") for p in (16, 17, 18)],
    *[(p, "organ", "acoustic") for p in (19, 20)],
    *[(p, "reed", "acoustic") for p in (21, 22, 23)],
    *[(p, "guitar", "acoustic") for p in (24, 25)],
    *[(p, "guitar", "electronic") for p in range(26, 32)],
    (32, "bass", "acoustic"),
    *[(p, "bass", "electronic") for p in range(33, 38)],
    *[(p, "bass", "synthetic") for p in (38, 39)],
    *[(p, "string", "acoustic") for p in range(40, 47)],
    *[(p, "string", "acoustic") for p in (48, 49)],
    *[(p, "string", "synthetic") for p in (50, 51)],
    *[(p, "vocal", "acoustic") for p in (52, 53)],
    (54, "vocal", "synthetic"),
    *[(p, "brass", "acoustic") for p in range(56, 62)],
    *[(p, "brass", "synthetic") for p in (62, 63)],
    *[(p, "reed", "acoustic") for p in range(64, 72)],
    *[(p, "flute", "acoustic") for p in range(72, 80)],
    *[(p, "synth_lead", "synthetic") for p in range(80, 88)],
    *[(p, "guitar", "acoustic") for p in (104, 105, 106)],
    (107, "string", "acoustic"),
    (108, "mallet", "acoustic"),
    (109, "reed", "acoustic"),
    (110, "string", "acoustic"),
    (111, "reed", "acoustic"),
    (112, "mallet", "acoustic"),
    (114, "mallet", "acoustic"),
]:
    _GM_FAMILY[_prog] = (_fam, _src)
ALL_PROGRAMS = tuple(sorted(_GM_FAMILY))  # every melodic program (``--programs all``)

# Playable MIDI range of each family, narrowed per program where the real instrument is.
FAMILY_RANGES = {
    "bass": (28, 67),
    "brass": (40, 84),
    "flute": (60, 96),
    "guitar": (40, 84),
    "keyboard": (21, 108),
    "mallet": (45, 96),
    "organ": (24, 96),
    "reed": (45, 91),
    "string": (36, 100),
    "synth_lead": (36, 96),
    "vocal": (40, 84),
}
PROGRAM_RANGES = {
    4: (28, 103),  # electric piano
    5: (28, 103),
    6: (29, 89),  # harpsichord
    8: (60, 108),  # celesta
    9: (79, 108),  # glockenspiel
    11: (53, 89),  # vibraphone
    13: (65, 108),  # xylophone
    14: (60, 77),  # tubular bells
    40: (55, 100),  # violin
    41: (48, 88),  # viola
    42: (36, 76),  # cello
    43: (28, 67),  # contrabass
    46: (24, 103),  # harp
    56: (54, 86),  # trumpet
    57: (40, 72),  # trombone
    58: (28, 58),  # tuba
    60: (41, 77),  # french horn
    64: (56, 88),  # soprano sax
    65: (49, 81),  # alto sax
    66: (44, 76),  # tenor sax
    67: (36, 69),  # baritone sax
    68: (58, 91),  # oboe
    69: (52, 81),  # english horn
    70: (34, 75),  # bassoon
    71: (50, 91),  # clarinet
    72: (74, 108),  # piccolo
}

# A musically varied default set: 24 instruments over all 11 NSynth families and 3 sources.
DEFAULT_PROGRAMS = (
    32,  # acoustic bass
    33,  # electric bass (finger)
    38,  # synth bass 1
    56,  # trumpet
    57,  # trombone
    73,  # flute
    75,  # pan flute
    24,  # nylon guitar
    27,  # clean electric guitar
    0,  # acoustic grand piano
    4,  # electric piano 1
    6,  # harpsichord
    11,  # vibraphone
    12,  # marimba
    16,  # drawbar organ
    19,  # church organ
    65,  # alto sax
    71,  # clarinet
    40,  # violin
    42,  # cello
    80,  # square lead
    81,  # sawtooth lead
    52,  # choir aahs
    54,  # synth voice
)


# ---------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class InstrumentPlan:
    """One NSynth instrument: a program of a SoundFont, with its names, split and range."""

    instrument: int
    instrument_str: str
    family: str
    source: str
    program: int
    program_name: str
    soundfont: str
    split: str
    pitches: tuple[int, ...]


def gm_family(program: int) -> tuple[str, str]:
    """NSynth (family, source) of a General MIDI program, or InputError if it has none."""
    if program not in _GM_FAMILY:
        raise InputError(
            f"General MIDI program {program} has no NSynth instrument family "
            "(drums, pads and sound effects do not); choose melodic programs."
        )
    return _GM_FAMILY[program]


def playable_range(program: int) -> tuple[int, int]:
    """Lowest and highest MIDI pitch the instrument of a GM program plays."""
    return PROGRAM_RANGES.get(program, FAMILY_RANGES[gm_family(program)[0]])


def split_instruments(
    keys: Sequence[str], families: Sequence[str], test: Collection[str] = ()
) -> dict[str, str]:
    """Assign each instrument key to train/valid/test (about 70/15/15), deterministically.

    Instruments are taken for test, then valid, in stable-hash order, skipping any whose
    family would otherwise lose its last training instrument, so test instruments are
    unseen in training but their families are not (NSynth's own protocol). Keys listed in
    ``test`` are the test split instead, whatever their number: a wider note set can then
    keep a smaller one's test instruments, so models trained on either are measured alike.
    """
    n = len(keys)
    if n < 3:
        raise InputError(
            f"A note set needs at least 3 instruments to split by instrument into "
            f"train/valid/test; got {n}."
        )
    order = sorted(range(n), key=lambda i: stable_fraction(keys[i]))
    left = Counter(families)
    assigned: dict[int, str] = {}
    for i, key in enumerate(keys):
        if key in test:
            assigned[i] = "test"
            left[families[i]] -= 1
    if test and n - len(assigned) < 2:
        raise InputError(
            f"Holding out {len(assigned)} of {n} instruments for test leaves fewer than two "
            "for training and validation."
        )
    for split in ("valid",) if test else ("test", "valid"):
        want = max(1, round(SPLIT_FRACTIONS[split] * n))
        got = 0
        for keep_family in (True, False):  # relax the family rule only when it must be
            for i in order:
                if got == want or n - len(assigned) <= 1:
                    break
                if i in assigned or (keep_family and left[families[i]] < 2):
                    continue
                assigned[i] = split
                left[families[i]] -= 1
                got += 1
    return {keys[i]: assigned.get(i, "train") for i in range(n)}


def note_str(instrument_str: str, pitch: int, velocity: int) -> str:
    """NSynth's note name, e.g. ``keyboard_acoustic_004-060-025``."""
    return f"{instrument_str}-{pitch:03d}-{velocity:03d}"


def _check_ints(values: Iterable[Any], lo: int, hi: int, what: str) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise InputError(f"{what} must be integers from {lo} to {hi}; got {v!r}.")
        out.append(int(v))
    if not out:
        raise InputError(f"No {what.lower()} given.")
    return tuple(sorted(set(out)))


def _soundfont_list(soundfont: Any) -> list[Path]:
    if soundfont is None or isinstance(soundfont, (str, Path)):
        return [resolve_soundfont(soundfont)]
    fonts = [resolve_soundfont(s) for s in soundfont]
    if not fonts:
        raise InputError("No SoundFont given.")
    if len({f.name for f in fonts}) != len(fonts):
        raise InputError("Two SoundFonts share a file name; instrument names would collide.")
    return fonts


def plan_instruments(
    programs: Sequence[int],
    pitches: Sequence[int],
    soundfonts: Sequence[Path],
    sr: int,
    test_programs: Collection[int] = (),
) -> list[InstrumentPlan]:
    """Name, range-limit and split every (SoundFont, program) instrument (``test_programs``:
    the programs held out as the test split; default: a stable-hash choice)."""
    raw = []
    for font in soundfonts:
        with Renderer(font, sr, effects=False) as renderer:
            for program in programs:
                family, source = gm_family(program)
                if not renderer.has_program(program):
                    raise InputError(
                        f"SoundFont {font.name} has no General MIDI program {program}."
                    )
                lo, hi = playable_range(program)
                playable = tuple(p for p in pitches if lo <= p <= hi)
                if playable:  # an instrument none of the requested pitches fit is left out
                    raw.append(
                        (font, program, renderer.program_name(program), family, source, playable)
                    )
    if not raw:
        raise InputError("None of the requested pitches is in any instrument's playable range.")
    keys = [f"{font.name}:{program}" for font, program, *_ in raw]
    test_keys = [k for k, r in zip(keys, raw, strict=True) if r[1] in test_programs]
    splits = split_instruments(keys, [r[3] for r in raw], test=test_keys)
    per_kind: Counter[tuple[str, str]] = Counter()
    plans = []
    for i, (font, program, name, family, source, playable) in enumerate(raw):
        k = per_kind[(family, source)]
        per_kind[(family, source)] += 1
        plans.append(
            InstrumentPlan(
                instrument=i,
                instrument_str=f"{family}_{source}_{k:03d}",
                family=family,
                source=source,
                program=program,
                program_name=name,
                soundfont=str(font),
                split=splits[keys[i]],
                pitches=playable,
            )
        )
    return plans


# ---------------------------------------------------------------------------- qualities
def measure_qualities(audio: np.ndarray, sr: int, hold: float) -> list[int]:
    """NSynth's 10 quality flags, of which we measure the two the envelope defines.

    fast_decay: the note has decayed by 40 dB from its peak before the note-off.
    long_release: 0.5 s after the note-off it is within 20 dB of its level at note-off
    (and audible). The others (bright, percussive, ...) were human labels in NSynth and
    stay 0 rather than be guessed; reverb is 0 because notes are rendered dry.
    """
    frame = max(1, int(0.05 * sr))
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    db = 20 * np.log10(rms)
    peak = float(db.max())
    off = min(int(hold * sr) // frame, n) - 1  # the frame just before the note-off
    after = min(off + int(0.5 * sr) // frame, n - 1)
    flags = [0] * len(NSYNTH_QUALITIES)
    fast_decay = off >= 0 and db[off] < peak - 40
    flags[NSYNTH_QUALITIES.index("fast_decay")] = int(fast_decay)
    long_release = (
        not fast_decay and after > off >= 0 and db[after] > db[off] - 20 and db[after] > peak - 60
    )
    flags[NSYNTH_QUALITIES.index("long_release")] = int(long_release)
    return flags


# ---------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(sr: int, seconds: float, hold: float) -> None:
    _WORKER.clear()
    _WORKER.update(sr=sr, seconds=seconds, hold=hold, renderers={})


def _render_task(task: tuple[str, str, int, int, int, str]) -> dict[str, Any]:
    """Render (or re-read) one note; runs in a worker process with its own synths."""
    key, font, program, pitch, velocity, wav = task
    sr, seconds, hold = _WORKER["sr"], _WORKER["seconds"], _WORKER["hold"]
    path = Path(wav)
    status = "exists"
    if not path.exists():
        renderers = _WORKER["renderers"]
        if font not in renderers:
            renderers[font] = Renderer(font, sr, effects=False)
        audio = renderers[font].note(program, pitch, velocity, seconds, hold) * NOTE_GAIN
        peak = float(np.abs(audio).max())
        if peak < SILENT_PEAK:
            return {"key": key, "status": "silent", "peak": peak}
        io.save(path, audio, sr, subtype="PCM_16")
        status = "written"
    audio, _ = io.load(path)  # qualities always come from the file itself, however it got there
    return {
        "key": key,
        "status": status,
        "peak": float(np.abs(audio).max()),
        "qualities": measure_qualities(audio, sr, hold),
    }


def _close_worker() -> None:
    for renderer in _WORKER.get("renderers", {}).values():
        renderer.close()
    _WORKER.clear()


# ---------------------------------------------------------------------------- build
def _entry(
    plan: InstrumentPlan, note_id: int, pitch: int, velocity: int, sr: int, q: list[int]
) -> dict[str, Any]:
    """One examples.json record, with NSynth's 13 fields in NSynth's types."""
    return {
        "note": note_id,
        "note_str": note_str(plan.instrument_str, pitch, velocity),
        "instrument": plan.instrument,
        "instrument_str": plan.instrument_str,
        "instrument_family": NSYNTH_FAMILIES.index(plan.family),
        "instrument_family_str": plan.family,
        "instrument_source": NSYNTH_SOURCES.index(plan.source),
        "instrument_source_str": plan.source,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": sr,
        "qualities": q,
        "qualities_str": [name for name, flag in zip(NSYNTH_QUALITIES, q, strict=True) if flag],
    }


def _valid_qualities(entry: Any) -> bool:
    q = entry.get("qualities") if isinstance(entry, dict) else None
    return isinstance(q, list) and len(q) == len(NSYNTH_QUALITIES) and set(q) <= {0, 1}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def build_notes(
    out: str | Path,
    programs: Sequence[int] | None = None,
    pitches: Iterable[int] | None = None,
    velocities: Iterable[int] | None = None,
    soundfont: str | Path | Sequence[str | Path] | None = None,
    sr: int = 16000,
    seconds: float = 4.0,
    hold: float = 3.0,
    workers: int = 2,
    progress: bool = True,
    quick: bool = False,
    test_programs: Iterable[int] | None = None,
) -> Path:
    """Render an NSynth-format note set into ``out`` and return ``out``.

    ``programs`` are General MIDI programs (default: 24 over all NSynth families);
    ``soundfont`` may be one SoundFont or several (each program of each is an instrument);
    ``quick`` defaults pitches/velocities to a small subset (48..72 step 3, velocity 100).
    ``test_programs`` holds those programs out as the test split (default: a stable-hash
    choice of about 15 %), e.g. to keep a smaller set's test instruments in a wider one.
    Pitches outside an instrument's playable range are not rendered for it. Rendering uses
    spawned processes: call it under ``if __name__ == "__main__":`` in a script.
    """
    started = time.perf_counter()
    sr = check_sample_rate(sr)
    if not 0 < hold < seconds:
        raise InputError(
            f"The hold ({hold} s) must be positive and shorter than the note ({seconds} s)."
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"Workers must be a positive integer; got {workers!r}.")
    programs = _check_ints(DEFAULT_PROGRAMS if programs is None else programs, 0, 127, "Programs")
    if pitches is None:
        pitches = QUICK_PITCHES if quick else NSYNTH_PITCHES
    if velocities is None:
        velocities = QUICK_VELOCITIES if quick else NSYNTH_VELOCITIES
    pitches = _check_ints(pitches, 0, 127, "Pitches")
    velocities = _check_ints(velocities, 1, 127, "Velocities")
    for program in programs:
        gm_family(program)
    held_out: tuple[int, ...] = ()
    if test_programs is not None:
        held_out = _check_ints(test_programs, 0, 127, "Test programs")
        missing = [p for p in held_out if p not in programs]
        if missing:
            raise InputError(
                f"Test program(s) {', '.join(map(str, missing))} are not among the programs "
                "to render; a held-out instrument must be one of them."
            )
    fonts = _soundfont_list(soundfont)
    out = ensure_writable_dir(out)

    settings = {
        "sample_rate": sr,
        "seconds": float(seconds),
        "hold": float(hold),
        "gain": NOTE_GAIN,
        "soundfonts": [f.name for f in fonts],
        "programs": list(programs),
        "pitches": list(pitches),
        "velocities": list(velocities),
    }
    if held_out:  # only when given, so sets built before the option still match
        settings["test_programs"] = list(held_out)
    build_file = out / "build.json"
    previous = _read_json(build_file) if build_file.exists() else None
    if previous is not None and previous.get("settings") != settings:
        raise InputError(
            f"{out} already holds a note set built with other settings; "
            "use a new output directory or delete that one."
        )
    plans = plan_instruments(programs, pitches, fonts, sr, held_out)
    info: dict[str, Any] = {
        "format": "nsynth",
        "complete": False,
        "settings": settings,
        "instruments": [asdict(p) for p in plans],
    }
    if previous is None:
        write_json(build_file, info)

    note_id = 0
    counts: dict[str, Any] = {}
    pool = TaskPool(_render_task, _init_worker, (sr, seconds, hold), workers, _close_worker)
    with pool:
        for split in SPLITS:
            note_id = _build_split(
                out, split, plans, velocities, sr, pool, progress, note_id, counts
            )
    info = json.loads(json.dumps({**info, "complete": True, "counts": counts}))
    if previous is None or {k: v for k, v in previous.items() if k != "seconds_taken"} != info:
        info["seconds_taken"] = round(time.perf_counter() - started, 1)
        write_json(build_file, info)
    return out


def _build_split(
    out: Path,
    split: str,
    plans: list[InstrumentPlan],
    velocities: tuple[int, ...],
    sr: int,
    pool: TaskPool,
    progress: bool,
    note_id: int,
    counts: dict[str, Any],
) -> int:
    """Render the missing notes of one split and (re)write its examples.json when it changed."""
    split_dir = out / split
    audio_dir = split_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    old = _read_json(split_dir / "examples.json") or {}
    entries: dict[str, dict] = {}
    tasks, planned = [], {}
    for plan in (p for p in plans if p.split == split):
        for pitch in plan.pitches:
            for velocity in velocities:
                name = note_str(plan.instrument_str, pitch, velocity)
                planned[name] = (plan, note_id, pitch, velocity)
                note_id += 1
                wav = audio_dir / f"{name}.wav"
                prior = old.get(name)
                if wav.exists() and _valid_qualities(prior):
                    entries[name] = _entry(plan, *planned[name][1:], sr, prior["qualities"])
                else:
                    tasks.append((name, plan.soundfont, plan.program, pitch, velocity, str(wav)))
    silent = []
    for result in pool.run(tasks, f"notes {split}", progress):
        if result["status"] == "silent":
            silent.append(result["key"])
            continue
        plan, nid, pitch, velocity = planned[result["key"]]
        entries[result["key"]] = _entry(plan, nid, pitch, velocity, sr, result["qualities"])
    ordered = {name: entries[name] for name in planned if name in entries}
    if ordered != old:
        write_json(split_dir / "examples.json", ordered)
    counts[split] = {
        "instruments": sum(p.split == split for p in plans),
        "notes": len(ordered),
        "silent_skipped": sorted(silent),
    }
    return note_id
