"""Config presets/overrides, safetensors checkpoints, latentmusic.load, step batching."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import latentmusic
from latentmusic.errors import CheckpointError, ConfigError
from latentmusic.latent import bilinear_grid, interpolate, slerp, temperature_sample
from latentmusic.train.batches import FixedBatches, StepBatches
from latentmusic.train.checkpoint import load_state_strict, read_checkpoint, save_checkpoint
from latentmusic.train.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    resolve_config,
)


@dataclass(frozen=True)
class Cfg:
    layers: int = 4
    lr: float = 1e-3
    kernel_sizes: tuple[int, ...] = (3, 3)
    name: str = "x"
    causal: bool = True
    extra: int | None = None


PRESETS = {"tiny": Cfg(layers=2), "paper": Cfg(layers=30)}


def test_presets_and_overrides_are_typed_and_validated() -> None:
    cfg = resolve_config(
        PRESETS, "tiny", ["lr=0.01", "kernel_sizes=2,2,2", "causal=false", "extra=none"]
    )
    assert cfg == Cfg(layers=2, lr=0.01, kernel_sizes=(2, 2, 2), causal=False, extra=None)
    assert apply_overrides(cfg, {"layers": "7"}).layers == 7
    with pytest.raises(ConfigError, match="Unknown preset 'huge'; choose one of: tiny, paper"):
        resolve_config(PRESETS, "huge")
    with pytest.raises(
        ConfigError,
        match="Unknown config key 'layer'; valid keys are: causal, extra, kernel_sizes, layers, lr, name",
    ):
        resolve_config(PRESETS, "tiny", ["layer=3"])
    with pytest.raises(ConfigError, match="'layers' must be an integer"):
        resolve_config(PRESETS, "tiny", ["layers=2.5"])
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config(PRESETS, "tiny", ["layers"])
    assert config_from_dict(Cfg, json.loads(json.dumps(config_to_dict(cfg)))) == cfg


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_checkpoint_round_trip_and_meta(tmp_path: Path) -> None:
    model = _model()
    save_checkpoint(
        tmp_path / "ck",
        model,
        family="toy",
        model_type="mlp",
        preset="tiny",
        config={"a": 1},
        extra={"sample_rate": 16000},
        meta={"steps": 5},
    )
    ckpt = read_checkpoint(tmp_path / "ck")
    assert (ckpt.family, ckpt.model_type, ckpt.preset) == ("toy", "mlp", "tiny")
    assert ckpt.extra == {"sample_rate": 16000} and ckpt.meta["steps"] == 5
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    load_state_strict(fresh, ckpt.state_dict, ckpt.path)
    x = torch.randn(3, 4)
    assert torch.equal(fresh(x), model(x))
    assert not list((tmp_path / "ck").glob(".*tmp*")), "no temp files left behind"


def test_bad_checkpoints_give_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        read_checkpoint(tmp_path / "empty")
    save_checkpoint(
        tmp_path / "ck", _model(), family="toy", model_type="mlp", preset="t", config={}
    )
    weights = tmp_path / "ck" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(tmp_path / "ck")
    weights.write_bytes(data)
    (tmp_path / "ck" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_checkpoint(tmp_path / "ck")
    save_checkpoint(
        tmp_path / "ck2", _model(), family="toy", model_type="mlp", preset="t", config={}
    )
    with pytest.raises(CheckpointError, match="is a 'toy' checkpoint, not a 'nsynth' one"):
        read_checkpoint(tmp_path / "ck2", family="nsynth")
    with pytest.raises(CheckpointError, match="unknown family 'toy'"):
        latentmusic.load(tmp_path / "ck2")
    wrong = torch.nn.Sequential(torch.nn.Linear(4, 9), torch.nn.ReLU(), torch.nn.Linear(9, 2))
    with pytest.raises(CheckpointError, match="has shape"):
        load_state_strict(wrong, read_checkpoint(tmp_path / "ck2").state_dict, tmp_path / "ck2")


def test_checkpoint_never_pickles(tmp_path: Path) -> None:
    save_checkpoint(
        tmp_path / "ck", _model(), family="toy", model_type="mlp", preset="t", config={}
    )
    header = (tmp_path / "ck" / "model.safetensors").read_bytes()[:200]
    assert b"pickle" not in header and header[8:9] == b"{"  # safetensors: u64 length + JSON header


def test_step_batches_are_resumable_and_rank_disjoint() -> None:
    data = list(range(10))
    full = StepBatches(data, 4, seed=1, collate=list)
    it = iter(full)
    first_five = [next(it) for _ in range(5)]
    resumed = iter(StepBatches(data, 4, seed=1, collate=list, start_step=3))
    assert [next(resumed), next(resumed)] == first_five[3:5]
    epoch = sum(first_five, [])[:10]
    assert sorted(epoch) == data  # one epoch covers every item once
    r0 = StepBatches(data, 2, seed=1, collate=list, rank=0, world_size=2).batch(0)
    r1 = StepBatches(data, 2, seed=1, collate=list, rank=1, world_size=2).batch(0)
    assert not set(r0) & set(r1)
    fixed = FixedBatches(data, 3, collate=list)
    assert len(fixed) == 4 and list(fixed) == list(fixed)
    assert sum(list(fixed), []) == data  # uncapped: every item once, in order
    capped = sum(list(FixedBatches(data, 2, collate=list, max_batches=2)), [])
    assert capped == [data[0], data[3], data[6], data[9]]  # spread over the set, not its head


class _RandomCrops:
    """A dataset that draws from NumPy's global RNG, like the audio families' random crops."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> list[int]:
        return [index, int(np.random.randint(0, 1_000_000))]


