"""The NSynth pad's server side: corner sounds in, a whole pre-rendered pad out, cached.

As NSynth Super did, the pad is rendered once per (model, corners, pitch, size) with the
family's own verb (:meth:`EmbeddingVerbs.pad`: four corners encoded, every position decoded
in one batch) and kept in memory, so the page cross-fades between neighbouring cells with no
server trip per move. Corner sounds are either presets (a General MIDI instrument note
rendered with FluidSynth from the project's SoundFont, the way ``latentmusic data notes``
renders NSynth-style notes, cached as WAVs in the studio's working folder) or short WAV
uploads (kept in memory under a content hash; the client names them only by that hash).

No web code here; ``app.py`` maps requests to these calls. Nothing is read or written at a
path a client chose: preset names come from :data:`CORNER_PRESETS`, uploads and pads are
looked up by hex ids in dictionaries.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.errors import InputError
from latentmusic.studio import limits

NOTE_SECONDS = limits.PAD_CELL_SECONDS  # every corner (and so every cell) lasts this long
NOTE_HOLD = 0.75 * NOTE_SECONDS  # preset notes: held, then released (NSynth: 3 s of 4)
NOTE_VELOCITY = 100
NOTE_GAIN = 5.0  # as `latentmusic data notes`: FluidSynth's raw level is quiet
SILENT_PEAK = 1e-4
DECODE_SEED = 0  # the harmonic model's noise (and any sampler) is fixed: a pad is repeatable
ID = re.compile(r"^[0-9a-f]{16}$")

# (name, label, General MIDI program): instruments the shipped harmonic model heard in
# training (data/notes-fluidr3), so presets sound like what it knows.
CORNER_PRESETS: list[dict[str, Any]] = [
    {"name": name, "label": label, "program": program}
    for name, label, program in (
        ("flute", "Flute", 73),
        ("trumpet", "Trumpet", 56),
        ("violin", "Violin", 40),
        ("clarinet", "Clarinet", 71),
        ("piano", "Grand piano", 0),
        ("organ", "Church organ", 19),
        ("alto-sax", "Alto sax", 65),
        ("vibraphone", "Vibraphone", 11),
        ("guitar", "Nylon guitar", 24),
        ("square-lead", "Square lead", 80),
    )
]
DEFAULT_CORNERS = ("flute", "trumpet", "violin", "clarinet")  # as the demo's pad
_PRESETS = {p["name"]: p for p in CORNER_PRESETS}


def no_model_note() -> str:
    """What the page says when no NSynth model is served."""
    from latentmusic.studio.engine import no_model_note as note

    return note("nsynth", "an NSynth", "latentmusic train nsynth --model harmonic ...")


@dataclass
class Pad:
    """One rendered pad: ``audio`` is (size, size, samples), row y from the top, column x
    from the left (as :meth:`EmbeddingVerbs.pad`)."""

    key: str
    model: str
    size: int
    pitch: int
    sample_rate: int
    audio: np.ndarray
    corners: list[str]
    render_ms: float
    pitch_applied: bool
    _wav: bytes | None = field(default=None, repr=False)
    _pngs: dict[tuple[int, int], bytes] = field(default_factory=dict, repr=False)

    @property
    def scale(self) -> float:
        """The one gain the WAV applies to every cell (loudest cell at 0.9 peak)."""
        peak = float(np.abs(self.audio).max()) if self.audio.size else 0.0
        return 0.9 / peak if peak > 1e-6 else 1.0

    def wav(self) -> bytes:
        """Every cell end to end, row by row, as one 16-bit mono WAV (one fetch, one decode)."""
        if self._wav is None:
            import soundfile as sf

            flat = (self.audio * self.scale).reshape(-1)
            buffer = io.BytesIO()
            sf.write(buffer, np.clip(flat, -1.0, 1.0), self.sample_rate, "PCM_16", format="WAV")
            self._wav = buffer.getvalue()
        return self._wav

    def rainbowgram_png(self, row: int, col: int) -> bytes:
        """The rainbowgram of one cell as a PNG (computed once per cell)."""
        if not (0 <= row < self.size and 0 <= col < self.size):
            raise InputError(
                f"This pad is {self.size} x {self.size}; there is no cell at row {row}, column {col}."
            )
        if (row, col) not in self._pngs:
            from PIL import Image

            from latentmusic.audio.rainbowgram import rainbowgram_image

            image = rainbowgram_image(self.audio[row, col], self.sample_rate)
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            self._pngs[(row, col)] = buffer.getvalue()
        return self._pngs[(row, col)]

    def info(self, cached: bool) -> dict[str, Any]:
        samples = int(self.audio.shape[-1])
        return {
            "model": self.model,
            "key": self.key,
            "size": self.size,
            "pitch": self.pitch,
            "pitch_applied": self.pitch_applied,
            "sample_rate": self.sample_rate,
            "cell_samples": samples,
            "cell_seconds": round(samples / self.sample_rate, 4),
            "cells": self.size * self.size,
            "corners": self.corners,
            "scale": self.scale,
            "peaks": np.abs(self.audio).max(axis=-1).round(5).tolist(),
            "cached": cached,
            "render_ms": round(self.render_ms, 1),
            "audio": f"/api/pads/{self.key}/audio.wav",
            "rainbowgram": f"/api/pads/{self.key}/rainbowgram/{{row}}/{{col}}.png",
            "layout": "cells row by row from the top left; the WAV holds them end to end",
        }


class PadStore:
    """Preset notes, uploaded corner sounds and rendered pads, for one studio."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir  # preset notes are kept here as WAVs (None: memory only)
        self.uploads: OrderedDict[str, tuple[np.ndarray, int, str]] = OrderedDict()
        self.pads: OrderedDict[str, Pad] = OrderedDict()
        self._notes: dict[tuple[str, int, int], np.ndarray] = {}
        self._lock = threading.Lock()  # the dictionaries
        self._synth_lock = threading.Lock()  # the one FluidSynth renderer
        self._renderer: Any = None

    # ----------------------------------------------------------------------- presets
    def preset_note(self, name: str, pitch: int, sample_rate: int) -> np.ndarray:
        """The preset instrument playing ``pitch`` for :data:`NOTE_SECONDS` at ``sample_rate``:
        rendered with FluidSynth on first use, then read from the working folder."""
        from latentmusic.audio import io as audio_io

        preset = _PRESETS.get(name)
        if preset is None:
            raise InputError(
                f"No corner preset '{_shown(name)}' (there are: {', '.join(_PRESETS)})."
            )
        _check_pitch(pitch)
        key = (name, int(pitch), int(sample_rate))
        with self._lock:
            if key in self._notes:
                return self._notes[key]
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"{name}-{int(pitch)}-{int(sample_rate)}.wav"
        if path is not None and path.is_file():
            audio = audio_io.load(path)[0]
        else:
            with self._synth_lock:
                if self._renderer is None or self._renderer.sr != sample_rate:
                    from latentmusic.data.render import Renderer

                    if self._renderer is not None:
                        self._renderer.close()
                    self._renderer = Renderer(None, sample_rate, effects=False)
                audio = self._renderer.note(
                    preset["program"], int(pitch), NOTE_VELOCITY, NOTE_SECONDS, NOTE_HOLD
                )
            audio = np.clip(audio * NOTE_GAIN, -1.0, 1.0).astype(np.float32)
            if float(np.abs(audio).max()) < SILENT_PEAK:
                raise InputError(
                    f"The SoundFont's {preset['label'].lower()} is silent at MIDI {pitch}; "
                    "choose another pitch or instrument."
                )
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                audio_io.save(path, audio, sample_rate, subtype="FLOAT")
        with self._lock:
            self._notes[key] = audio
        return audio

    # ----------------------------------------------------------------------- uploads
    def add_upload(self, data: bytes, filename: str = "") -> dict[str, Any]:
        """Check an uploaded WAV (size, format, duration, content) and keep it under the hash
        of its bytes; returns what the page needs to name it in a pad request."""
        import soundfile as sf

        if not data:
            raise InputError("The upload is empty; send the bytes of a WAV file.")
        if len(data) > limits.MAX_WAV_BYTES:
            raise InputError(
                f"The WAV file is {len(data) / 1024:.0f} KB; corner sounds may be at most "
                f"{limits.MAX_WAV_BYTES // 1024} KB."
            )
        try:
            info = sf.info(io.BytesIO(data))
            if info.format != "WAV":
                raise InputError(f"The upload is a {info.format} file, not a WAV file.")
            audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
            raise InputError("The upload is not a WAV file that can be read.") from exc
        seconds = audio.shape[0] / rate if rate else 0.0
        if seconds > limits.MAX_WAV_SECONDS:
            raise InputError(
                f"The WAV file lasts {seconds:.1f} s; corner sounds may last at most "
                f"{limits.MAX_WAV_SECONDS:.0f} s (one note, as NSynth's)."
            )
        if not limits.MIN_WAV_RATE <= rate <= limits.MAX_WAV_RATE:
            raise InputError(
                f"The WAV file's sample rate is {rate} Hz; the studio takes "
                f"{limits.MIN_WAV_RATE} to {limits.MAX_WAV_RATE} Hz."
            )
        if seconds < limits.MIN_WAV_SECONDS:
            raise InputError(
                f"The WAV file lasts {seconds * 1000:.0f} ms; a corner sound needs at least "
                f"{limits.MIN_WAV_SECONDS * 1000:.0f} ms."
            )
        mono = audio.mean(axis=1)
        if not np.isfinite(mono).all():
            raise InputError("The WAV file holds NaN or infinite samples.")
        if float(np.abs(mono).max()) < SILENT_PEAK:
            raise InputError("The WAV file is silent; a corner needs a sound to morph.")
        upload_id = hashlib.sha256(data).hexdigest()[:16]
        with self._lock:
            known = self.uploads.get(upload_id)
            label = _label(filename) or (known[2] if known else "upload")
            self.uploads[upload_id] = (np.clip(mono, -1.0, 1.0), int(rate), label)
            self.uploads.move_to_end(upload_id)
            while len(self.uploads) > limits.MAX_PAD_UPLOADS:
                self.uploads.popitem(last=False)
        return {
            "id": upload_id,
            "label": label,
            "seconds": round(seconds, 3),
            "sample_rate": int(rate),
            "channels": int(audio.shape[1]),
            "used_seconds": round(min(seconds, NOTE_SECONDS), 3),
        }

    def upload_audio(self, upload_id: str, sample_rate: int) -> tuple[np.ndarray, str]:
        from latentmusic.audio import io as audio_io

        if not ID.fullmatch(upload_id):
            raise InputError("An upload id is the 16 hex digits the upload returned.")
        with self._lock:
            found = self.uploads.get(upload_id)
        if found is None:
            raise InputError(
                f"No uploaded sound '{upload_id}' in this studio (it keeps the last "
                f"{limits.MAX_PAD_UPLOADS} in memory); upload it again."
            )
        audio, rate, label = found
        return audio_io.resample(audio, rate, sample_rate), label

    # -------------------------------------------------------------------------- pads
    def corner(self, spec: dict[str, str | None], pitch: int, sample_rate: int) -> tuple[Any, str]:
        """(audio, label) of one corner: ``{"preset": NAME}`` or ``{"upload": ID}``."""
        preset, upload = spec.get("preset"), spec.get("upload")
        if (preset is None) == (upload is None):
            raise InputError('Each corner is either {"preset": NAME} or {"upload": ID}.')
        if preset is not None:
            return self.preset_note(preset, pitch, sample_rate), str(preset)
        audio, label = self.upload_audio(str(upload), sample_rate)
        return audio, f"upload:{upload}:{label}"

    def render(
        self, found: Any, corners: list[dict[str, str | None]], pitch: int, size: int
    ) -> tuple[Pad, bool]:
        """The pad of ``found`` (a :class:`StudioModel` of the nsynth family) for these
        corners at ``pitch``: from the cache, or rendered now. Returns (pad, was cached)."""
        import torch

        model = found.model
        if len(corners) != 4:
            raise InputError(f"A pad needs 4 corners, not {len(corners)}.")
        _check_pitch(pitch)
        if not limits.MIN_PAD_SIZE <= size <= limits.MAX_PAD_SIZE:
            raise InputError(
                f"size must be between {limits.MIN_PAD_SIZE} and {limits.MAX_PAD_SIZE}, not {size}."
            )
        fast = getattr(model, "model_type", "") != "wavenet"
        if not fast and size * size > limits.MAX_SLOW_PAD_CELLS:
            raise InputError(
                f"Model '{found.name}' is a WaveNet decoder (slow on a CPU): its pads are at most "
                f"{limits.MAX_SLOW_PAD_CELLS} cells; ask for size 3 or use a harmonic model."
            )
        sr = int(model.sample_rate)
        takes_pitch = bool(getattr(model, "takes_pitch", False))
        tags = []
        for spec in corners:
            preset, upload = spec.get("preset"), spec.get("upload")
            if (preset is None) == (upload is None):
                raise InputError('Each corner is either {"preset": NAME} or {"upload": ID}.')
            tags.append(f"p:{preset}" if preset is not None else f"u:{upload}")
        key = hashlib.sha256(
            repr((found.name, tags, int(pitch), int(size), NOTE_SECONDS)).encode()
        ).hexdigest()[:16]
        with self._lock:
            if key in self.pads:
                self.pads.move_to_end(key)
                return self.pads[key], True
        audio, labels = [], []
        for spec in corners:
            clip, label = self.corner(spec, pitch, sr)
            audio.append(_fit(clip, sr, int(model.hop)))
            labels.append(label.split(":", 2)[-1] if label.startswith("upload:") else label)
        kwargs: dict[str, Any] = {"seed": DECODE_SEED}
        if takes_pitch:
            kwargs["pitch"] = float(pitch)
        with found.lock:
            with self._lock:  # another request may have rendered it while this one waited
                if key in self.pads:
                    return self.pads[key], True
            started = time.perf_counter()
            with torch.no_grad():
                grid = model.pad(audio, size=size, **kwargs)
            render_ms = 1000 * (time.perf_counter() - started)
        pad = Pad(
            key=key,
            model=found.name,
            size=size,
            pitch=int(pitch),
            sample_rate=sr,
            audio=grid.detach().cpu().numpy().astype(np.float32),
            corners=labels,
            render_ms=render_ms,
            pitch_applied=takes_pitch or all(s.get("preset") is not None for s in corners),
        )
        with self._lock:
            self.pads[key] = pad
            while len(self.pads) > limits.MAX_CACHED_PADS:
                self.pads.popitem(last=False)
        return pad, False

    def get(self, key: str) -> Pad:
        if not ID.fullmatch(key):
            raise InputError("A pad key is the 16 hex digits the pad render returned.")
        with self._lock:
            pad = self.pads.get(key)
        if pad is None:
            raise LookupError(
                f"No pad '{key}' in this studio's cache (it keeps the last "
                f"{limits.MAX_CACHED_PADS}); render it again."
            )
        return pad

    def close(self) -> None:
        with self._synth_lock:
            if self._renderer is not None:
                self._renderer.close()
                self._renderer = None


def _fit(audio: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    """Cut or pad a corner to :data:`NOTE_SECONDS`, in whole embedding frames."""
    n = int(NOTE_SECONDS * sample_rate) // hop * hop
    audio = np.asarray(audio, dtype=np.float32)[:n]
    return np.pad(audio, (0, n - audio.size))


def _check_pitch(pitch: int) -> None:
    if not limits.MIN_PAD_PITCH <= int(pitch) <= limits.MAX_PAD_PITCH:
        raise InputError(
            f"pitch must be a MIDI note between {limits.MIN_PAD_PITCH} and "
            f"{limits.MAX_PAD_PITCH}, not {pitch}."
        )


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "..."


def _label(filename: str) -> str:
    """A display name from an uploaded file's name: its stem, plain characters only."""
    stem = Path(filename.replace("\\", "/")).name.rsplit(".", 1)[0]
    return "".join(c for c in stem if c.isalnum() or c in " -_")[:40].strip()


def presets_json() -> list[dict[str, Any]]:
    from latentmusic.data.notes import gm_family

    return [{**p, "family": gm_family(p["program"])[0]} for p in CORNER_PRESETS]
