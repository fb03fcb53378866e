"""MusicVAE end to end: `latentmusic train musicvae`, the verbs on MIDI files, errors, eval."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

import latentmusic
from latentmusic.cli.main import main
from latentmusic.evaluation import EvalJob
from latentmusic.midi.io import read_sequence
from latentmusic.midi.representations import MELODY
from latentmusic.musicvae.attributes import attributes_for, load_vectors
from latentmusic.musicvae.evaluate import evaluate
from latentmusic.musicvae.model import MusicVAE
from latentmusic.train.checkpoint import save_checkpoint
from tests.conftest import make_melody_set, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "midi"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny model trained through the CLI on a small melody folder with splits."""
    root = tmp_path_factory.mktemp("musicvae")
    data = root / "data"
    make_melody_set(data)
    (data / "train" / "ode.mid").write_bytes((FIXTURES / "melody.mid").read_bytes())
    out = root / "run"
    try:
        main(["train", "musicvae", "--data", str(data), "--out", str(out), "--preset", "tiny",
              "--steps", "100", "--batch-size", "8", "--val-every", "50", "--ckpt-every", "50",
              "--threads", "1", "--accelerator", "cpu", "--no-progress"])  # fmt: skip
    except SystemExit as exc:
        assert not exc.code
    return out, data


def test_training_logs_metrics_and_exports_attribute_vectors(run: tuple[Path, Path]) -> None:
    out, _ = run
    header = (out / "logs" / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in ("train/loss", "train/kl", "train/recon", "train/accuracy", "val/accuracy", "val/loss",
                "val/greedy_accuracy", "train/beta", "train/lr"):  # fmt: skip
        assert key in header
    meta = json.loads((out / "meta.json").read_text())
    assert meta["steps"] == 100 and "train windows" in meta["data"]
    config = json.loads((out / "config.json").read_text())
    assert (
        config["family"] == "musicvae"
        and config["preset"] == "tiny"
        and config["model_type"] == "flat"
    )
    assert isinstance(latentmusic.load(out), MusicVAE)
    vectors = load_vectors(out / "attributes.npz")
    assert set(vectors) == set(attributes_for("melody")) and vectors["note_density"][
        "vector"
    ].shape == (32,)
    assert vectors["note_density"]["high_mean"] > vectors["note_density"]["low_mean"]


def _pm(path: Path) -> pretty_midi.PrettyMIDI:
    return pretty_midi.PrettyMIDI(str(path))


def test_sample_writes_daw_ready_midi_and_wav(
    run: tuple[Path, Path], capsys, tmp_path: Path
) -> None:  # noqa: ANN001
    out, _ = run
    code, stdout, _ = run_cli(capsys, "musicvae", "sample", "--model", out, "-n", "3", "--seed", "1",
                          "--qpm", "90", "-o", tmp_path / "s.mid", "--each", "--wav",
                          "--temperature", "0.9")  # fmt: skip
    assert code == 0 and "wrote" in stdout
    pm = _pm(tmp_path / "s.mid")
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90.0, rel=1e-5)  # MIDI stores µs per beat
    assert [(i.name, i.program, i.is_drum) for i in pm.instruments] == [("melody", 0, False)]
    seq = read_sequence(tmp_path / "s.mid")
    assert seq.total_steps == 3 * 32 + 2 * 16  # three 2-bar samples, a bar of rest between
    for i in (1, 2, 3):
        assert read_sequence(tmp_path / f"s-0{i}.mid").total_steps == 32
    audio, sr = soundfile.read(tmp_path / "s-01.wav")
    assert sr == 44100 and np.abs(audio).max() > 0.1
    again = tmp_path / "again.mid"
    run_cli(capsys, "musicvae", "sample", "--model", out, "-n", "3", "--seed", "1", "--qpm", "90", "-o", again,
        "--temperature", "0.9")  # fmt: skip
    assert read_sequence(again).notes == seq.notes


