"""What every model family promises, checked for each family in the registry.

For each case (a family and one of its model types): the tiny preset trains a few steps
through the family's ``train.train`` on tiny data; the run directory holds a checkpoint;
``latentmusic.load`` rebuilds the model in eval mode with float32 weights; encode and
decode give the documented shapes; ``--init`` from the checkpoint accepts a new learning
rate, counts the steps of both runs and refuses a different network in one sentence; an
unknown option is the project's ConfigError.

A family added to the registry without a case here fails ``test_every_family_has_a_case``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import latentmusic
from latentmusic.errors import CheckpointError, ConfigError
from latentmusic.registry import FAMILIES, family_part
from latentmusic.train.checkpoint import read_checkpoint
from tests.conftest import (
    make_domains,
    make_jukebox_folder,
    make_melody_set,
    make_note_set,
    tone,
    train_family,
    wave,
)

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS, MORE_STEPS = 3, 2


class Runs:
    """Data sets and first runs, built once per module and only for the cases that run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._data: dict[str, Path] = {}
        self._runs: dict[str, Path] = {}

    def data(self, case: Case) -> Path:
        if case.data_key not in self._data:
            self._data[case.data_key] = BUILDERS[case.data_key](self, self.root / case.data_key)
        return self._data[case.data_key]

    def first(self, case: Case) -> Path:
        """The case's first run: ``STEPS`` steps of the tiny preset from scratch."""
        if case.id not in self._runs:
            out = self.root / case.id / "first"
            self._runs[case.id] = train(case, self.data(case), out, STEPS)
        return self._runs[case.id]


def train(
    case: Case, data: Path, out: Path, steps: int, overrides: tuple[str, ...] = (), **kw: Any
) -> Path:
    return train_family(
        case.family,
        data,
        out,
        model_type=case.model_type,
        steps=steps,
        overrides=overrides,
        threads=1,
        **kw,
    )


# ------------------------------------------------------------------------------------ data
def _jukebox_codes(runs: Runs, out: Path) -> Path:
    """The tiny folder encoded by the jukebox-vqvae case's model (what a prior trains on)."""
    from latentmusic.jukebox.codes import encode_dataset

    vqvae = runs.first(CASES_BY_ID["jukebox-vqvae"])
    return encode_dataset(vqvae, runs.data(CASES_BY_ID["jukebox-vqvae"]), out, progress=False)


BUILDERS: dict[str, Callable[[Runs, Path], Path]] = {
    "notes": lambda runs, out: make_note_set(out, pitches=(60, 64), seconds=0.3),
    "domains": lambda runs, out: make_domains(out, pieces=4),
    "jukebox-audio": lambda runs, out: make_jukebox_folder(out, seconds=0.5, pieces=2),
    "jukebox-codes": _jukebox_codes,
    "melodies": lambda runs, out: make_melody_set(out, train=8, valid=2, test=2),
}


# ------------------------------------------------------------------------------ round trips
def _finite_float32(x: torch.Tensor) -> None:
    assert x.dtype == torch.float32 and torch.isfinite(x).all()


def _audio_in_range(x: torch.Tensor) -> None:
    _finite_float32(x)
    assert x.abs().max() <= 1.0


def _nsynth(model: Any, data: Path) -> None:
    audio = tone(60, [1.0, 0.5], seconds=0.25)  # 4000 samples: 31 whole hops of 128
    z = model.encode(audio)
    assert z.shape == (31, 16)
    _finite_float32(z)
    batch = model.encode(np.stack([audio, audio[::-1].copy()]))
    assert batch.shape == (2, 31, 16) and torch.allclose(batch[0], z, atol=1e-5)
    out = model.decode(z[:2], seed=0)  # (frames, 16) -> frames * hop samples
    assert out.shape == (256,)
    _audio_in_range(out)
    assert model.decode(batch[:, :2], seed=0).shape == (2, 256)


def _translation(model: Any, data: Path) -> None:
    assert model.domains == ["sine", "square"]
    audio = wave("sine", [440.0], 0.1)  # 1600 samples: 16 frames of pool 100
    z = model.encode(audio)
    assert z.shape == (1, 16, 8)  # (batch, frames, latent_dim): time first, as NSynth's
    _finite_float32(z)
    assert model.encode(audio[:1550]).shape == (1, 16, 8)  # padded to a whole frame
    out = model.decode(z[:, :2], "square", seed=0)
    assert out.shape == (1, 200)
    _audio_in_range(out)


