"""The training harness: logs, checkpoints, exact resume, DDP on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latentmusic.errors import InputError
from latentmusic.train.checkpoint import read_checkpoint
from latentmusic.train.harness import TrainSettings, fit
from tests.toy_module import TRUE_W, ToyData, ToyModule

ROOT = Path(__file__).resolve().parents[1]


def _settings(out: Path, **kw) -> TrainSettings:
    base = dict(
        out=out,
        max_steps=40,
        batch_size=16,
        val_every=20,
        ckpt_every=20,
        log_every=5,
        progress=False,
        accelerator="cpu",
        seed=7,
    )
    base.update(kw)
    return TrainSettings(**base)


def test_fit_learns_logs_and_exports(tmp_path: Path) -> None:
    module = ToyModule()
    fit(module, ToyData(), ToyData(64, seed=1), _settings(tmp_path / "run", max_steps=150))
    run = tmp_path / "run"
    assert module.losses[-1] < 0.05 * module.losses[0]
    ckpt = read_checkpoint(run)
    assert ckpt.family == "toy" and ckpt.meta["steps"] == 150
    assert torch.allclose(ckpt.state_dict["weight"][0], TRUE_W, atol=0.1)
    assert (run / "lightning" / "last.ckpt").is_file()
    metrics = (run / "logs" / "csv" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/loss" in metrics
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "logs").rglob("*"))


def test_resume_reproduces_the_same_losses(tmp_path: Path) -> None:
    straight = ToyModule()
    fit(straight, ToyData(), None, _settings(tmp_path / "a", max_steps=40))

    first = ToyModule()
    fit(first, ToyData(), None, _settings(tmp_path / "b", max_steps=20))
    second = ToyModule()
    fit(second, ToyData(), None, _settings(tmp_path / "b", max_steps=40, resume=True))
    assert len(second.losses) == 20
    assert first.losses + second.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)
    assert (tmp_path / "b" / "logs" / "csv" / "metrics.csv").is_file()
    assert (tmp_path / "b" / "logs" / "csv-resumed-at-20" / "metrics.csv").is_file()
    w_a = read_checkpoint(tmp_path / "a").state_dict["weight"]
    w_b = read_checkpoint(tmp_path / "b").state_dict["weight"]
    assert torch.equal(w_a, w_b)


def test_resume_without_a_run_and_overwrite_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Cannot resume"):
        fit(ToyModule(), ToyData(), None, _settings(tmp_path / "none", resume=True))
    fit(ToyModule(), ToyData(), None, _settings(tmp_path / "r", max_steps=2))
    with pytest.raises(InputError, match="already holds a training run"):
        fit(ToyModule(), ToyData(), None, _settings(tmp_path / "r", max_steps=2))


DDP_SCRIPT = """
import sys, json, torch
sys.path.insert(0, {root!r})
from tests.toy_module import ToyModule, ToyData
from latentmusic.train.harness import TrainSettings, fit
from latentmusic.train.checkpoint import read_checkpoint
if __name__ == "__main__":
    devices, out, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    strategy = "ddp" if devices > 1 else "auto"
    settings = TrainSettings(out=out, max_steps=150, batch_size=batch, val_every=1000, ckpt_every=1000,
                             progress=False, accelerator="cpu", devices=devices, strategy=strategy, seed=3)
    fit(ToyModule(), ToyData(), None, settings)
