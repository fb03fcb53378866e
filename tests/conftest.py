"""Helpers the tests share: tiny data sets for every family, one torch thread, the CLI in-process.

Data builders (each writes real files in the layout the family's readers expect, so the real
trainers and evaluators run on them without FluidSynth or downloads):

- :func:`make_note_set`: NSynth-format notes (harmonic tones of a few "instruments");
- :func:`make_domains`: folder-per-domain audio, the same melodies in different waveforms;
- :func:`make_jukebox_folder`: ``ROOT/<genre>/<artist>/<piece>.wav``;
- :func:`make_melody_set`: MIDI melodies with train/valid/test folders.

The studio's browser tests share :func:`studio_server` (``latentmusic studio`` in a
subprocess) and the ``browser`` fixture (headless Chromium through selenium).

Import them with ``from tests.conftest import ...``; the fixtures need no import.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.data.nsynth import NSYNTH_FAMILIES

SR = 16000
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NO_CHROMIUM = "needs Chromium: apt-get install -y --no-install-recommends chromium chromium-driver"


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture
def one_thread():
    """Tests share 2 busy cores: one torch thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def node_threads(request: pytest.FixtureRequest) -> Iterator[int]:
    """One torch thread (a one-node stack takes its examples in turn) or two (it splits
    them over threads of its own); the node must give the count back."""
    old = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    assert torch.get_num_threads() == request.param
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by selenium,
    downloading into ``browser.downloads``."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(NO_CHROMIUM)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="studio-chromium-")
    downloads = Path(tempfile.mkdtemp(prefix="studio-downloads-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(downloads, ignore_errors=True)


def _wait_until_listening(address: str, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    """The studio names its address before uvicorn accepts connections; on a busy machine
    the browser can get there first (connection refused). Wait for the socket."""
    import socket

    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the studio at {address} did not accept connections within {seconds:.0f} s")


@contextmanager
def studio_server(root: Path, models: Sequence[str | Path]) -> Iterator[dict]:
    """`latentmusic studio --port 0` serving ``models``, in a subprocess; yields its ``url``,
    ``workdir`` and ``proc``. It is stopped as a user stops it (SIGTERM, like Ctrl+C) and
    must then exit cleanly."""
    exe = Path(sys.executable).with_name("latentmusic")
    command = [str(exe), "studio", "--port", "0", "--threads", "1", "--workdir", str(root / "work")]
    for model in models:
        command += ["--models", str(model)]
    log = open(root / "stderr.txt", "w+")  # noqa: SIM115  (a file, not a pipe that could fill)
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
    )
    try:
        line = proc.stdout.readline()  # the first line names the address
        if "http://" not in line:
            proc.kill()
            pytest.fail(f"studio did not start: {line}{(root / 'stderr.txt').read_text()}")
        url = line.split("http://", 1)[1].split("/", 1)[0]
        _wait_until_listening(url, proc)
        yield {"url": f"http://{url}", "workdir": root / "work", "proc": proc}
    finally:
        out = ""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        errors = (root / "stderr.txt").read_text()
        assert proc.returncode == 0 and "studio stopped" in out, errors


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``latentmusic ARGS`` in this process; (exit code, stdout, stderr)."""
    from latentmusic.cli.main import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------- training
def tiny_settings(out: Path, steps: int, **settings: object):  # noqa: ANN201
    """Settings for a few-step CPU run: validate and export once, at the end, log every step."""
    from latentmusic.train.harness import TrainSettings

    base: dict[str, object] = dict(
        out=out,
        max_steps=steps,
        batch_size=2,
        val_every=steps,
        ckpt_every=steps,
        log_every=1,
        val_batches=1,
        progress=False,
        accelerator="cpu",
        seed=0,
    )
    base.update(settings)
    return TrainSettings(**base)


def train_family(
    family: str,
    data: Path,
    out: Path,
    *,
    model_type: str | None = None,
    preset: str = "tiny",
    steps: int = 4,
    overrides: Sequence[str] = (),
    init: Path | None = None,
    **settings: object,
) -> Path:
    """Train through ``latentmusic.<family>.train.train``, as ``latentmusic train`` calls it."""
    from latentmusic.registry import family_part
    from latentmusic.train.harness import TrainJob

    job = TrainJob(
        data, tiny_settings(out, steps, **settings), preset, model_type, tuple(overrides), init
    )
    return family_part(family, "train").train(job)


def train_tiny(
    data: Path, out: Path, model_type: str = "wavenet", steps: int = 4, **settings: object
) -> Path:
    """Train a tiny NSynth model through the real ``train`` entry point (a few steps)."""
    return train_family("nsynth", data, out, model_type=model_type, steps=steps, **settings)


# ------------------------------------------------------------------------------- nsynth notes
# (instrument_str, family, harmonic amplitudes)
INSTRUMENTS = {
    "flute_acoustic_000": ("flute", [1.0, 0.3, 0.1]),
    "organ_electronic_000": ("organ", [1.0, 0.0, 0.5, 0.0, 0.3, 0.0, 0.2]),
    "brass_acoustic_000": ("brass", [1.0 / k for k in range(1, 12)]),
    "flute_acoustic_001": ("flute", [1.0, 0.2, 0.05, 0.02]),
    "organ_electronic_001": ("organ", [1.0, 0.0, 0.4, 0.0, 0.4]),
    "brass_acoustic_001": ("brass", [1.0 / k**0.8 for k in range(1, 10)]),
}
SPLITS = {
    "train": ["flute_acoustic_000", "organ_electronic_000", "brass_acoustic_000"],
    "valid": ["flute_acoustic_001"],
    "test": ["organ_electronic_001", "brass_acoustic_001"],
}


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def tone(pitch: float, amps: list[float], seconds: float = 0.5, sr: int = SR) -> np.ndarray:
    """A harmonic tone with a 10 ms attack and a slow exponential decay, peak 0.5."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = midi_hz(pitch)
    x = sum(
        a * np.sin(2 * np.pi * f * k * t) for k, a in enumerate(amps, 1) if a and f * k < 0.45 * sr
    )
    env = np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)
    return (0.5 * x / np.abs(x).max() * env).astype(np.float32)


def make_note_set(
    root: Path, pitches: tuple[int, ...] = (55, 60, 64, 67), seconds: float = 0.5
) -> Path:
    """Write an NSynth-format set (train/valid/test by instrument) and return its root.

    Notes are harmonic tones with instrument-specific spectra (a "flute" of few harmonics, an
    "organ" of odd harmonics, a "brass" sawtooth), in NSynth's exact layout.
    """
    note_id = 0
    for split, names in SPLITS.items():
        audio_dir = root / split / "audio"
        audio_dir.mkdir(parents=True, exist_ok=True)
        examples = {}
        for inst_id, name in enumerate(INSTRUMENTS):
            if name not in names:
                continue
            family, amps = INSTRUMENTS[name]
            source = name.split("_")[1]
            for pitch in pitches:
                note_str = f"{name}-{pitch:03d}-100"
                sf.write(
                    audio_dir / f"{note_str}.wav", tone(pitch, amps, seconds), SR, subtype="PCM_16"
                )
                examples[note_str] = {
                    "note": note_id,
                    "note_str": note_str,
                    "instrument": inst_id,
                    "instrument_str": name,
                    "instrument_family": NSYNTH_FAMILIES.index(family),
                    "instrument_family_str": family,
                    "instrument_source": ("acoustic", "electronic", "synthetic").index(source),
                    "instrument_source_str": source,
                    "pitch": pitch,
                    "velocity": 100,
                    "sample_rate": SR,
                    "qualities": [0] * 10,
                    "qualities_str": [],
                }
                note_id += 1
        (root / split / "examples.json").write_text(json.dumps(examples, indent=1))
    return root


# ------------------------------------------------------------------------------- domains
def wave(kind: str, freqs: list[float], seconds_each: float, sr: int = SR) -> np.ndarray:
    """A little melody (one frequency per note) with a given waveform."""
    parts = []
    for f in freqs:
        t = np.arange(int(seconds_each * sr)) / sr
        s = np.sin(2 * np.pi * f * t)
        if kind == "square":
            s = np.sign(s) * 0.7
        elif kind == "saw":
            s = 2.0 * ((f * t) % 1.0) - 1.0
        elif kind == "triangle":
            s = 2.0 * np.abs(2.0 * ((f * t) % 1.0) - 1.0) - 1.0
        env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        parts.append(0.4 * s * env)
    return np.concatenate(parts).astype(np.float32)


def make_domains(
    root: Path, kinds: tuple[str, ...] = ("sine", "square"), pieces: int = 5, seed: int = 0
) -> Path:
    """Paired synthetic domains: the same melodies (piece_i) played with different waveforms."""
    rng = np.random.default_rng(seed)
    melodies = [list(rng.uniform(180, 700, size=4)) for _ in range(pieces)]
    for kind in kinds:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i, freqs in enumerate(melodies):
            sf.write(root / kind / f"piece{i}.wav", wave(kind, freqs, 0.3), SR)
    return root


# ------------------------------------------------------------------------------- jukebox
def make_jukebox_folder(root: Path, seconds: float = 1.5, pieces: int = 4) -> Path:
    """ROOT/<genre>/<artist>/<piece>.wav: sines vs. saw waves, two 'artists' each, and one
    lyrics file (``sine/anna/anna0.txt``)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    for genre in ("sine", "saw"):
        for artist in ("anna", "ben"):
            for i in range(pieces):
                f = rng.uniform(200, 500)
                x = np.sin(2 * np.pi * f * t) if genre == "sine" else 2 * ((f * t) % 1.0) - 1
                path = root / genre / artist / f"{artist}{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, (0.4 * x * np.exp(-0.7 * t)).astype(np.float32), SR)
    (root / "sine" / "anna" / "anna0.txt").write_text("Hello tiny world")
    return root


# ------------------------------------------------------------------------------- melodies
def write_melody(path: Path, seed: int, bars: int = 4) -> None:
    """A random C-major melody of ``bars`` bars (notes of 2, 4 or 8 sixteenths) as MIDI."""
    from latentmusic.midi.io import write_sequence
    from latentmusic.midi.representations import MELODY, pitch_to_class

    rng = np.random.default_rng(seed)
    events = np.zeros(bars * 16, np.int64)
    t = 0
    while t < len(events):
        events[t] = pitch_to_class(int(rng.choice([60, 62, 64, 65, 67, 69, 71, 72])))
        t += int(rng.choice([2, 4, 4, 8]))
    write_sequence(MELODY.decode(events, qpm=100), path)


def make_melody_set(root: Path, train: int = 12, valid: int = 3, test: int = 3) -> Path:
    """ROOT/train/tune{i}.mid (seed i), ROOT/valid/v{i}.mid (100 + i), ROOT/test/t{i}.mid (200 + i)."""
    for i in range(train):
        write_melody(root / "train" / f"tune{i}.mid", i)
    for i in range(valid):
        write_melody(root / "valid" / f"v{i}.mid", 100 + i)
    for i in range(test):
        write_melody(root / "test" / f"t{i}.mid", 200 + i)
    return root
