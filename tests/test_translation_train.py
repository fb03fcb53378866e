"""Translation training: augmentation, domain confusion, the train/add-domain entry points, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.audio.mulaw import mu_law_encode
from latentmusic.train.checkpoint import read_checkpoint
from latentmusic.train.config import resolve_config
from latentmusic.train.harness import TrainJob, TrainSettings, fit
from latentmusic.translation.config import PRESETS
from latentmusic.translation.model import load_translator
from latentmusic.translation.train import (
    TranslationCollate,
    TranslationModule,
    _harness_settings,
    add_domain,
    train,
)
from tests.conftest import SR, make_domains, run_cli, wave


def _settings(out: Path, **kw: object) -> TrainSettings:
    base = dict(out=out, max_steps=6, batch_size=4, val_every=3, ckpt_every=3, log_every=1,
                progress=False, accelerator="cpu", seed=0)  # fmt: skip
    base.update(kw)
    return TrainSettings(**base)


# ----------------------------------------------------------------------------- augmentation
def test_pitch_augmentation_touches_only_the_encoder_input() -> None:
    torch.manual_seed(0)
    items = [
        {"audio": torch.from_numpy(wave("sine", [300.0 + 40 * i], 0.1)), "domain": i % 2}
        for i in range(4)
    ]
    np.random.seed(3)
    batch = TranslationCollate(SR, augment=True)(items)
    clean = torch.stack([it["audio"] for it in items])
    assert torch.equal(batch["audio"], clean)  # decoder input/target: untouched
    changed = (batch["encoder_audio"] - clean).abs() > 1e-6
    assert changed.any(dim=1).all()  # every item got a shifted segment
    frac = changed.float().mean(dim=1)
    assert (frac <= 0.55).all()  # one segment of at most L/2 (plus fades)
    assert "encoder_audio" not in TranslationCollate(SR, augment=False)(items)
    coloured = TranslationCollate(SR, augment=False, eq_db=12.0, envelope_db=12.0)(items)
    assert torch.equal(coloured["audio"], clean)  # recolouring too: the encoder's copy only
    assert ((coloured["encoder_audio"] - clean).abs() > 1e-4).float().mean() > 0.5
    assert "encoder_audio" not in TranslationCollate(SR)([{**it, "augment": False} for it in items])

    module = TranslationModule(PRESETS["tiny"], ["a", "b"])
    seen: dict[str, list[torch.Tensor]] = {"encoder": [], "decoder": []}
    module.model.encoder.register_forward_hook(lambda m, args, out: seen["encoder"].append(args[0]))
    for dec in module.model.decoders:  # the training loss reads time-major logits
        dec.logits_time_major = _spy(dec.logits_time_major, seen["decoder"])
    batch["audio"], batch["encoder_audio"] = (
        batch["audio"][:, :1600],
        batch["encoder_audio"][:, :1600],
    )
    module.losses(batch, augmented=True)
    assert torch.equal(seen["encoder"][0], module.model.encoder_input(batch["encoder_audio"]))
    codes = torch.cat(seen["decoder"])
    order = torch.cat([(batch["domain"] == k).nonzero()[:, 0] for k in (0, 1)])
    assert torch.equal(codes, mu_law_encode(batch["audio"])[order])  # clean audio, per domain


def _spy(method, calls: list[torch.Tensor]):  # noqa: ANN001, ANN202
    def wrapped(codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        calls.append(codes)
        return method(codes, cond)

    return wrapped


# ----------------------------------------------------------------------------- confusion
class _OffsetTones(torch.utils.data.Dataset):
    """Two domains the latents reveal from the start: a raised sine and a lowered square wave
    of random pitch. Each decoder knows its own offset, so the encoder can drop it for free."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> dict[str, object]:
        domain = i % 2
        t = np.arange(800) / SR
        s = np.sin(2 * np.pi * np.random.uniform(150, 600) * t + np.random.uniform(0, 2 * np.pi))
        audio = 0.3 * s + 0.3 if domain == 0 else 0.3 * np.sign(s) - 0.3
        return {"audio": torch.tensor(audio, dtype=torch.float32), "domain": domain}


def _train_tones(tmp: Path, confusion_lambda: float) -> list[dict[str, float]]:
    config = resolve_config(
        PRESETS,
        "tiny",
        [f"confusion_lambda={confusion_lambda}", "pitch_augment=false", "segment=800"],
    )
    torch.manual_seed(0)
    module = TranslationModule(config, ["raised_sine", "lowered_square"], "tiny")
    settings = _settings(
        tmp, max_steps=160, batch_size=8, val_every=10**6, ckpt_every=10**6, log_every=20
    )
    fit(
        module,
        _OffsetTones(),
        None,
        _harness_settings(settings, config),
        collate=TranslationCollate(SR, False),
    )
    return list(module.history)


def test_confusion_accuracy_falls_toward_chance_while_reconstruction_improves(
    tmp_path: Path,
) -> None:
    def mean(history: list[dict[str, float]], key: str, lo: int, hi: int | None = None) -> float:
        return float(np.mean([h[key] for h in history[lo:hi]]))

    free = _train_tones(tmp_path / "free", 0.0)  # ablation: the classifier is never opposed
    adversarial = _train_tones(tmp_path / "adv", 0.3)
    assert len(free) == len(adversarial) == 160
    # Without the adversarial term the domain is plain to see in the latents ...
    assert mean(free, "confusion_acc", -64) > 0.95
    # ... with it, the classifier is pushed back toward chance (1/K = 0.5) ...
    assert mean(adversarial, "confusion_acc", -64) < 0.8
    # ... while both still learn to reconstruct (NLL in nats per sample; uniform = 5.55).
    for history in (free, adversarial):
        assert mean(history, "recon", -20) < 0.5 * mean(history, "recon", 0, 5)