"""


@pytest.mark.timeout(300)
def test_ddp_two_processes_matches_one_process(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    for devices, batch in ((1, 32), (2, 16)):
        out = tmp_path / f"run{devices}"
        proc = subprocess.run(
            [sys.executable, str(script), str(devices), str(out), str(batch)],
            capture_output=True,
            text=True,
            env=env,
            timeout=280,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    w1 = read_checkpoint(tmp_path / "run1").state_dict["weight"][0]
    w2 = read_checkpoint(tmp_path / "run2").state_dict["weight"][0]
    assert torch.allclose(w1, TRUE_W, atol=0.05)
    assert torch.allclose(w1, w2, atol=0.05), (w1, w2)
    meta = json.loads((tmp_path / "run2" / "meta.json").read_text())
    assert meta["steps"] == 150


def test_training_keeps_freed_memory_where_glibc_allows() -> None:
    import platform

    from latentmusic.train.allocator import keep_freed_memory

    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc


def test_native_bf16_is_read_from_the_cpu_flags() -> None:
    from latentmusic.train.harness import cpu_has_native_bf16

    ice_lake = "flags : fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
    assert cpu_has_native_bf16(ice_lake) is False
    assert cpu_has_native_bf16(ice_lake.replace("vnni", "vnni avx512_bf16")) is True
    assert cpu_has_native_bf16(ice_lake.replace("vnni", "vnni amx_bf16")) is True
    assert cpu_has_native_bf16("Features : fp asimd bf16\n") is None  # not x86: no verdict


@pytest.mark.filterwarnings("ignore:You defined a `validation_step`")  # trains without val data
def test_emulated_bf16_training_warns_in_one_cli_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import warnings

    from latentmusic.cli.main import _format_warning
    from latentmusic.errors import LatentMusicWarning
    from latentmusic.train import harness

    monkeypatch.setattr(harness, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    with pytest.warns(LatentMusicWarning, match="about 3x slower than 32-true"):
        fit(
            ToyModule(),
            ToyData(),
            None,
            _settings(tmp_path / "a", max_steps=2, precision="bf16-mixed"),
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(ToyModule(), ToyData(), None, _settings(tmp_path / "b", max_steps=2))
    assert not [w for w in caught if issubclass(w.category, LatentMusicWarning)]
    line = _format_warning("slow.", LatentMusicWarning, "harness.py", 1)
    assert line == "warning: slow.\n"


class _Payload:
    """Pickled, this object would create ``marker`` when unpickled (what an attacker plants)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def _plant_payload(ckpt: Path, marker: Path) -> None:
    """Rewrite a real (zip-format) Lightning checkpoint with a pickled payload inside it."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    state["callbacks"] = {"evil": _Payload(marker)}
    torch.save(state, ckpt)


def test_resume_refuses_a_checkpoint_the_harness_did_not_write(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(ToyModule(), ToyData(), None, _settings(run, max_steps=20))
    ckpt = run / "lightning" / "last.ckpt"
    assert (run / "lightning" / "last.ckpt.sha256").read_text().strip()
    marker = tmp_path / "pwned"
    _plant_payload(ckpt, marker)
    with pytest.raises(InputError, match="is not the file latentmusic wrote there"):
        fit(ToyModule(), ToyData(), None, _settings(run, max_steps=40, resume=True))
    assert not marker.exists()


def test_a_forged_record_still_never_runs_the_payload(tmp_path: Path) -> None:
    """Even with its SHA-256 record forged, the file is only ever loaded weights-only."""
    from latentmusic.train.harness import _file_digest

    run = tmp_path / "run"
    fit(ToyModule(), ToyData(), None, _settings(run, max_steps=20))
    ckpt = run / "lightning" / "last.ckpt"
    marker = tmp_path / "pwned"
    _plant_payload(ckpt, marker)
    (run / "lightning" / "last.ckpt.sha256").write_text(_file_digest(ckpt))
    with pytest.raises(InputError, match="not a readable training checkpoint"):
        fit(ToyModule(), ToyData(), None, _settings(run, max_steps=40, resume=True))
    assert not marker.exists()


def test_resume_without_a_record_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(ToyModule(), ToyData(), None, _settings(run, max_steps=20))
    (run / "lightning" / "last.ckpt.sha256").unlink()
    with pytest.raises(InputError, match="was not written by latentmusic's training harness"):
        fit(ToyModule(), ToyData(), None, _settings(run, max_steps=40, resume=True))


def test_exported_weights_are_readable_by_others(tmp_path: Path) -> None:
    run = tmp_path / "run"
    old = os.umask(0o022)
    try:
        fit(ToyModule(), ToyData(), None, _settings(run, max_steps=2))
    finally:
        os.umask(old)
    assert (run / "model.safetensors").stat().st_mode & 0o777 == 0o644


class _ScriptedValidation(ToyModule):
    """A toy whose validation loss is a fixed function of the step: best at step 40."""

    SCRIPT = {20: 3.0, 40: 1.0, 60: 2.0, 80: 1.5}

    def validation_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        self.log("val/loss", torch.tensor(self.SCRIPT[int(self.global_step)]))


def test_best_validation_state_is_kept_across_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(_ScriptedValidation(), ToyData(), ToyData(32, seed=1), _settings(run, max_steps=60))
    best = read_checkpoint(run / "best")
    assert best.meta["steps"] == 40 and best.meta["best"] == {"metric": "val/loss", "value": 1.0}
    assert read_checkpoint(run).meta["steps"] == 60  # the run's own export is the last state
    # Resumed, step 80 (1.5) is worse than the best so far (1.0): best/ must not move.
    fit(
        _ScriptedValidation(),
        ToyData(),
        ToyData(32, seed=1),
        _settings(run, max_steps=80, resume=True),
    )
    assert read_checkpoint(run / "best").meta["steps"] == 40
    assert read_checkpoint(run).meta["steps"] == 80