def _jukebox_vqvae(model: Any, data: Path) -> None:
    assert model.hops == (8, 32, 128) and model.cfg.codes == 64
    audio = torch.from_numpy(wave("saw", [300.0], 1000 / 16000))[None]  # (1, 1000)
    codes = model.encode(audio)  # padded to 1024 samples, a whole top hop
    assert [tuple(c.shape) for c in codes] == [(1, 128), (1, 32), (1, 8)]
    for level, c in enumerate(codes):
        assert c.dtype == torch.int64 and c.min() >= 0 and c.max() < 64
        out = model.decode(c, level)
        assert out.shape == (1, 1024)
        _finite_float32(out)
    assert model.reconstruct(audio, 0).shape == (1, 1000)


def _jukebox_prior(model: Any, data: Path) -> None:
    from latentmusic.jukebox.prior import Conditioning

    cfg = model.cfg
    assert (cfg.level, cfg.bins, cfg.hop, cfg.n_ctx) == (2, 64, 128, 32)
    assert model.vocab.artists == ("anna", "ben") and model.vocab.genres == ("saw", "sine")
    cond = Conditioning(
        artist=torch.tensor([model.vocab.artist_id("ben")]),
        genre=torch.tensor([model.vocab.genre_id("sine")]),
        total=torch.tensor([8000.0], dtype=torch.float64),
        start=torch.tensor([0.0], dtype=torch.float64),
    )
    tokens = model.sample_window(8, cond, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (1, 8) and tokens.dtype == torch.int64
    assert tokens.min() >= 0 and tokens.max() < 64
    with torch.no_grad():
        logits = model(tokens, cond)
    assert logits.shape == (1, 8, 64)
    _finite_float32(logits)
    # The prior's codes decode to audio with the VQ-VAE it names: 8 top codes of hop 128.
    audio = latentmusic.load(model.extra["vqvae"]).decode(tokens, level=2)
    assert audio.shape == (1, 1024)
    _finite_float32(audio)


def _musicvae(model: Any, data: Path) -> None:
    from latentmusic.midi.io import read_sequence

    seqs = [read_sequence(data / "test" / f"t{i}.mid") for i in range(2)]
    z = model.encode(seqs)
    assert z.shape == (2, 32)  # (N, z_size): the posterior means
    _finite_float32(z)
    tokens = model.decode_tokens(z)  # greedy: (N, steps, tracks)
    assert tokens.shape == (2, 32, 1) and tokens.dtype == torch.int64
    assert tokens.min() >= 0 and tokens.max() < model.representation.tracks[0].depth
    out = model.decode(z)
    assert len(out) == 2 and [s.total_steps for s in out] == [32, 32]
    assert out[0].notes == model.to_sequences(tokens)[0].notes


# ------------------------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Case:
    family: str
    model_type: str
    data_key: str
    lr: float  # a learning rate unlike the tiny preset's: --init must accept it
    arch: str  # an architecture override: --init must refuse it
    round_trip: Callable[[Any, Path], None]

    @property
    def id(self) -> str:
        return f"{self.family}-{self.model_type}"


CASES_BY_FAMILY: dict[str, tuple[Case, ...]] = {
    "nsynth": (
        Case("nsynth", "wavenet", "notes", 1e-3, "decoder_residual=8", _nsynth),
        Case("nsynth", "spectral", "notes", 1e-3, "hidden=16", _nsynth),
    ),
    "translation": (Case("translation", "umt", "domains", 1e-3, "latent_dim=4", _translation),),
    "jukebox": (
        Case("jukebox", "vqvae", "jukebox-audio", 5e-4, "emb_width=8", _jukebox_vqvae),
        Case("jukebox", "prior", "jukebox-codes", 1e-3, "width=48", _jukebox_prior),
    ),
    "musicvae": (Case("musicvae", "flat", "melodies", 1e-3, "z_size=16", _musicvae),),
}
CASES = [case for family in FAMILIES for case in CASES_BY_FAMILY.get(family, ())]
CASES_BY_ID = {case.id: case for case in CASES}
each_case = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("contract"))