def test_interpolate_similar_attribute_encode_decode_reconstruct(
    run: tuple[Path, Path],
    capsys,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    out, data = run
    a, b = data / "test" / "t0.mid", data / "test" / "t1.mid"
    # A briefly trained model decodes mostly rests greedily: sample at temperature 0.9 so every
    # output holds notes (the learning itself is tested in test_musicvae_model.py).
    hot = ["--temperature", "0.9", "--seed", "0"]
    code, _, err = run_cli(capsys, "musicvae", "interpolate", a, b, "--model", out, "--steps", "5",
                       "-o", tmp_path / "i.mid", "--each", *hot)  # fmt: skip
    assert code == 0, err
    assert (
        read_sequence(tmp_path / "i.mid").total_steps == 5 * 32
        and (tmp_path / "i-05.mid").is_file()
    )
    corners = [data / "test" / f"t{i}.mid" for i in range(3)] + [data / "valid" / "v0.mid"]
    assert (
        run_cli(
            capsys,
            "musicvae",
            "interpolate",
            *corners,
            "-m",
            out,
            "--steps",
            "3",
            "-o",
            tmp_path / "g.mid",
            *hot,
        )[0]
        == 0
    )
    assert read_sequence(tmp_path / "g.mid").total_steps == 9 * 32
    assert run_cli(capsys, "musicvae", "similar", a, "-m", out, "-n", "2", "--similarity", "0.7",
               "-o", tmp_path / "v.mid", *hot)[0] == 0  # fmt: skip
    assert read_sequence(tmp_path / "v.mid").total_steps == 2 * 32 + 16
    code, _, err = run_cli(capsys, "musicvae", "attribute", a, "-m", out, "--attribute", "note_density",
                       "--magnitude", "1.5", "-o", tmp_path / "a.mid", *hot)  # fmt: skip
    assert code == 0, err
    both = read_sequence(tmp_path / "a.mid")
    assert both.total_steps == 2 * 32 + 16
    original = [(n.pitch, n.start, n.end) for n in both.notes if n.start < 32]
    source = MELODY.decode(MELODY.encode(read_sequence(a))[:32])
    assert original == [(n.pitch, n.start, n.end) for n in source.notes]
    assert run_cli(capsys, "musicvae", "encode", a, b, "-m", out, "-o", tmp_path / "z.npy")[0] == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (2, 32)
    assert np.allclose(
        z, latentmusic.load(out).encode([read_sequence(a), read_sequence(b)]).numpy(), atol=1e-6
    )
    assert run_cli(capsys, "musicvae", "encode", a, "-m", out, "-o", tmp_path / "z.json")[0] == 0
    assert len(json.loads((tmp_path / "z.json").read_text())["z"][0]) == 32
    args = ["-m", out, "--gap-bars", "0", *hot]
    assert (
        run_cli(capsys, "musicvae", "decode", tmp_path / "z.npy", *args, "-o", tmp_path / "d.mid")[
            0
        ]
        == 0
    )
    assert run_cli(capsys, "musicvae", "reconstruct", a, b, *args, "-o", tmp_path / "r.mid")[0] == 0
    assert read_sequence(tmp_path / "d.mid").notes == read_sequence(tmp_path / "r.mid").notes


def test_cli_errors_are_one_clear_sentence(run: tuple[Path, Path], capsys, tmp_path: Path) -> None:  # noqa: ANN001
    out, data = run
    empty = tmp_path / "empty.mid"
    silent = pretty_midi.PrettyMIDI()
    silent.instruments.append(pretty_midi.Instrument(0))
    silent.write(str(empty))
    a = data / "test" / "t0.mid"
    cases = [
        (["musicvae", "reconstruct", empty, "-m", out, "-o", tmp_path / "x.mid"], f"error: {empty} contains no notes."),
        (["musicvae", "similar", FIXTURES / "drums.mid", "-m", out, "-o", tmp_path / "x.mid"],
         f"error: {FIXTURES / 'drums.mid'} has no bars this melody model can use (it needs notes between MIDI 21 and 108)."),
        (["musicvae", "attribute", a, "-m", out, "--attribute", "loudness", "-o", tmp_path / "x.mid"],
         "error: Unknown attribute 'loudness' for a melody model; choose one of: note_density, average_interval, "
         "syncopation, pitch_range, c_diatonic."),
        (["musicvae", "interpolate", a, a, a, "-m", out, "-o", tmp_path / "x.mid"],
         "error: interpolate takes 2 MIDI files (a path) or 4 (a grid), not 3."),
        (["musicvae", "sample", "-m", out, "-o", tmp_path / "x.wav"], f"error: The output {tmp_path / 'x.wav'} must be a .mid file."),
        (["musicvae", "similar", a, "-m", out, "--start-bar", "9", "-o", tmp_path / "x.mid"],
         f"error: {a} has 4 bars; --start-bar 9 is past its end."),
    ]  # fmt: skip
    for args, message in cases:
        code, _, err = run_cli(capsys, *args)
        assert code == 1 and err.strip() == message
    assert not (tmp_path / "x.mid").exists()
    save_checkpoint(tmp_path / "nsynth", __import__("torch").nn.Linear(2, 2), family="nsynth",
                    model_type="wavenet", preset="tiny", config={})  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "latentmusic.cli.main", "musicvae", "sample", "-m", str(tmp_path / "nsynth"),
         "-o", str(tmp_path / "x.mid")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == f"error: {tmp_path / 'nsynth'} is a 'nsynth' checkpoint, not a 'musicvae' one."
    )


