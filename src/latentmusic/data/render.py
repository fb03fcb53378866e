"""Offline FluidSynth rendering: MIDI -> mono float32 audio with a SoundFont.

Rendering real sampled instruments from a SoundFont is how this project gets training
data without downloads: NSynth-style note sets (``notes.py``) and the same piece played by
several instruments (``domains.py``). We drive libfluidsynth directly (through
pyfluidsynth's ctypes handle) instead of ``PrettyMIDI.fluidsynth`` because we need float
output (no int16 clipping inside the synth, so a fixed gain keeps velocity differences),
both stereo channels mixed to mono, one synth reused across thousands of renders, effects
switched off for dry notes, and FluidSynth's chatter on stderr silenced.
"""

from __future__ import annotations

import ctypes
import importlib.util
import multiprocessing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from latentmusic.errors import DependencyError, InputError, LatentMusicError
from latentmusic.progress import progress_bar

FLUIDSYNTH_MISSING = (
    "The FluidSynth library is not installed; install it with: "
    "sudo apt-get install -y --no-install-recommends libfluidsynth3"
)
PYFLUIDSYNTH_MISSING = (
    "The pyfluidsynth package is not installed; install it with: pip install pyfluidsynth"
)
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
SYNTH_GAIN = 0.2  # FluidSynth's own default master gain; output is float, so nothing clips
MIN_SR, MAX_SR = 8000, 96000  # the sample rates libfluidsynth accepts
_BLOCK = 4096  # samples rendered per call when flushing effect tails
_FLUID_BUFSIZE = 64  # libfluidsynth renders in 64-sample blocks and applies events between them


def require_fluidsynth() -> ModuleType:
    """Import pyfluidsynth, or explain in one sentence how to install what is missing."""
    try:
        import fluidsynth
    except ModuleNotFoundError as exc:
        if exc.name == "fluidsynth":
            raise DependencyError(PYFLUIDSYNTH_MISSING) from exc
        raise DependencyError(FLUIDSYNTH_MISSING) from exc
    except (ImportError, OSError) as exc:  # pyfluidsynth raises these when libfluidsynth is absent
        raise DependencyError(FLUIDSYNTH_MISSING) from exc
    if not hasattr(fluidsynth, "Synth"):  # the unrelated PyPI package also called "fluidsynth"
        raise DependencyError(PYFLUIDSYNTH_MISSING)
    _silence_logs(fluidsynth)
    return fluidsynth


def _silence_logs(fluidsynth: ModuleType) -> None:
    """Drop libfluidsynth's log lines (missing presets, ...); we report problems ourselves."""
    lib = getattr(fluidsynth, "_fl", None)
    setter = getattr(lib, "fluid_set_log_function", None)
    if setter is None:
        return
    setter.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    setter.restype = ctypes.c_void_p
    for level in range(5):  # PANIC, ERR, WARN, INFO, DBG
        setter(level, None, None)


