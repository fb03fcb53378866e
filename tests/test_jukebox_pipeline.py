"""Jukebox end to end on a tiny folder data set: train, encode the data set, sample, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import latentmusic
from latentmusic.cli.main import main
from latentmusic.errors import ConfigError, InputError
from latentmusic.jukebox.codes import load_codes, read_codes_manifest
from latentmusic.jukebox.train import train
from latentmusic.train.harness import TrainJob, TrainSettings
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
    train(TrainJob(data, _settings(runs / "vqvae", 30), "tiny", "vqvae"))
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
    train(TrainJob(codes, _settings(runs / "prior", 25), "tiny", "prior", ("lyrics=true",)))
    train(TrainJob(codes, _settings(runs / "upsampler_1", 15), "tiny", "upsampler"))
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


def test_encode_dataset_is_cached_and_can_encode_openings_only(run: dict[str, Path]) -> None:
    import os
    import shutil

    from latentmusic.jukebox.codes import encode_dataset

    out = run["base"] / "codes-cached"
    shutil.copytree(run["codes"], out)
    again = read_codes_manifest(encode_dataset(run["run"], run["data"], out, progress=False))
    n = len(again["files"])
    assert n > 2 and again["reused"] == n  # the same weights and audio: nothing re-encoded
    # a changed audio file is encoded again; the others are still reused
    record = again["files"][0]
    stat = os.stat(record["audio"])
    os.utime(record["audio"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = read_codes_manifest(encode_dataset(run["run"], run["data"], out, progress=False))
    assert third["reused"] == n - 1
    assert load_codes(out / record["codes"]).levels[0].tolist() == (
        load_codes(run["codes"] / record["codes"]).levels[0].tolist()
    )
    # openings only: every file is cut to 0.5 s (8000 samples, padded to 8064 for the codes)
    short = read_codes_manifest(
        encode_dataset(run["run"], run["data"], out, progress=False, max_seconds=0.5)
    )
    assert short["reused"] == 0 and short["max_seconds"] == 0.5
    assert {r["n_samples"] for r in short["files"]} == {8000}
    assert [len(z) for z in load_codes(out / record["codes"]).levels] == [1008, 252, 63]
    with pytest.raises(InputError, match="max_seconds must be positive"):
        encode_dataset(run["run"], run["data"], out, progress=False, max_seconds=0)


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
            TrainJob(run["codes"], _settings(run["base"] / "bad", 1), "tiny", "prior", ("bins=10",))
        )
    with pytest.raises(InputError, match="is not a Jukebox codes directory"):
        train(TrainJob(run["data"], _settings(run["base"] / "bad", 1), "tiny", "prior"))


def test_evaluate_reports_levels_priors_and_conditioning(run: dict[str, Path]) -> None:
    from latentmusic.evaluation import EvalJob
    from latentmusic.jukebox.evaluate import evaluate

    out = run["base"] / "eval"
    results = evaluate(
        EvalJob(
            run["run"],
            run["codes"],
            "train",
            out,
            [],
            {
                "max_files": "4",
                "seconds": "1",
                "samples_per_genre": "2",
                "sample_seconds": "1",
                "continuations": "3",
                "prime_seconds": "0.5",
            },
        )
    )
    assert [r["hop"] for r in results["vqvae"]] == [8, 32, 128]
    assert all(0 < r["codebook_usage"] <= 1 for r in results["vqvae"])
    names = [p["model"] for p in results["priors"]]
    assert names == ["prior (level 2)", "upsampler (level 1)"]
    for p in results["priors"]:
        assert 0 < p["nll_bits_per_token"] < p["uniform_bits_per_token"]
        assert p["unigram_bits_per_token"] > 0
    cond = results["conditioning"]
    assert cond["judge"] == "decoded"
    assert cond["chance"] == 0.5 and sum(v["requested"] for v in cond["per_genre"].values()) == 4
    cont = results["continuation"]
    assert len(cont["prompts"]) == 3 and cont["prime_seconds"] == 0.5
    judged = [p["continuation_judged"] for p in cont["prompts"]]
    assert set(judged) <= {"saw", "sine"}
    hits = sum(p["continuation_judged"] == p["genre"] for p in cont["prompts"])
    assert cont["accuracy"] == pytest.approx(hits / 3)
    assert json.loads((out / "results.json").read_text())["split"] == "train"
    page = (out / "index.html").read_text()
    assert "Conditioning check" in page and "Primed continuation" in page


def test_a_shipped_chain_holds_only_the_models_and_samples(run: dict[str, Path]) -> None:
    """Shipping a Jukebox run copies each part's model, not its logs, best/ or Lightning state."""
    from latentmusic.catalogue import ship
    from latentmusic.jukebox.sampling import generate, load_run

    assert any((run["run"] / "vqvae").glob("logs*"))  # the training left run state behind
    shipped = ship(run["run"], "jbx", summary="s", headline="h", root=run["base"] / "models")
    names = {p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file()}
    assert {"vqvae/model.safetensors", "prior/model.safetensors", "meta.json"} <= names
    assert not [n for n in names if {"logs", "lightning", "best"} & set(n.split("/"))]
    chain = load_run(shipped)
    assert chain.prior is not None and set(chain.upsamplers) == {1}
    result = generate(chain, 0.5, artist="anna", genre="sine", seed=0)
    assert result.audio.shape == (1, 8000) and result.decoded_level == 1


