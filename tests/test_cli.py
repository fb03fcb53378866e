"""The CLI: fast help, discovery, and one-sentence errors with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch

from latentmusic.train.checkpoint import save_checkpoint


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "latentmusic.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_is_fast_and_lists_groups() -> None:
    start = time.perf_counter()
    proc = run_cli("--help")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0
    for group in ("data", "train", "eval", "info", "demo"):
        assert group in proc.stdout
    assert elapsed < 3.0  # generous for a loaded CI box; typically ~0.2 s


def test_import_does_not_load_heavy_libraries() -> None:
    code = "import sys, latentmusic, latentmusic.cli.main; print(','.join(m for m in ('torch','librosa','music21','lightning','matplotlib') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_errors_are_one_sentence(tmp_path: Path) -> None:
    proc = run_cli("train", "wavenet", "--data", str(tmp_path), "--out", str(tmp_path / "r"))
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: Unknown model family 'wavenet'; choose one of: nsynth, translation, jukebox, musicvae."
    )
    proc = run_cli("info", str(tmp_path / "missing"))
    assert (
        proc.returncode == 1 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    )
    proc = run_cli("data", "notes", str(tmp_path / "n"), "--pitches", "sixty")
    assert proc.returncode == 1 and "--pitches expects numbers" in proc.stderr
    proc = run_cli(
        "data", "notes", str(tmp_path / "n"), "--programs", "0,73,40", "--test-programs", "12"
    )
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "error: Test program(s) 12 are not among the programs to render; "
        "a held-out instrument must be one of them."
    )
    assert not (tmp_path / "n").exists()  # nothing half-built is left behind
    proc = run_cli("demo", "--only", "karaoke", "--out", str(tmp_path / "d"))
    assert proc.returncode == 1 and "Unknown demo section(s) karaoke" in proc.stderr


def test_info_describes_a_checkpoint(tmp_path: Path) -> None:
    save_checkpoint(
        tmp_path / "ck",
        torch.nn.Linear(3, 2),
        family="toy",
        model_type="lin",
        preset="tiny",
        config={"width": 3},
        extra={"sample_rate": 16000},
        meta={"steps": 12, "data": "d"},
    )
    proc = run_cli("info", str(tmp_path / "ck"))
    assert proc.returncode == 0
    assert "toy / lin (preset 'tiny')" in proc.stdout and "parameters: 8" in proc.stdout
    assert "trained: 12 steps on d" in proc.stdout and "sample_rate: 16000" in proc.stdout


def test_unwritable_output_directory_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    for args in (
        ("data", "notes", str(blocker / "notes"), "--pitches", "60", "--programs", "0"),
        ("data", "melodies", str(blocker / "melodies"), "--max-pieces", "1"),
        ("demo", "--out", str(blocker / "demo")),
    ):
        proc = run_cli(*args)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith(f"error: Cannot create output directory {blocker}"), (
            proc.stderr
        )
        assert "Traceback" not in proc.stderr