def default_soundfont() -> Path:
    """The General MIDI SoundFont that ships inside pretty_midi (TimGM6mb, 6 MB), always present."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise DependencyError(
            "pretty_midi is not installed; install it with: pip install pretty_midi"
        )
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def resolve_soundfont(path: str | Path | None = None) -> Path:
    """Check a user-given SoundFont path (None -> the bundled default) before any rendering."""
    if path is None:
        path = default_soundfont()
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"SoundFont {path} does not exist.")
    if path.suffix.lower() not in SOUNDFONT_SUFFIXES:
        raise InputError(f"{path} is not a SoundFont (expected a .sf2 or .sf3 file).")
    return path.resolve()


def check_sample_rate(sr: int) -> int:
    """FluidSynth renders only between 8 and 96 kHz; say so instead of failing inside C."""
    if not isinstance(sr, (int, np.integer)) or not MIN_SR <= int(sr) <= MAX_SR:
        raise InputError(f"Sample rate {sr} is not supported; FluidSynth renders 8000 to 96000 Hz.")
    return int(sr)


@dataclass(frozen=True)
class NoteEvent:
    """One note of a part, in seconds (what the renderer consumes; picklable for workers)."""

    pitch: int
    start: float
    end: float
    velocity: int


@dataclass(frozen=True)
class Part:
    """A line played by one General MIDI program, with its controllers and pitch bends.

    ``controls`` are ``(seconds, cc_number, value)`` (e.g. the sustain pedal, CC 64) and
    ``bends`` are ``(seconds, value)`` with value in -8192..8191, as in pretty_midi.
    """

    program: int
    notes: tuple[NoteEvent, ...]
    is_drum: bool = False
    controls: tuple[tuple[float, int, int], ...] = ()
    bends: tuple[tuple[float, int], ...] = ()


def parts_from_pretty_midi(pm: Any) -> list[Part]:
    """Convert a ``pretty_midi.PrettyMIDI`` into renderer parts (times already in seconds)."""
    parts = []
    for inst in pm.instruments:
        notes = tuple(
            NoteEvent(int(n.pitch), float(n.start), float(n.end), int(n.velocity))
            for n in inst.notes
            if n.end > n.start and n.velocity > 0
        )
        if notes:
            controls = tuple(
                (float(c.time), int(c.number), int(c.value)) for c in inst.control_changes
            )
            bends = tuple((float(b.time), int(b.pitch)) for b in inst.pitch_bends)
            parts.append(Part(int(inst.program), notes, bool(inst.is_drum), controls, bends))
    return parts


class Renderer:
    """A FluidSynth synth with one SoundFont loaded, reused for many renders.

    Creating a synth and loading a SoundFont costs far more than rendering one 4-second
    note, so the note and domain builders keep one Renderer per worker process. Renders
    are deterministic: the same parts always give the same samples, whatever came before.
    """

    def __init__(
        self, soundfont: str | Path | None = None, sr: int = 16000, effects: bool = True
    ) -> None:
        self._fluidsynth = require_fluidsynth()
        self.sr = check_sample_rate(sr)
        self.soundfont = resolve_soundfont(soundfont)
        self.effects = effects
        lib = self._fluidsynth._fl
        self._write = lib.fluid_synth_write_float
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int] + [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ] * 2
        self._write.restype = ctypes.c_int
        self._synth: Any = None
        self._used_effects = False
        self._open()

    def _open(self) -> None:
        """Start a synth, load the SoundFont and bring it to the state every render starts from."""
        settings = {"synth.reverb.active": int(self.effects), "synth.chorus.active": 0}
        synth = self._fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=float(self.sr), **settings)
        sfid = synth.sfload(str(self.soundfont))
        if sfid == -1:
            synth.delete()
            raise InputError(f"{self.soundfont} could not be loaded as a SoundFont.")
        self._synth, self._sfid, self._written = synth, sfid, 0
        # libfluidsynth's very first voice starts slightly differently from all later ones;
        # play one throw-away note so every real render starts from the same state.
        self._play([Part(0, (NoteEvent(60, 0.0, 0.05, 64),))], tail=0.05)

    def has_program(self, program: int, drum: bool = False) -> bool:
        """Whether the SoundFont defines this program (else FluidSynth would play another one)."""
        return self._synth.sfpreset_name(self._sfid, 128 if drum else 0, int(program)) is not None

    def program_name(self, program: int, drum: bool = False) -> str:
        """The SoundFont's own name for a program ("" when it has none)."""
        name = self._synth.sfpreset_name(self._sfid, 128 if drum else 0, int(program))
        return "" if name is None else str(name).strip()

    def _samples(self, n: int) -> np.ndarray:
        left = np.zeros(max(n, 0), np.float32)
        right = np.zeros(max(n, 0), np.float32)
        if n > 0:
            self._write(self._synth.synth, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
            self._written += n
        return 0.5 * (left + right)

    def _assign_channels(self, parts: list[Part]) -> list[int]:
        """One MIDI channel per part so parts never steal each other's program or controllers."""
        melodic = iter(c for c in range(256) if c % 16 != 9)
        drums = iter(c for c in range(256) if c % 16 == 9)  # FluidSynth's drum channels
        channels = []
        for part in parts:
            chan = next(drums) if part.is_drum else next(melodic)
            self._synth.program_select(chan, self._sfid, 128 if part.is_drum else 0, part.program)
            channels.append(chan)
        return channels

    def _play(self, parts: list[Part], tail: float) -> np.ndarray:
        if sum(p.is_drum for p in parts) > 16 or sum(not p.is_drum for p in parts) > 240:
            raise InputError("The MIDI has too many parts; at most 240 (and 16 drum parts) render.")
        channels = self._assign_channels(parts)
        # (sample, order, kind, channel, a, b): at one instant offs go first, then controllers
        # and bends, then note-ons (a repeated note is released before it is struck again)
        events = []
        for chan, part in zip(channels, parts, strict=True):
            for n in part.notes:
                pitch = int(np.clip(n.pitch, 0, 127))
                on = max(round(n.start * self.sr), 0)
                off = max(round(n.end * self.sr), on + 1)  # an off on the on's sample sorts first
                events.append((on, 2, "on", chan, pitch, int(np.clip(n.velocity, 1, 127))))
                events.append((off, 0, "off", chan, pitch, 0))
            for t, number, value in part.controls:
                when = max(round(t * self.sr), 0)
                events.append((when, 1, "cc", chan, int(number) & 127, int(np.clip(value, 0, 127))))
            for t, value in part.bends:
                when = max(round(t * self.sr), 0)
                events.append((when, 1, "bend", chan, int(np.clip(value, -8192, 8191)), 0))
        events.sort(key=lambda e: (e[0], e[1]))
        total = events[-1][0] + round(tail * self.sr)
        out = np.zeros(total, np.float32)
        position = 0
        for sample, _, kind, chan, a, b in events:
            if sample > position:
                out[position:sample] = self._samples(sample - position)
                position = sample
            if kind == "on":
                self._synth.noteon(chan, a, b)
            elif kind == "off":
                self._synth.noteoff(chan, a)
            elif kind == "cc":
                self._synth.cc(chan, a, b)
            else:
                self._synth.pitch_bend(chan, a)
        out[position:] = self._samples(total - position)
        self._clear(channels)
        return out

    def _clear(self, channels: list[int]) -> None:
        """Silence everything and start the next render on a synth block boundary.

        Order matters in libfluidsynth: an all-sounds-off queued before a system reset is
        undone by it (voices then ring on into the next render), so reset first. Events take
        effect at the synth's next 64-sample block, so aligning the start makes renders exact.
        """
        self._synth.system_reset()
        for chan in channels:
            self._synth.all_sounds_off(chan)
        for _ in range(10 * self.sr // _BLOCK):
            if np.abs(self._samples(_BLOCK)).max() < 1e-7:
                break
        self._samples(-self._written % _FLUID_BUFSIZE)

    def render(self, parts: Iterable[Part], tail: float = 1.0) -> np.ndarray:
        """Play the parts and return mono float32 audio at ``self.sr`` (raw synth level).

        Audio runs from time 0 to the last event (note-off, pedal, bend) plus ``tail``
        seconds of release.
        """
        parts = [p for p in parts if p.notes]
        if not parts:
            raise InputError("The MIDI has no notes to render.")
        if self._synth is None or self._used_effects:
            # the reverb's modulated delay lines never return to the same state: start afresh
            self.close()
            self._open()
        out = self._play(parts, tail)
        self._used_effects = self.effects
        return out

    def note(
        self, program: int, pitch: int, velocity: int, seconds: float, hold: float
    ) -> np.ndarray:
        """One NSynth-style note: held for ``hold`` s, then released, ``seconds`` s long in all."""
        part = Part(program, (NoteEvent(pitch, 0.0, hold, velocity),))
        audio = self.render([part], tail=max(seconds - hold, 0.0))
        n = round(seconds * self.sr)
        return np.pad(audio, (0, max(n - len(audio), 0)))[:n]

    def close(self) -> None:
        """Free the synth and its SoundFont (also done on ``with`` exit)."""
        if self._synth is not None:
            self._synth.delete()
            self._synth = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def peak_normalize(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """Scale a whole render to a fixed peak: no clipping, relative dynamics inside it kept."""
    top = float(np.abs(audio).max()) if audio.size else 0.0
    if top < 1e-9:
        return audio.astype(np.float32)
    return (audio * (peak / top)).astype(np.float32)


def render_midi(
    pm: Any,
    sr: int = 16000,
    soundfont: str | Path | None = None,
    normalize: bool = True,
    effects: bool = True,
    tail: float = 1.0,
) -> np.ndarray:
    """Render a ``pretty_midi.PrettyMIDI`` to mono float32 audio at ``sr``.

    With ``normalize`` the whole file is scaled to a 0.9 peak (velocities inside it keep
    their relative loudness); without it the synth's raw float level is returned.
    """
    parts = parts_from_pretty_midi(pm)
    if not parts:
        raise InputError("The MIDI has no notes to render.")
    with Renderer(soundfont, sr, effects=effects) as renderer:
        audio = renderer.render(parts, tail=tail)
    return peak_normalize(audio) if normalize else audio


class TaskPool:
    """Runs render tasks in ``workers`` processes (one pool for the whole build).

    Each worker calls ``init(*initargs)`` once and keeps its own FluidSynth synths; with
    ``workers == 1`` everything runs in this process and ``close`` frees its synths.
    Workers are spawned, never forked: libfluidsynth hangs loading a SoundFont in a child
    forked from a process that already loaded one. A worker that dies (or a script without
    a ``__main__`` guard) fails the build with one sentence instead of hanging it.
    """

    def __init__(
        self, fn: Any, init: Any, initargs: tuple, workers: int, close: Any = None
    ) -> None:
        self.fn, self.init, self.initargs, self.workers = fn, init, initargs, workers
        self._close = close
        self._pool: Any = None
        self._local = False

    def run(self, tasks: list, desc: str, progress: bool, unit: str = "note") -> Iterator[Any]:
        """Yield each task's result as it finishes (in any order), with a progress bar."""
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        with progress_bar(len(tasks), desc, unit, progress, leave=True) as bar:
            if not tasks:
                return
            if self.workers <= 1:
                if not self._local:
                    self.init(*self.initargs)
                    self._local = True
                for task in tasks:
                    yield self.fn(task)
                    bar.update()
                return
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=self.init,
                    initargs=self.initargs,
                )
            try:
                futures = [self._pool.submit(self.fn, task) for task in tasks]
                for future in as_completed(futures):
                    yield future.result()
                    bar.update()
            except BrokenProcessPool as exc:
                raise LatentMusicError(
                    "A render worker process died; run again with workers=1 to see why "
                    '(from a script, call this under if __name__ == "__main__":).'
                ) from exc

    def close(self) -> None:
        """Stop the worker processes (a build interrupted mid-way leaves no orphans)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._local:
            if self._close is not None:
                self._close()
            self._local = False

    def __enter__(self) -> TaskPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