# ------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_has_its_entry_points_and_a_case(family: str) -> None:
    assert callable(getattr(family_part(family), "from_checkpoint", None))
    # One request record each: train(job: TrainJob), evaluate(job: EvalJob).
    for part, name, record in (("train", "train", "TrainJob"), ("evaluate", "evaluate", "EvalJob")):
        params = inspect.signature(getattr(family_part(family, part), name)).parameters
        assert list(params) == ["job"] and params["job"].annotation in (record, f"'{record}'")
    cases = CASES_BY_FAMILY.get(family, ())
    assert cases, f"add a contract case for the '{family}' family"
    assert {c.model_type for c in cases} <= set(FAMILIES[family].model_types)


@each_case
def test_training_writes_a_checkpoint_that_loads_as_float32_in_eval_mode(
    case: Case, runs: Runs
) -> None:
    run = runs.first(case)
    for name in ("model.safetensors", "config.json", "meta.json"):
        assert (run / name).is_file(), name
    ckpt = read_checkpoint(run)
    assert (ckpt.family, ckpt.model_type, ckpt.preset) == (case.family, case.model_type, "tiny")
    assert ckpt.meta["steps"] == STEPS
    model = latentmusic.load(run)
    assert isinstance(model, torch.nn.Module)
    assert not any(m.training for m in model.modules())
    params = dict(model.named_parameters())
    assert params and all(p.dtype == torch.float32 for p in params.values())
    for key, value in ckpt.state_dict.items():  # the saved weights, not a fresh init
        assert torch.equal(model.state_dict()[key], value), key


@each_case
def test_encode_decode_round_trip_has_the_documented_shapes(case: Case, runs: Runs) -> None:
    case.round_trip(latentmusic.load(runs.first(case)), runs.data(case))


@each_case
def test_init_takes_a_new_learning_rate_and_counts_the_steps_of_both_runs(
    case: Case, runs: Runs, tmp_path: Path
) -> None:
    first = runs.first(case)
    out = train(
        case, runs.data(case), tmp_path / "more", MORE_STEPS, (f"lr={case.lr}",), init=first
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["steps"] == STEPS + MORE_STEPS
    ckpt = read_checkpoint(out)
    assert ckpt.config["lr"] == case.lr != read_checkpoint(first).config["lr"]
    assert latentmusic.load(out).state_dict().keys() == latentmusic.load(first).state_dict().keys()


@each_case
def test_init_refuses_a_different_network_in_one_sentence(
    case: Case, runs: Runs, tmp_path: Path
) -> None:
    first = runs.first(case)
    field = case.arch.split("=")[0]
    with pytest.raises(CheckpointError, match=f"is a different network \\({field} ") as info:
        train(case, runs.data(case), tmp_path / "other", 1, (case.arch,), init=first)
    assert "only training settings" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "other" / "model.safetensors").exists()  # refused before training


@each_case
def test_an_unknown_option_is_a_config_error(case: Case, runs: Runs, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no_such_option"):
        train(case, runs.data(case), tmp_path / "bad", 1, ("no_such_option=1",))
    assert not (tmp_path / "bad" / "model.safetensors").exists()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_model_type_has_a_preset_table_with_a_tiny_preset(family: str) -> None:
    """One accessor in every family: ``<family>.config.presets_for(model_type)``."""
    config = family_part(family, "config")
    for model_type in FAMILIES[family].model_types:
        table = config.presets_for(model_type)
        assert "tiny" in table, (family, model_type)
        assert len({type(cfg) for cfg in table.values()}) == 1  # one config class per type
    with pytest.raises(ConfigError, match="Unknown .* model type 'no_such_type'; choose one of"):
        config.presets_for("no_such_type")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_config_class_marks_its_own_training_fields(family: str) -> None:
    """--init tells "how it is trained" from "what it is" by the config class's own
    TRAINING_FIELDS: each names real fields of its class, the learning rate among them."""
    import dataclasses

    config = family_part(family, "config")
    for model_type in FAMILIES[family].model_types:
        cls = type(config.presets_for(model_type)["tiny"])
        names = {f.name for f in dataclasses.fields(cls)}
        assert "lr" in cls.TRAINING_FIELDS and cls.TRAINING_FIELDS.issubset(names), (
            family,
            model_type,
        )


def test_musicvae_preset_tables_switch_the_decoder() -> None:
    from latentmusic.musicvae.config import presets_for

    assert presets_for("hierdec")["tiny"].hierarchical is True
    assert presets_for("flat")["hierdec-trio_16bar"].hierarchical is False