# ----------------------------------------------------------------------------- entry points
@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("translation")
    data = make_domains(root / "data")
    run = train(TrainJob(data, _settings(root / "run"), "tiny"))
    return run


def test_train_entry_point_exports_logs_and_checkpoint(base_run: Path) -> None:
    ckpt = read_checkpoint(base_run)
    assert ckpt.family == "translation" and ckpt.model_type == "umt" and ckpt.preset == "tiny"
    assert ckpt.extra == {"domains": ["sine", "square"], "sample_rate": 16000}
    assert ckpt.meta["steps"] == 6 and ckpt.meta["confusion_chance"] == 0.5
    with open(next((base_run / "logs").rglob("metrics.csv"))) as handle:
        columns = set(next(csv.reader(handle)))
    assert {"train/recon_nll", "train/confusion_acc", "val/recon_nll"} <= columns


def test_add_domain_trains_only_the_new_decoder(base_run: Path, tmp_path: Path) -> None:
    new = make_domains(tmp_path / "new", kinds=("saw",), pieces=5, seed=1) / "saw"
    before = load_translator(base_run)
    out = add_domain(
        base_run,
        new,
        tmp_path / "run2",
        _settings(tmp_path / "run2", max_steps=4),
        init_decoder="sine",
    )
    after = load_translator(out)
    assert after.domains == ["sine", "square", "saw"]
    assert read_checkpoint(out).meta["steps"] == 4
    old = before.state_dict()
    new_state = after.state_dict()
    for key, value in old.items():
        if key.startswith("confusion.head"):
            assert torch.equal(new_state[key][: value.shape[0]], value), key
        else:
            assert torch.equal(new_state[key], value), key  # encoder + old decoders: bit-identical
    trained = [k for k in new_state if k.startswith("decoders.2.")]
    assert any(
        not torch.equal(new_state[k], old[k.replace("decoders.2.", "decoders.0.")]) for k in trained
    )


def test_cli_translate_encode_domains_and_errors(
    base_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.wav"
    sf.write(src, np.stack([wave("sine", [440.0], 0.1)] * 2, 1), 22050)  # stereo, 22.05 kHz
    code, out, err = run_cli(capsys, "translation", "domains", "--model", str(base_run))
    assert code == 0 and out.split() == ["sine", "square"]

    code, out, err = run_cli(capsys, "translate", str(src), "--model", str(base_run), "--to", "all",
                          "-o", str(tmp_path / "outdir"), "--no-progress", "--seed", "1")  # fmt: skip
    assert code == 0, err
    for domain in ("sine", "square"):
        info = sf.info(tmp_path / "outdir" / f"{domain}.wav")
        assert (info.frames, info.samplerate, info.channels) == (1600, 22050, 1)
    assert "mixed to mono" in err and "resampled" in err

    code, out, err = run_cli(
        capsys,
        "translate",
        str(src),
        "-m",
        str(base_run),
        "--to",
        "banjo",
        "-o",
        str(tmp_path / "x.wav"),
    )
    assert (
        code == 1
        and err.strip() == "error: Unknown domain 'banjo'; this model knows: sine, square."
    )
    assert not (tmp_path / "x.wav").exists()

    code, out, err = run_cli(
        capsys,
        "translation",
        "encode",
        str(src),
        "-m",
        str(base_run),
        "-o",
        str(tmp_path / "z.npy"),
    )
    # 1161 samples at 16 kHz, pool 100: 12 frames of 8 latents, time first (as NSynth's)
    assert code == 0 and np.load(tmp_path / "z.npy").shape == (12, 8)
    code, out, err = run_cli(  # no suffix is added silently (issue 14): the name is refused
        capsys, "translation", "encode", str(src), "-m", str(base_run), "-o", str(tmp_path / "y")
    )
    assert (
        code == 1 and err.strip() == f"error: The output latents {tmp_path / 'y'} must end in .npy."
    )

    new = make_domains(tmp_path / "new", kinds=("saw",), pieces=3, seed=2) / "saw"
    code, out, err = run_cli(capsys, "translation", "add-domain", "-m", str(base_run), "--data", str(new),
                          "--out", str(tmp_path / "run3"), "--steps", "2", "--batch-size", "2",
                          "--no-progress", "--accelerator", "cpu")  # fmt: skip
    assert code == 0, err
    assert load_translator(tmp_path / "run3").domains == ["sine", "square", "saw"]
    code, out, err = run_cli(capsys, "translation", "add-domain", "-m", str(base_run), "--data", str(new),
                          "--out", str(tmp_path / "run4"), "--name", "sine")  # fmt: skip
    assert code == 1 and err.strip() == "error: The model already has a domain called 'sine'."

    (tmp_path / "nsynth").mkdir()
    (tmp_path / "nsynth" / "model.safetensors").write_bytes(b"")
    (tmp_path / "nsynth" / "config.json").write_text('{"family": "nsynth", "config": {}}')
    code, out, err = run_cli(
        capsys, "translate", str(src), "-m", str(tmp_path / "nsynth"), "--to", "sine"
    )
    assert code == 1 and "is a 'nsynth' checkpoint, not a 'translation' one." in err
