"""The translation booth's server side: a recording in, its translations into chosen domains
out, streamed to the page as they are made.

A recording may last minutes, so nothing here holds one in memory. The upload is streamed to
a file (refused past :data:`MAX_UPLOAD_BYTES`) and checked in one pass (format, rate,
length, content). A translation is a *job*: a worker thread feeds the file block by block
through the family's own :class:`~latentmusic.translation.streaming.TranslationStream` and
appends each target's samples to a 16-bit WAV whose header already holds the final length
(the stream returns exactly the input's number of samples, at the input's rate). The page
polls the job for progress, fetches the samples written so far to play them while the rest
is being made, and downloads each WAV once the job is done.

Files live in one temporary folder per studio: a folder per recording and per job, removed
when they are evicted, when a job fails or is cancelled, and when the studio stops. Nothing
is read or written at a path a client chose: recordings and jobs are hex ids looked up in
dictionaries, domains are looked up in the job. No web code here; ``app.py`` maps requests
to these calls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.errors import InputError

log = logging.getLogger("latentmusic.studio")

MB = 1024 * 1024
MAX_UPLOAD_BYTES = 128 * MB  # a recording as uploaded (about 12 min of 16-bit stereo 44.1 kHz)
MIN_SECONDS, MAX_SECONDS = 0.1, 600.0  # a recording's duration
MAX_SLOW_SECONDS = 10.0  # with WaveNet decoders (seconds of CPU per second of audio)
MIN_RATE, MAX_RATE = 8000, 192000
MAX_RECORDINGS = 4  # uploads kept (on disk) for translating again
MAX_JOBS = 8  # translations kept (on disk) for listening and downloading
MAX_ACTIVE_JOBS = 2  # queued or running at once
MAX_LIVE_SECONDS = 30.0  # audio in one answer of the live endpoint
CHUNK_SECONDS = 1.0  # the stream's chunk at the model's rate (as translate() and the CLI)
BLOCK_SECONDS = 1.0  # input read per block
DEFAULT_SEED = 0  # a translation is repeatable unless the page asks for another seed
SILENT_PEAK = 10.0 ** (-60.0 / 20.0)  # the translation family's silence (-60 dBFS)
FORMATS = {"WAV": "WAV", "WAVEX": "WAV", "RF64": "WAV", "FLAC": "FLAC", "OGG": "OGG",
           "MP3": "MP3", "AIFF": "AIFF"}  # fmt: skip
ACCEPTED = "a WAV, FLAC, OGG or MP3 file"
ID_CHARS = set("0123456789abcdef")
WAV_HEADER_BYTES = 44
ACTIVE = ("queued", "running")


class BoothError(InputError):
    """A refusal with its HTTP status (404 unknown id, 409 not ready, 413 too big, 429 busy);
    plain :class:`InputError` is a 422."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Cancelled(Exception):
    """The job was cancelled (by the page or because the studio stops)."""


def limits_dict() -> dict[str, float | int]:
    """The booth's caps for ``/api/limits`` (the page's messages use the server's numbers)."""
    return {
        "booth_max_upload_bytes": MAX_UPLOAD_BYTES,
        "booth_min_seconds": MIN_SECONDS,
        "booth_max_seconds": MAX_SECONDS,
        "booth_max_slow_seconds": MAX_SLOW_SECONDS,
        "booth_min_rate": MIN_RATE,
        "booth_max_rate": MAX_RATE,
    }


def too_big(size: int, more: bool = False) -> str:
    """The sentence for an upload over :data:`MAX_UPLOAD_BYTES` (``more``: one whose length
    was not announced, refused as soon as it passed the limit)."""
    if more:
        return (
            f"The recording is larger than the {MAX_UPLOAD_BYTES // MB} MB the translation "
            "booth takes per file."
        )
    return (
        f"The recording is {size / MB:.1f} MB; the translation booth takes files of at most "
        f"{MAX_UPLOAD_BYTES // MB} MB."
    )


def no_model_note() -> str:
    """What the page (and the API) says when no translation model is served."""
    from latentmusic.studio.engine import no_model_note as note

    return note(
        "translation", "a translation", "latentmusic train translation --data DIR --preset notegrid"
    )


def is_slow(model: Any) -> bool:
    """WaveNet decoders sample one value at a time: seconds of CPU per second of audio."""
    return getattr(model.config, "decoder", "wavenet") == "wavenet"


