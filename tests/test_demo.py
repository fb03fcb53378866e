"""The demo plays the shipped models; a family without one trains briefly and says so."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest

from latentmusic.demo import musicvae as demo_musicvae
from latentmusic.demo.runner import run_demo


def test_musicvae_section_plays_the_shipped_model_without_training(tmp_path: Path) -> None:
    page = run_demo(tmp_path / "demo", only=["musicvae"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"The shipped {demo_musicvae.SHIPPED} model" in html
    assert "was trained" not in html
    assert not (tmp_path / "work" / "musicvae").exists()  # nothing was trained
    morph = pretty_midi.PrettyMIDI(
        str(tmp_path / "demo" / "assets" / "musicvae" / "interpolation.mid")
    )
    assert sum(len(i.notes) for i in morph.instruments) >= demo_musicvae.STEPS * 2


def test_musicvae_section_without_a_shipped_model_trains_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATENTMUSIC_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(demo_musicvae, "TRAIN_STEPS", 20)
    page = run_demo(tmp_path / "demo", only=["musicvae"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"No shipped {demo_musicvae.SHIPPED} model was found" in html
    assert (tmp_path / "work" / "musicvae" / demo_musicvae.PRESET / "model.safetensors").is_file()
