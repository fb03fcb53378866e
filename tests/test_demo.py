"""The demo plays the shipped models; a family without one trains briefly and says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from latentmusic.demo import jukebox as demo_jukebox
from latentmusic.demo import musicvae as demo_musicvae
from latentmusic.demo import nsynth as demo_nsynth
from latentmusic.demo.runner import run_demo
from latentmusic.nsynth.evaluate import cents_off, median_f0


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


def test_musicvae_section_plays_the_shipped_drum_and_trio_models(tmp_path: Path) -> None:
    page = run_demo(tmp_path / "demo", only=["musicvae"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"Drum loops ({demo_musicvae.DRUMS})" in html and "Beat Blender" in html
    assets = tmp_path / "demo" / "assets" / "musicvae"
    morph = pretty_midi.PrettyMIDI(str(assets / "drums_morph.mid"))
    hits = [n for i in morph.instruments if i.is_drum for n in i.notes]
    assert len(hits) >= demo_musicvae.STEPS * 4  # eight loops of drums, on the drum channel
    assert len(list(assets.glob("blend_*.mid"))) == 9
    trio = pretty_midi.PrettyMIDI(str(assets / "trio_1.mid"))
    assert sum(1 for i in trio.instruments if i.notes) == 3  # melody, bass and drums
    assert trio.get_end_time() > 16 * 4 * 60 / 110 * 0.9  # 16 bars at 110 qpm


def test_musicvae_section_without_a_shipped_model_trains_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATENTMUSIC_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(demo_musicvae, "TRAIN_STEPS", 20)
    page = run_demo(tmp_path / "demo", only=["musicvae"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"No shipped {demo_musicvae.SHIPPED} model was found" in html
    assert (tmp_path / "work" / "musicvae" / demo_musicvae.PRESET / "model.safetensors").is_file()


def test_nsynth_section_plays_the_shipped_fast_model_without_training(tmp_path: Path) -> None:
    page = run_demo(tmp_path / "demo", only=["nsynth"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"the shipped {demo_nsynth.SHIPPED} model" in html
    assert "was trained" not in html
    assert not (tmp_path / "work" / "nsynth").exists()  # nothing was trained
    if demo_nsynth._shipped(demo_nsynth.SHIPPED_WAVENET) is None:
        assert f"({demo_nsynth.SHIPPED_WAVENET}, the NSynth paper" in html
        assert "is not shipped yet" in html
    assets = tmp_path / "demo" / "assets" / "nsynth"
    steps = [sf.read(assets / f"latent_{i}.wav") for i in range(demo_nsynth.STEPS)]
    target = 440.0 * 2.0 ** ((demo_nsynth.PITCH - 69) / 12)
    for audio, sr in steps:  # the morph keeps the note at every step
        assert abs(cents_off(median_f0(audio, sr, demo_nsynth.PITCH), demo_nsynth.PITCH)) < 50
    assert f"{target:.1f} Hz" in html
    pads = sorted(assets.glob("pad_*.wav"))
    assert len(pads) == len(demo_nsynth.PAD_PITCHES) * demo_nsynth.PAD_SIZE**2


def test_nsynth_section_without_a_shipped_model_trains_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATENTMUSIC_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(demo_nsynth, "TRAIN_STEPS", 5)
    monkeypatch.setattr(demo_nsynth, "PAD_PITCHES", (60,))
    page = run_demo(tmp_path / "demo", only=["nsynth"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"No shipped {demo_nsynth.SHIPPED} model was found" in html
    assert "is not shipped yet" in html
    run = tmp_path / "work" / "nsynth" / f"harmonic-{demo_nsynth.PRESET}"
    assert (run / "model.safetensors").is_file()


def test_nsynth_section_plays_a_shipped_wavenet_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from latentmusic.catalogue import models_dir
    from latentmusic.nsynth.config import PRESETS
    from latentmusic.nsynth.model import NSynthWaveNetAE
    from latentmusic.nsynth.train import export

    shipped = tmp_path / "models"
    shipped.mkdir()
    (shipped / demo_nsynth.SHIPPED).symlink_to(models_dir() / demo_nsynth.SHIPPED)
    export(NSynthWaveNetAE(PRESETS["tiny"]), shipped / demo_nsynth.SHIPPED_WAVENET, "tiny")
    monkeypatch.setenv("LATENTMUSIC_MODELS", str(shipped))
    monkeypatch.setattr(demo_nsynth, "SECONDS", 0.25)  # an untrained WaveNet decodes slowly
    monkeypatch.setattr(demo_nsynth, "PAD_PITCHES", (60,))
    page = run_demo(tmp_path / "demo", only=["nsynth"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"the shipped WaveNet autoencoder {demo_nsynth.SHIPPED_WAVENET}" in html
    assert "not shipped yet" not in html
    assets = tmp_path / "demo" / "assets" / "nsynth"
    assert all((assets / f"wavenet_latent_{i}.wav").is_file() for i in range(demo_nsynth.STEPS))


def _short_jukebox_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-chain sampling is the slow part: one instrument, about a second of audio."""
    monkeypatch.setattr(demo_jukebox, "GENRES", ("piano",))
    monkeypatch.setattr(demo_jukebox, "SAMPLE_SECONDS", 1.0)
    monkeypatch.setattr(demo_jukebox, "PRIME_SECONDS", 1.0)
    monkeypatch.setattr(demo_jukebox, "CONTINUE_SECONDS", 0.5)


def test_jukebox_section_plays_the_shipped_chain_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _short_jukebox_demo(monkeypatch)
    page = run_demo(tmp_path / "demo", only=["jukebox"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"the shipped {demo_jukebox.SHIPPED} chain" in html
    assert not (tmp_path / "work" / "jukebox").exists()  # nothing was trained
    assets = tmp_path / "demo" / "assets" / "jukebox"
    sample, sr = sf.read(assets / "sample_piano.wav")
    assert len(sample) == sr and np.sqrt(np.mean(sample**2)) > 1e-3  # a second, not silence
    assert "through the whole chain" in html and "asked for piano (bach), level 0" in html
    assert (assets / "sample_piano_top.wav").is_file()  # the same sample's top level alone
    cont, _ = sf.read(assets / "continuation.wav")
    assert len(cont) == int(1.5 * sr)
    recon = {level: f"level {level} (hop" in html for level in range(3)}
    assert all(recon.values())


def test_jukebox_section_without_a_shipped_model_trains_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _short_jukebox_demo(monkeypatch)
    monkeypatch.setenv("LATENTMUSIC_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(demo_jukebox, "VQVAE_MINUTES", 0.1)
    monkeypatch.setattr(demo_jukebox, "PRIOR_MINUTES", 0.05)
    page = run_demo(tmp_path / "demo", only=["jukebox"], workdir=tmp_path / "work")
    html = page.read_text()
    assert f"no shipped {demo_jukebox.SHIPPED} model was found" in html
    assert "(top level only)" in html
    run = tmp_path / "work" / "jukebox" / "run"
    assert (run / "vqvae" / "model.safetensors").is_file()
    assert (run / "prior" / "model.safetensors").is_file()
    assert not (tmp_path / "demo" / "assets" / "jukebox" / "sample_piano_top.wav").exists()