def test_heldout_pick_spreads_over_genres_and_artists() -> None:
    """A small pick of a set sorted by artist holds every artist of every genre, in turn."""
    from latentmusic.jukebox.codes import LabeledFile
    from latentmusic.jukebox.evaluate import _pick

    files = [
        LabeledFile(Path(f"{g}/{a}{i}.wav"), f"{g}/{a}{i}.npz", g, a, "test")
        for g in ("organ", "piano")
        for a in ("bach", "folk")
        for i in range(3)
    ] + [LabeledFile(Path("x.wav"), "x.npz", "organ", "bach", "train")]
    picked = _pick(files, "test", 6)
    assert [(f.genre, f.artist) for f in picked] == [
        ("organ", "bach"),
        ("piano", "bach"),
        ("organ", "folk"),
        ("piano", "folk"),
        ("organ", "bach"),
        ("piano", "bach"),
    ]
    assert all(f.split == "test" for f in picked)
    assert len(_pick(files, "test", 100)) == 12


def test_an_unknown_judge_is_refused_in_one_sentence() -> None:
    from latentmusic.errors import InputError
    from latentmusic.jukebox.evaluate import _options

    assert _options({}).judge == "decoded"
    with pytest.raises(
        InputError, match="jukebox eval option 'judge' must be one of decoded, real, not 'ears'"
    ):
        _options({"judge": "ears"})


def test_the_decoded_judge_is_fitted_on_rendered_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """judge=decoded: every training clip the judge sees went through the renderer first."""
    import soundfile as sf

    from latentmusic.jukebox import evaluate as ev
    from latentmusic.jukebox.codes import LabeledFile

    files = []
    for genre in ("saw", "sine"):
        path = tmp_path / f"{genre}.wav"
        sf.write(path, np.full(16000, 0.1, np.float32), 16000)
        files.append(LabeledFile(path, f"{genre}.npz", genre, "anna", "train"))
    seen: list[np.ndarray] = []
    monkeypatch.setattr(
        ev.TimbreClassifier, "fit", staticmethod(lambda clips, *a, **k: seen.extend(clips))
    )
    ev.genre_classifier(files, ["saw", "sine"], 16000, 0.25, render=lambda a: a * 0 - 0.5)
    assert len(seen) == 8 and all(np.all(c == -0.5) for c in seen)  # 4 excerpts a file
    seen.clear()
    ev.genre_classifier(files, ["saw", "sine"], 16000, 0.25)
    assert len(seen) == 8 and all(np.allclose(c, 0.1, atol=1e-3) for c in seen)
