"""Shipped models: the catalogue, loading by name, float16 storage, and --init continuation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import latentmusic
from latentmusic.catalogue import resolve_model, ship, shipped_models
from latentmusic.cli.main import main
from latentmusic.errors import CheckpointError
from latentmusic.midi.io import write_sequence
from latentmusic.midi.representations import MELODY, pitch_to_class
from latentmusic.musicvae.config import PRESETS
from latentmusic.musicvae.model import kl_beta
from latentmusic.train.checkpoint import read_checkpoint


def _cli(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _tune(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    events = np.zeros(64, np.int64)
    t = 0
    while t < len(events):
        events[t] = pitch_to_class(int(rng.choice([60, 62, 64, 65, 67, 69, 71, 72])))
        t += int(rng.choice([2, 4, 8]))
    write_sequence(MELODY.decode(events, qpm=100), path)


def _train(data: Path, out: Path, steps: int, *extra: str) -> None:
    try:
        main(["train", "musicvae", "--data", str(data), "--out", str(out), "--preset", "tiny",
              "--steps", str(steps), "--batch-size", "8", "--val-every", "1000",
              "--ckpt-every", "1000", "--threads", "1", "--accelerator", "cpu", "--no-progress",
              *extra])  # fmt: skip
    except SystemExit as exc:
        assert not exc.code


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny MusicVAE trained 30 steps on a small melody folder, and that folder."""
    root = tmp_path_factory.mktemp("catalogue")
    data = root / "data"
    for i in range(10):
        _tune(data / "train" / f"t{i}.mid", i)
    _tune(data / "valid" / "v.mid", 99)
    _train(data, root / "run", 30)
    return root / "run", data


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: tuple[Path, Path]) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("LATENTMUSIC_MODELS", str(root))
    ship(trained[0], "mel-tiny", summary="2-bar melodies", headline="acc 0.5 (test)")
    return root


def test_shipped_model_is_float16_and_loads_by_name_close_to_float32(
    catalogue: Path, trained: tuple[Path, Path]
) -> None:
    shipped = catalogue / "mel-tiny"
    assert not (shipped / "lightning").exists() and not (shipped / "logs").exists()
    with safe_open(str(shipped / "model.safetensors"), framework="pt") as fh:
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys()}  # noqa: SIM118
    assert dtypes == {torch.float16}
    assert all(f.stat().st_mode & 0o044 == 0o044 for f in shipped.iterdir())  # others can read
    assert (shipped / "model.safetensors").stat().st_size < 0.6 * (
        trained[0] / "model.safetensors"
    ).stat().st_size
    half, full = latentmusic.load("mel-tiny"), latentmusic.load(trained[0])
    assert all(p.dtype == torch.float32 for p in half.parameters())
    tokens = torch.randint(0, 90, (4, 32, 1))  # (batch, steps, tracks)
    z_half, z_full = half.encode(tokens), full.encode(tokens)
    assert torch.allclose(z_half, z_full, atol=2e-2, rtol=2e-2)
    assert not torch.equal(z_half, z_full)  # it really is the rounded copy
    greedy_half = half.decode_tokens(z_full, temperature=0.0)
    greedy_full = full.decode_tokens(z_full, temperature=0.0)
    assert (greedy_half == greedy_full).float().mean() > 0.95


def test_models_lists_the_catalogue_and_unknown_names_list_it(
    catalogue: Path, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    code, out, _ = _cli(capsys, "models")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("mel-tiny"))
    assert "musicvae" in row and "2-bar melodies" in row and "acc 0.5 (test)" in row
    assert "30 steps" in row
    [entry] = shipped_models()
    assert entry.family == "musicvae" and entry.steps == 30
    code, _, err = _cli(capsys, "musicvae", "sample", "-m", "mel-nope", "-o", tmp_path / "s.mid")
    assert code == 1 and "No model 'mel-nope'" in err and "mel-tiny" in err
    assert not (tmp_path / "s.mid").exists()
    with pytest.raises(CheckpointError, match="shipped models: mel-tiny"):
        latentmusic.load("mel-nope")
    assert resolve_model("mel-tiny") == catalogue / "mel-tiny"
    code, out, _ = _cli(capsys, "musicvae", "sample", "-m", "mel-tiny", "-o", tmp_path / "s.mid")
    assert code == 0 and (tmp_path / "s.mid").stat().st_size > 0


