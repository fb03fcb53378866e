"""Jukebox end to end on a tiny folder data set: train, encode the data set, sample, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

import latentmusic
from latentmusic.cli.main import main
from latentmusic.errors import ConfigError, InputError
from latentmusic.jukebox.codes import load_codes, read_codes_manifest
from latentmusic.jukebox.train import train
from latentmusic.train.harness import TrainSettings
from tests.conftest import SR, make_jukebox_folder


def cli(*args: str) -> int:
    """Run ``latentmusic ARGS`` in-process; the exit code (0 on success)."""
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _settings(out: Path, steps: int) -> TrainSettings:
    return TrainSettings(
        out=out,
        max_steps=steps,
        batch_size=4,
        val_every=steps,
        ckpt_every=steps,
        progress=False,
        log_every=5,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("jukebox")
    data = make_jukebox_folder(base / "data")
    runs = base / "run"
    train(data, runs / "vqvae", "tiny", "vqvae", [], _settings(runs / "vqvae", 30), None)
    codes = base / "codes"
    assert (
        cli(
            "jukebox",
            "encode-dataset",
            "--model",
            str(runs),
            "--data",
            str(data),
            "-o",
            str(codes),
            "--no-progress",
        )
        == 0
    )
    train(
        codes, runs / "prior", "tiny", "prior", ["lyrics=true"], _settings(runs / "prior", 25), None
    )
    train(
        codes,
        runs / "upsampler_1",
        "tiny",
        "upsampler",
        [],
        _settings(runs / "upsampler_1", 15),
        None,
    )
    return {"data": data, "run": runs, "codes": codes, "base": base}


def test_encode_dataset_writes_codes_and_labels(run: dict[str, Path]) -> None:
    manifest = read_codes_manifest(run["codes"])
    assert manifest["artists"] == ["anna", "ben"] and manifest["genres"] == ["saw", "sine"]
    assert (
        manifest["hops"] == [8, 32, 128]
        and Path(manifest["vqvae"]) == (run["run"] / "vqvae").resolve()
    )
    assert {r["split"] for r in manifest["files"]} <= {"train", "valid", "test"}
    record = next(r for r in manifest["files"] if r["audio"].endswith("sine/anna/anna0.wav"))
    assert record["lyrics"] == "Hello tiny world" and record["genre"] == "sine"
    codes = load_codes(run["codes"] / record["codes"])
    assert [len(z) for z in codes.levels] == [3008, 752, 188]  # 24000 samples padded to 24064
    assert codes.n_samples == 24000


def test_checkpoints_load_with_vocabularies(run: dict[str, Path]) -> None:
    prior = latentmusic.load(run["run"] / "prior")
    assert prior.vocab.genres == ("saw", "sine") and prior.cfg.lyrics and prior.cfg.bins == 64
    # On disk relative to the prior (the run can move); in memory the VQ-VAE it decodes with.
    on_disk = json.loads((run["run"] / "prior" / "config.json").read_text())
    assert on_disk["vqvae"] == "../vqvae"
    assert prior.extra["vqvae"] == str((run["run"] / "vqvae").resolve())
    up = latentmusic.load(run["run"] / "upsampler_1")
    assert up.cfg.level == 1 and up.cfg.ratio == 4 and up.cfg.hop == 32
    meta = json.loads((run["run"] / "vqvae" / "meta.json").read_text())
    assert meta["steps"] == 30 and "train/l0/sc_db" in meta["metrics"]


def test_encode_decode_and_sample_commands(
    run: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    base, model = run["base"], str(run["run"])
    wav = next(run["data"].glob("sine/anna/anna1.wav"))
    assert cli("jukebox", "encode", str(wav), "--model", model, "-o", str(base / "c.npz")) == 0
    assert (
        cli(
            "jukebox",
            "decode",
            str(base / "c.npz"),
            "--model",
            model,
            "--level",
            "2",
            "-o",
            str(base / "d.wav"),
        )
        == 0
    )
    decoded, sr = sf.read(base / "d.wav")
    assert sr == SR and len(decoded) == 24000
    code = cli(
        "jukebox",
        "sample",
        "--model",
        model,
        "--artist",
        "anna",
        "--genre",
        "sine",
        "--seconds",
        "1.2",
        "--lyrics",
        "la la",
        "--batch",
        "2",
        "-o",
        str(base / "s.wav"),
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "decoded level 1" in out  # no bottom upsampler in this run: level 1 is decoded
    for name in ("s.wav", "s-1.wav"):
        audio, sr = sf.read(base / name)
        assert sr == SR and len(audio) == int(1.2 * SR)
    code = cli(
        "jukebox",
        "sample",
        "--model",
        model,
        "--artist",
        "ben",
        "--genre",
        "saw",
        "--seconds",
        "2.0",
        "--prime",
        str(wav),
        "--no-upsample",
        "-o",
        str(base / "p.wav"),
    )
    assert code == 0
    audio, _ = sf.read(base / "p.wav")
    assert len(audio) == 2 * SR


def test_unknown_label_and_bad_options_are_one_sentence(
    run: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    code = cli(
        "jukebox",
        "sample",
        "--model",
        str(run["run"]),
        "--artist",
        "anna",
        "--genre",
        "jazz",
        "-o",
        str(run["base"] / "x.wav"),
    )
    assert code == 1
    assert (
        capsys.readouterr().err.strip()
        == "error: Unknown genre 'jazz'; this model knows: saw, sine."
    )
    assert not (run["base"] / "x.wav").exists()
    with pytest.raises(ConfigError, match="taken from the VQ-VAE"):
        train(
            run["codes"],
            run["base"] / "bad",
            "tiny",
            "prior",
            ["bins=10"],
            _settings(run["base"] / "bad", 1),
            None,
        )
    with pytest.raises(InputError, match="is not a Jukebox codes directory"):
        train(
            run["data"],
            run["base"] / "bad",
            "tiny",
            "prior",
            [],
            _settings(run["base"] / "bad", 1),
            None,
        )


def test_evaluate_reports_levels_priors_and_conditioning(run: dict[str, Path]) -> None:
    from latentmusic.jukebox.evaluate import evaluate

    out = run["base"] / "eval"
    results = evaluate(
        run["run"],
        run["codes"],
        "train",
        out,
        [],
        {"max_files": "4", "seconds": "1", "samples_per_genre": "2", "sample_seconds": "1"},
    )
    assert [r["hop"] for r in results["vqvae"]] == [8, 32, 128]
    assert all(0 < r["codebook_usage"] <= 1 for r in results["vqvae"])
    names = [p["model"] for p in results["priors"]]
    assert names == ["prior (level 2)", "upsampler (level 1)"]
    for p in results["priors"]:
        assert 0 < p["nll_bits_per_token"] < p["uniform_bits_per_token"]
        assert p["unigram_bits_per_token"] > 0
    cond = results["conditioning"]
    assert cond["chance"] == 0.5 and sum(v["requested"] for v in cond["per_genre"].values()) == 4
    assert json.loads((out / "results.json").read_text())["split"] == "train"
    assert "Conditioning check" in (out / "index.html").read_text()