def model_info(found: Any) -> dict[str, Any]:
    """What the booth page needs to know about a translation model."""
    model = found.model
    decoder = str(getattr(model.config, "decoder", "wavenet"))
    return {
        "representation": decoder,
        "decoder": decoder,
        "domains": list(model.domains),
        "sample_rate": int(model.sample_rate),
        "latent_hz": round(model.sample_rate / model.config.pool, 3),
        "max_seconds": MAX_SLOW_SECONDS if is_slow(model) else MAX_SECONDS,
    }


# ---------------------------------------------------------------------------- WAV bytes
def wav_header(frames: int, rate: int) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV of ``frames`` samples."""
    data = 2 * int(frames)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, int(rate), 2 * int(rate), 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def pcm16(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM (clipped)."""
    scaled = np.round(np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


# --------------------------------------------------------------------------- recordings
@dataclass
class Recording:
    """One checked upload, kept on disk under the hash of its bytes."""

    id: str
    label: str
    path: Path
    format: str
    sample_rate: int
    frames: int
    channels: int
    peak: float

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def info(self) -> dict[str, Any]:
        notes = []
        if self.channels > 1:
            notes.append(f"The recording has {self.channels} channels; they are mixed to mono.")
        return {
            "id": self.id,
            "label": self.label,
            "format": self.format,
            "sample_rate": self.sample_rate,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "channels": self.channels,
            "peak": round(self.peak, 5),
            "notes": notes,
        }


class Incoming:
    """An upload being received: bytes appended to a file in its own folder, hashed and
    counted on the way; over the limit it is removed and refused with a 413."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "source"
        self.size = 0
        self._hash = hashlib.sha256()
        self._file = open(self.path, "wb")  # noqa: SIM115  (closed by finish/discard)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_UPLOAD_BYTES:
            self.discard()
            raise BoothError(413, too_big(self.size, more=True))
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> str:
        """Close the file; the hex id of its content."""
        self._file.close()
        return self._hash.hexdigest()[:16]

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def check_recording(path: Path) -> tuple[str, int, int, int, float]:
    """(format, rate, frames, channels, peak) of an uploaded file, read once from end to end;
    every way it can be unusable is one sentence."""
    import soundfile as sf

    if path.stat().st_size == 0:
        raise InputError(f"The upload is empty; send the bytes of {ACCEPTED}.")
    try:
        meta = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise InputError(
            f"The upload is not an audio file the booth can read; send {ACCEPTED}."
        ) from None
    kind = FORMATS.get(str(meta.format))
    if kind is None:
        raise InputError(f"The upload is a {meta.format} file; send {ACCEPTED}.")
    rate, channels = int(meta.samplerate), int(meta.channels)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(
            f"The recording's sample rate is {rate} Hz; the booth takes {MIN_RATE} to {MAX_RATE} Hz."
        )
    _check_seconds(int(meta.frames) / rate)
    frames, peak = 0, 0.0
    try:
        for block in sf.blocks(
            str(path), blocksize=int(10 * rate), dtype="float32", always_2d=True
        ):
            if not np.isfinite(block).all():
                raise InputError("The recording holds NaN or infinite samples.")
            frames += block.shape[0]
            peak = max(peak, float(np.abs(block.mean(axis=1)).max(initial=0.0)))
            if frames > MAX_SECONDS * rate:
                _check_seconds(frames / rate)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(
            "The recording could not be decoded to its end; the file may be damaged or cut short."
        ) from exc
    if frames == 0:
        raise InputError("The recording holds no audio samples.")
    _check_seconds(frames / rate)
    if frames < MIN_SECONDS * rate:
        raise InputError(
            f"The recording lasts {1000 * frames / rate:.0f} ms; the booth needs at least "
            f"{1000 * MIN_SECONDS:.0f} ms."
        )
    if peak < SILENT_PEAK:
        raise InputError(
            "The recording is silent (its peak stays below -60 dBFS); there is nothing to translate."
        )
    return kind, rate, frames, channels, peak


def _check_seconds(seconds: float) -> None:
    if seconds > MAX_SECONDS:
        raise InputError(
            f"The recording lasts {seconds:.0f} s; the booth takes at most {MAX_SECONDS:.0f} s "
            f"({MAX_SECONDS / 60:.0f} minutes) at a time."
        )


def read_blocks(path: Path, rate: int) -> Iterator[np.ndarray]:
    """The recording as mono float32 blocks of :data:`BLOCK_SECONDS`."""
    import soundfile as sf

    size = max(1, int(round(BLOCK_SECONDS * rate)))
    for block in sf.blocks(str(path), blocksize=size, dtype="float32", always_2d=True):
        yield block.mean(axis=1, dtype=np.float32)


# --------------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """One translation of a recording into one or more domains of one model."""

    id: str
    model: str
    recording: Recording
    targets: list[str]
    seed: int
    folder: Path
    files: dict[str, Path]
    downloads: dict[str, str]
    slow: bool
    state: str = "queued"
    error: str | None = None
    written: dict[str, int] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def total(self) -> int:
        return self.recording.frames

    def progress(self) -> float:
        if self.state == "done":
            return 1.0
        done = min(self.written.values(), default=0)
        return done / self.total if self.total else 0.0

    def info(self) -> dict[str, Any]:
        now = time.monotonic()
        running = (self.finished or now) - self.started if self.started is not None else 0.0
        fraction = self.progress()
        eta = None  # unknown while queued, or before the first chunk
        if self.state == "running" and fraction > 0:
            eta = running * (1.0 - fraction) / fraction
        elif self.state == "done":
            eta = 0.0
        audio_seconds = fraction * self.recording.seconds
        base = f"/api/booth/jobs/{self.id}"
        notes = list(self.recording.info()["notes"])
        return {
            "job": self.id,
            "model": self.model,
            "recording": self.recording.id,
            "label": self.recording.label,
            "state": self.state,
            "error": self.error,
            "seed": self.seed,
            "sample_rate": self.recording.sample_rate,
            "frames": self.total,
            "seconds": round(self.recording.seconds, 3),
            "progress": round(fraction, 4),
            "elapsed_seconds": round(running, 3),
            "eta_seconds": None if eta is None else round(eta, 2),
            "speed": round(audio_seconds / running, 2) if running > 0 and audio_seconds else None,
            "notes": notes,
            "targets": [
                {
                    "domain": name,
                    "samples": self.total if self.state == "done" else self.written.get(name, 0),
                    "progress": round(
                        1.0
                        if self.state == "done"
                        else self.written.get(name, 0) / max(1, self.total),
                        4,
                    ),
                    "done": self.state == "done",
                    "live": f"{base}/live/{_quote(name)}",
                    "wav": f"{base}/{_quote(name)}.wav",
                    "filename": self.downloads[name],
                }
                for name in self.targets
            ],
        }


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


class Booth:
    """Recordings and translation jobs, for one studio."""

    def __init__(self) -> None:
        self.recordings: OrderedDict[str, Recording] = OrderedDict()
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._finalizer: Any = None
        self.closed = False

    # ----------------------------------------------------------------------- folders
    @property
    def root(self) -> Path:
        """The studio's one temporary folder for the booth (made on first use)."""
        with self._lock:
            if self.closed:
                raise BoothError(503, "The studio is stopping; the booth takes no more work.")
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="latentmusic-booth-"))
                # removed when the studio stops, or at the latest when Python exits
                self._finalizer = weakref.finalize(
                    self, shutil.rmtree, str(self._root), ignore_errors=True
                )
            return self._root

    def _folder(self, kind: str) -> Path:
        folder = self.root / f"{kind}-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        return folder

    # -------------------------------------------------------------------- recordings
    def incoming(self) -> Incoming:
        """A new upload's file, in its own folder."""
        return Incoming(self._folder("upload"))

    def add_recording(self, incoming: Incoming, filename: str = "") -> dict[str, Any]:
        """Check a received upload and keep it under the hash of its bytes (the same file
        uploaded twice is one recording); a bad one is removed and refused in one sentence."""
        recording_id = incoming.finish()
        label = _label(filename) or "recording"
        with self._lock:
            known = self.recordings.get(recording_id)
            if known is not None:
                self.recordings.move_to_end(recording_id)
        if known is not None:  # the same bytes again: already checked
            incoming.discard()
            if _label(filename):
                known.label = label
            return known.info()
        try:
            kind, rate, frames, channels, peak = check_recording(incoming.path)
        except BaseException:
            incoming.discard()
            raise
        recording = Recording(
            recording_id, label, incoming.path, kind, rate, frames, channels, peak
        )
        evicted = []
        with self._lock:
            self.recordings[recording_id] = recording
            while len(self.recordings) > MAX_RECORDINGS:
                evicted.append(self.recordings.popitem(last=False)[1])
        for old in evicted:  # a job reads its own link to the file, never this folder
            shutil.rmtree(old.path.parent, ignore_errors=True)
        return recording.info()

    def recording(self, recording_id: str) -> Recording:
        if not _is_id(recording_id):
            raise InputError("A recording id is the 16 hex digits the upload returned.")
        with self._lock:
            found = self.recordings.get(recording_id)
        if found is None:
            raise BoothError(
                404,
                f"No recording '{recording_id}' in this studio (it keeps the last "
                f"{MAX_RECORDINGS}); upload it again.",
            )
        return found

    # -------------------------------------------------------------------------- jobs
    def start(
        self, found: Any, recording_id: str, targets: list[str], seed: int | None = None
    ) -> dict[str, Any]:
        """Check a translation request and start it in a worker thread; returns the job.

        ``found`` is a :class:`StudioModel` of the translation family. Everything that can
        be wrong with the request is refused here, before any work, in one sentence.
        """
        from latentmusic.translation.streaming import TranslationStream

        model = found.model
        recording = self.recording(recording_id)
        names = model.resolve_targets(list(targets))
        slow = is_slow(model)
        if slow and recording.seconds > MAX_SLOW_SECONDS:
            raise InputError(
                f"Model '{found.name}' has WaveNet decoders (slow on a CPU): the booth translates "
                f"at most {MAX_SLOW_SECONDS:.0f} s with it, and this recording lasts "
                f"{recording.seconds:.0f} s; upload a shorter one or use a note-bank model."
            )
        seed = DEFAULT_SEED if seed is None else int(seed)
        # the stream checks the length against the model (at least one latent frame)
        stream = TranslationStream(
            model, names, in_rate=recording.sample_rate, n_in=recording.frames,
            chunk_seconds=CHUNK_SECONDS, seed=seed, name="The recording",
        )  # fmt: skip
        with self._lock:
            active = sum(j.state in ACTIVE for j in self.jobs.values())
        if active >= MAX_ACTIVE_JOBS:
            raise BoothError(
                429,
                f"The booth is already running {active} translations; wait for one to finish.",
            )
        folder = self._folder("job")
        source = folder / "source"
        try:
            os.link(recording.path, source)  # evicting the recording leaves the job its file
        except OSError:
            shutil.copyfile(recording.path, source)
        job_id = uuid.uuid4().hex[:16]
        job = Job(
            id=job_id,
            model=found.name,
            recording=dataclasses.replace(recording, path=source),
            targets=names,
            seed=seed,
            folder=folder,
            files={name: folder / f"{i}.wav" for i, name in enumerate(names)},
            downloads={name: f"{recording.label}-{_safe(name)}.wav" for name in names},
            slow=slow,
            written=dict.fromkeys(names, 0),
        )
        evicted = []
        with self._lock:
            self.jobs[job_id] = job
            while len(self.jobs) > MAX_JOBS:
                oldest = next((k for k, j in self.jobs.items() if j.state not in ACTIVE), None)
                if oldest is None:
                    break
                evicted.append(self.jobs.pop(oldest))
        for old in evicted:
            shutil.rmtree(old.folder, ignore_errors=True)
        job.thread = threading.Thread(
            target=self._run, args=(job, found, stream), name=f"booth-{job_id}", daemon=True
        )
        job.thread.start()
        return job.info()

    def _run(self, job: Job, found: Any, stream: Any) -> None:
        """The worker: wait for the model, stream the recording through it, write the WAVs."""
        import torch

        handles: dict[str, Any] = {}
        locked = False
        try:
            while not found.lock.acquire(timeout=0.2):  # one request at a time per model
                if job.cancel.is_set():
                    raise Cancelled
            locked = True
            if job.cancel.is_set():
                raise Cancelled
            job.started = time.monotonic()
            job.state = "running"
            rate, total = job.recording.sample_rate, job.total
            for name, path in job.files.items():
                handles[name] = open(path, "wb")  # noqa: SIM115  (closed below)
                handles[name].write(wav_header(total, rate))
            with torch.no_grad():
                for outputs in stream.run(read_blocks(job.recording.path, rate)):
                    for name, audio in outputs.items():
                        if len(audio):
                            handles[name].write(pcm16(audio))
                            handles[name].flush()  # the live endpoint reads what is counted
                            job.written[name] += len(audio)
                    if job.cancel.is_set():
                        raise Cancelled
            for handle in handles.values():
                handle.close()
            short = [n for n, w in job.written.items() if w != total]
            if short:
                raise RuntimeError(f"the stream gave {job.written} samples, not {total}")
            job.finished = time.monotonic()
            job.state = "done"
        except Cancelled:
            job.state, job.error = "cancelled", "The translation was cancelled."
        except InputError as exc:
            job.state, job.error = "failed", " ".join(str(exc).split())
        except Exception as exc:
            log.exception("booth job %s failed", job.id)
            job.state = "failed"
            job.error = f"The translation failed ({type(exc).__name__}); the studio keeps running."
        finally:
            if locked:
                found.lock.release()
            for handle in handles.values():
                handle.close()
            job.finished = job.finished or time.monotonic()
            (job.folder / "source").unlink(missing_ok=True)
            if job.state != "done":  # nothing half-written is left behind
                shutil.rmtree(job.folder, ignore_errors=True)

    def job(self, job_id: str) -> Job:
        if not _is_id(job_id):
            raise InputError("A job id is the 16 hex digits the translate request returned.")
        with self._lock:
            found = self.jobs.get(job_id)
        if found is None:
            raise BoothError(
                404,
                f"No translation job '{job_id}' in this studio (it keeps the last {MAX_JOBS}); "
                "translate the recording again.",
            )
        return found

    def _target(self, job: Job, domain: str) -> Path:
        path = job.files.get(domain)
        if path is None:
            shown = domain if len(domain) <= 40 else domain[:40] + "..."
            raise BoothError(
                404,
                f"Job {job.id} has no target '{shown}' (it translates to: {', '.join(job.targets)}).",
            )
        if job.state in ("failed", "cancelled"):
            raise BoothError(409, job.error or f"The translation {job.state}.")
        return path

    def wav(self, job_id: str, domain: str) -> tuple[Path, str]:
        """(path, download name) of a finished translation."""
        job = self.job(job_id)
        path = self._target(job, domain)
        if job.state != "done":
            raise BoothError(
                409,
                f"The translation into '{domain}' is not finished yet ({100 * job.progress():.0f}%); "
                "its live audio plays while it is made.",
            )
        return path, job.downloads[domain]

    def live(self, job_id: str, domain: str, start: int) -> tuple[bytes, dict[str, str]]:
        """The samples of one target written so far from ``start`` (at most
        :data:`MAX_LIVE_SECONDS`) as a WAV, with headers saying where they lie."""
        job = self.job(job_id)
        path = self._target(job, domain)
        if start < 0 or start > job.total:
            raise InputError(f"start must be between 0 and {job.total}, not {start}.")
        written = job.total if job.state == "done" else job.written.get(domain, 0)
        rate = job.recording.sample_rate
        n = max(0, min(written - start, int(MAX_LIVE_SECONDS * rate)))
        data = b""
        if n:
            try:
                with open(path, "rb") as handle:
                    handle.seek(WAV_HEADER_BYTES + 2 * start)
                    data = handle.read(2 * n)
            except FileNotFoundError:  # failed or cancelled in the meantime
                raise BoothError(409, job.error or "The translation stopped.") from None
            n = len(data) // 2
            data = data[: 2 * n]
        headers = {
            "X-Start": str(start),
            "X-Samples": str(n),
            "X-Written": str(written),
            "X-Total": str(job.total),
            "X-State": job.state,
        }
        return wav_header(n, rate) + data, headers

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Stop a queued or running job (its files are removed), or forget a finished one."""
        job = self.job(job_id)
        if job.state in ACTIVE:
            job.cancel.set()
            if job.thread is not None:
                job.thread.join(timeout=10)
            return job.info()
        with self._lock:
            self.jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)
        return {**job.info(), "state": "removed"}

    def close(self) -> None:
        """Cancel every job and remove every file (the studio is stopping)."""
        with self._lock:
            self.closed = True
            jobs = list(self.jobs.values())
        for job in jobs:
            job.cancel.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=5)
        if self._finalizer is not None:
            self._finalizer()


def _is_id(value: str) -> bool:
    return len(value) == 16 and set(value) <= ID_CHARS


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._") or "target"


def _label(filename: str) -> str:
    """A display name from an uploaded file's name: its stem, plain characters only."""
    stem = Path(filename.replace("\\", "/")).name.rsplit(".", 1)[0]
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:40].strip("-_")