def _metrics(run: Path) -> list[dict[str, str]]:
    with (run / "logs" / "csv" / "metrics.csv").open() as fh:
        return [row for row in csv.DictReader(fh) if row.get("train/beta")]


def test_init_fine_tunes_from_a_shipped_model_and_continues_its_schedules(
    catalogue: Path, trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, data = trained
    run = tmp_path / "tuned"
    _train(data, run, 20, "--init", "mel-tiny", "--lr", "5e-3")  # a training setting may differ
    ckpt = read_checkpoint(run)
    assert ckpt.meta["steps"] == 50  # 30 before --init, 20 in this run
    assert ckpt.config["lr"] == 5e-3
    # The KL weight and learning rate continue from step 30 instead of restarting at 0.
    config = PRESETS["tiny"]
    first = _metrics(run)[0]
    step = int(first["step"])
    assert float(first["train/beta"]) == pytest.approx(kl_beta(config, 30 + step), rel=1e-4)
    assert float(first["train/beta"]) > 2 * kl_beta(config, step)
    decayed = 5e-3 * ((1 - config.min_lr / config.lr) * config.decay_rate ** (30 + step)) + (
        5e-3 * config.min_lr / config.lr
    )
    assert float(first["train/lr"]) == pytest.approx(decayed, rel=1e-3)


def test_init_refuses_another_network_in_one_sentence(
    catalogue: Path, trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, data = trained
    out = tmp_path / "other"
    code, _, err = _cli(
        capsys, "train", "musicvae", "--data", data, "--out", out, "--preset", "tiny",
        "--steps", "2", "--init", "mel-tiny", "--set", "z_size=16", "--no-progress",
    )  # fmt: skip
    assert code == 1
    assert "is a different network (z_size 32 -> 16)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = _cli(
        capsys, "train", "musicvae", "--data", data, "--out", out, "--preset", "tiny",
        "--model", "hierdec", "--steps", "2", "--init", "mel-tiny", "--no-progress",
    )  # fmt: skip
    assert code == 1 and "is a musicvae 'flat' model" in err


def test_shipping_replaces_atomically_and_keeps_the_card(
    catalogue: Path, trained: tuple[Path, Path]
) -> None:
    card = catalogue / "mel-tiny" / "MODEL_CARD.md"
    card.write_text("# mel-tiny\n")
    ship(trained[0], "mel-tiny", summary="again", headline="h")
    assert card.read_text() == "# mel-tiny\n"
    assert json.loads((catalogue / "mel-tiny" / "meta.json").read_text())["summary"] == "again"
    assert [p.name for p in catalogue.iterdir()] == ["mel-tiny"]  # no staging folders left


def test_every_shipped_model_names_all_its_hyperparameters() -> None:
    """A shipped config that predates a field loads with this version's default and a warning
    (the demo printed one for translation-small): each shipped model must name every field."""
    import warnings

    from latentmusic.errors import LatentMusicWarning

    repo_models = Path(__file__).resolve().parents[1] / "models"
    checkpoints = sorted(p.parent for p in repo_models.rglob("model.safetensors"))
    assert len(checkpoints) >= 8  # every family ships (the Jukebox chain is four checkpoints)
    for path in checkpoints:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            latentmusic.load(path)
        said = [str(w.message) for w in caught if issubclass(w.category, LatentMusicWarning)]
        assert not said, f"{path.name}: {said}"