def test_loader_workers_deliver_the_single_process_batches_in_step_order() -> None:
    from torch.utils.data import DataLoader

    def steps(workers: int, start: int) -> list[list[list[int]]]:
        batches = StepBatches(_RandomCrops(), 3, seed=5, collate=list, start_step=start)
        loader = DataLoader(batches, batch_size=None, num_workers=workers)
        it = iter(loader)
        return [next(it) for _ in range(7)]

    single = steps(0, 2)
    assert steps(2, 2) == single  # same items and the same crops, step after step
    assert single[0] == StepBatches(_RandomCrops(), 3, seed=5, collate=list).batch(2)


def test_latent_ops() -> None:
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    path = interpolate(a, b, 7)
    assert path.shape == (7, 5, 16) and torch.equal(path[0], a) and torch.equal(path[-1], b)
    mid = slerp(a, b, 0.5)
    assert abs(float(mid.norm()) - float((a.norm() + b.norm()) / 2)) < 0.35 * float(a.norm())
    corners = torch.randn(4, 8)
    grid = bilinear_grid(corners, 3, 3)
    assert torch.allclose(grid[0, 0], corners[0]) and torch.allclose(grid[0, 2], corners[1])
    assert torch.allclose(grid[2, 0], corners[2]) and torch.allclose(grid[2, 2], corners[3])
    logits = torch.tensor([[0.0, 5.0, 1.0]])
    assert int(temperature_sample(logits, 0.0)) == 1
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([temperature_sample(logits, 1.0, g) for _ in range(400)])
    assert 0.9 < float((draws == 1).float().mean()) < 1.0


def test_init_tells_training_settings_from_architecture() -> None:
    from latentmusic.train.init import architecture_differences
    from latentmusic.translation.config import TranslationConfig

    base = TranslationConfig(notebank_channels=32, notebank_log_weight=0.25)
    saved = config_to_dict(base)
    for newer in ("colour_eq_db", "colour_envelope_db"):
        del saved[newer]  # a model saved before the colour augmentation existed
    # Loss weights and input augmentation (fields the saved config predates, too) may change...
    wanted = dataclasses.replace(
        base, lr=3e-4, notebank_log_weight=1.0, colour_eq_db=12.0, colour_envelope_db=12.0
    )
    assert architecture_differences(saved, wanted) == []
    # ...the network's shape may not.
    assert architecture_differences(saved, dataclasses.replace(wanted, notebank_channels=64)) == [
        "notebank_channels 32 -> 64"
    ]
    # An architecture field the saved config predates is the old network at its default,
    # and a different network otherwise.
    del saved["notebank_reverb"]
    assert architecture_differences(saved, wanted) == []
    flipped = dataclasses.replace(wanted, notebank_reverb=0.0)
    assert architecture_differences(saved, flipped) == ["notebank_reverb None -> 0.0"]