def test_eval_reports_reconstruction_interpolation_attributes_and_prior(
    run: tuple[Path, Path],
    capsys,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    out, data = run
    options = {"windows": "16", "pairs": "4", "samples": "16", "interp_steps": "5"}
    results = evaluate(EvalJob(out, data, "test", tmp_path / "report", [out], options))
    model = results["model"]
    assert model["windows"] == 9 and model["files"] == 3 and len(results["baselines"]) == 1
    recon = model["reconstruction"]
    assert 0 < recon["teacher_forced_accuracy"] <= 1 and 0 <= recon["greedy_accuracy"] <= 1
    interp = model["interpolation"]
    assert interp["latent"]["distance_to_a"][0] == 0 and interp["latent"]["distance_to_b"][-1] == 0
    assert (
        interp["data_space"]["distance_to_a"][0] == 0
        and interp["data_space"]["distance_to_a"][-1] > 0.1
    )
    attrs = model["attributes"]
    assert set(attrs["vectors"]) == set(attributes_for("melody")) and attrs[
        "vectors_from"
    ].endswith("attributes.npz")
    assert set(model["prior_samples"]["samples"]) == {"note_density", "syncopation", "empty_beat_rate",
                                                      "pitch_range", "scale_consistency"}  # fmt: skip
    assert 0.5 <= model["prior_samples"]["data"]["scale_consistency"] <= 1.0
    page = (tmp_path / "report" / "index.html").read_text()
    assert (
        "Reconstruction of held-out windows" in page
        and (tmp_path / "report" / "interpolation.png").is_file()
    )
    assert json.loads((tmp_path / "report" / "results.json").read_text())["model"]["windows"] == 9
    code, stdout, _ = run_cli(capsys, "eval", "musicvae", "--model", out, "--data", data, "--split", "valid",
                          "--out", tmp_path / "r2", "--option", "samples=8", "--option", "pairs=2")  # fmt: skip
    assert code == 0 and (tmp_path / "r2" / "results.json").is_file()
    code, _, err = run_cli(
        capsys, "eval", "musicvae", "--model", out, "--data", data, "--option", "speed=3"
    )
    assert code == 1 and "Unknown musicvae eval option 'speed'; known options: windows" in err
