"""The morph measure of ``eval nsynth``: known answers on paths whose verdict is built in, and
the measure running on every NSynth model type through ``evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.errors import InputError
from latentmusic.nsynth.config import HARMONIC_PRESETS, PRESETS, SPECTRAL_PRESETS
from latentmusic.nsynth.evaluate import EvalOptions
from latentmusic.nsynth.morph import (
    CROSSFADE,
    MONOTONE_TOLERANCE,
    choose_pairs,
    measure_morphs,
    score_path,
    summarise,
)
from latentmusic.nsynth.verbs import EmbeddingVerbs

SR = 16000
N = 4096  # a quarter second


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest's: tests share busy cores


def tone(pitch: float, amps: list[float], n: int = N) -> np.ndarray:
    t = np.arange(n) / SR
    f = 440.0 * 2.0 ** ((pitch - 69) / 12)
    x = sum(a * np.sin(2 * np.pi * f * k * t) for k, a in enumerate(amps, 1) if a)
    return (0.5 * x / np.abs(x).max() * np.minimum(1.0, t / 0.01)).astype(np.float32)


# (split, family, family id, harmonic amplitudes): two test instruments of distinct colour.
INSTRUMENTS = (
    ("train", "flute", 2, [1.0, 0.2]),
    ("train", "brass", 1, [1.0 / k for k in range(1, 10)]),
    ("test", "flute", 2, [1.0, 0.05, 0.02]),
    ("test", "reed", 7, [1.0, 0.0, 0.8, 0.0, 0.7, 0.0, 0.6]),
)
PITCHES = (55, 57, 60, 62, 64)


def note_set(root: Path) -> Path:
    """An NSynth-format set of harmonic tones, split by instrument."""
    examples: dict[str, dict] = {"train": {}, "valid": {}, "test": {}}
    for inst, (split, family, family_id, amps) in enumerate(INSTRUMENTS):
        (root / split / "audio").mkdir(parents=True, exist_ok=True)
        for pitch in PITCHES:
            for velocity in (75, 100):
                name = f"{family}_synthetic_{inst:03d}"
                key = f"{name}-{pitch:03d}-{velocity:03d}"
                sf.write(root / split / "audio" / f"{key}.wav", tone(pitch, amps), SR)
                examples[split][key] = {
                    "note": len(examples[split]), "note_str": key, "instrument": inst,
                    "instrument_str": name, "instrument_family": family_id,
                    "instrument_family_str": family, "instrument_source": 2,
                    "instrument_source_str": "synthetic", "pitch": pitch,
                    "velocity": velocity, "sample_rate": SR, "qualities": [0] * 10,
                    "qualities_str": [],
                }  # fmt: skip
    (root / "valid" / "audio").mkdir(parents=True, exist_ok=True)
    for split, notes in examples.items():
        (root / split / "examples.json").write_text(json.dumps(notes))
    return root


# ---------------------------------------------------------------------------- the verdict alone
def test_score_path_known_answers() -> None:
    on_pitch = [0.0, 10.0, -20.0, 5.0, 0.0]
    good = score_path([0.95, 0.8, 0.5, 0.2, 0.05], on_pitch)
    assert good["all_pitch_kept"] and good["monotone"] and good["falls"]
    assert good["spearman"] == pytest.approx(-1.0) and good["p_a_drop"] == pytest.approx(0.9)
    assert good["ends_right"]
    # A judge's wobble within the tolerance is a tie; a real rise is not monotone.
    wobble = score_path([0.9, 0.9 + MONOTONE_TOLERANCE / 2, 0.5, 0.1, 0.1], on_pitch)
    assert wobble["monotone"] and wobble["falls"]
    rise = score_path([0.9, 0.4, 0.6, 0.2, 0.1], on_pitch)
    assert not rise["monotone"] and not rise["falls"] and -1.0 < rise["spearman"] < 0.0
    # Staying A is monotone but is no morph; its rank order is undefined.
    stuck = score_path([0.9] * 5, on_pitch)
    assert stuck["monotone"] and not stuck["falls"] and math.isnan(stuck["spearman"])
    assert not stuck["ends_right"]  # B's end is heard as A
    # No pitch found (NaN) or 60 cents off are misses.
    off = score_path([0.9, 0.7, 0.5, 0.3, 0.1], [0.0, float("nan"), 60.0, -49.0, 0.0])
    assert off["pitch_kept"] == [True, False, False, True, True] and not off["all_pitch_kept"]

    summary = summarise([good, rise, stuck, off])
    assert summary["pitch_kept_steps"] == pytest.approx(18 / 20)
    assert summary["pitch_kept_pairs"] == 0.75
    assert summary["monotone_pairs"] == 0.75 and summary["falling_pairs"] == 0.5
    assert summary["ends_right_pairs"] == 0.75
    assert summary["mean_spearman"] == pytest.approx(np.mean([-1.0, rise["spearman"], -1.0]))
    assert not summary["target_met"]
    assert summary["falling_pairs_vs_b"] is None  # no P(B) was given
    assert summarise([good, good])["target_met"]


def test_score_path_reads_a_against_b_beside_the_verdict() -> None:
    on_pitch = [0.0] * 5
    # P(A) rises in mid-path while a third instrument's share falls back; against B alone
    # the path never turns back: the verdict fails, the diagnostic says why.
    third = score_path([0.9, 0.8, 0.85, 0.93, 0.0], on_pitch, [0.0, 0.05, 0.1, 0.2, 1.0])
    assert not third["falls"] and third["falls_vs_b"]
    assert third["a_vs_b"][0] == pytest.approx(1.0) and third["a_vs_b"][-1] == pytest.approx(0.0)
    assert third["a_vs_b"][2] == pytest.approx(0.85 / 0.95)
    # A path that really turns back towards A fails both readings.
    back = score_path([0.9, 0.4, 0.7, 0.2, 0.1], on_pitch, [0.1, 0.6, 0.3, 0.8, 0.9])
    assert not back["falls"] and not back["falls_vs_b"]
    summary = summarise([third, back])
    assert summary["falling_pairs"] == 0.0 and summary["falling_pairs_vs_b"] == 0.5
    assert not summary["target_met"]  # the diagnostic never meets the target


def test_pairs_spread_over_instruments_at_a_shared_pitch() -> None:
    def n(inst: int, pitch: int, velocity: int = 100) -> SimpleNamespace:
        return SimpleNamespace(
            instrument=inst, pitch=pitch, velocity=velocity, note_str=f"{inst}-{pitch}-{velocity}"
        )

    notes = [n(i, p, v) for i in range(4) for p in (48, 59, 61, 70) for v in (50, 127)]
    notes += [n(3, 60, 90), n(9, 30)]  # instrument 9 shares no pitch with anyone
    pairs = choose_pairs(notes, 4)
    assert [(a.instrument, b.instrument) for a, b, _ in pairs] == [(0, 1), (0, 3), (1, 2), (2, 3)]
    # Pitch nearest 60 (the first target; ties go low), then 67, 53, 72, within both ranges.
    assert [p for *_, p in pairs] == [59, 70, 48, 70]
    assert all(a.pitch == b.pitch == p for a, b, p in pairs)
    assert {a.velocity for a, *_ in pairs} == {127}  # nearest 100 (|127-100| < |50-100|)
    assert choose_pairs([n(0, 60), n(0, 62)], 3) == []  # one instrument: nothing to morph


# ----------------------------------------------------------------- known paths through the judge
class FakeMorpher(EmbeddingVerbs):
    """A 'model' whose morph is built to a known verdict."""

    sample_rate = SR
    hop = 128
    model_type = "fake"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def interpolate(self, a: Any, b: Any, steps: int = 5, **_: Any) -> torch.Tensor:
        fade = self.crossfade(a, b, steps)
        if self.kind == "stuck":
            return fade[:1].expand(steps, -1).clone()
        if self.kind == "reversed":
            return fade.flip(0)
        if self.kind == "detuned":  # the middle step a tone apart
            fade[steps // 2] = torch.from_numpy(tone(62, INSTRUMENTS[2][3]))
        return fade


def test_measure_morphs_reads_paths_of_known_verdict(tmp_path: Path) -> None:
    from latentmusic.data.nsynth import read_examples

    data = note_set(tmp_path / "notes")
    notes = read_examples(data, "test")
    systems = {k: FakeMorpher(k) for k in ("faithful", "stuck", "reversed", "detuned")}
    opts = EvalOptions(morph_pairs=1, morph_steps=5, pitch="label", classifier_notes=2000)
    out = tmp_path / "eval"
    morph = measure_morphs(systems, notes, N, opts, {}, out)

    assert morph["pairs"] == 1 and morph["steps"] == 5
    pair = morph["per_pair"][0]
    assert pair["pitch"] == 60
    # The judge never heard the endpoint notes and still tells them apart.
    assert morph["judge"]["n_train"] == len(notes) - 2
    assert pair["judge_on_originals"]["p_a_of_a"] > 0.5 > pair["judge_on_originals"]["p_a_of_b"]
    s = morph["systems"]
    assert s["faithful"]["target_met"] and s["faithful"]["pitch_kept_steps"] == 1.0
    assert s["faithful"]["falling_pairs"] == 1.0 and s["faithful"]["mean_spearman"] < -0.8
    assert s[CROSSFADE] == {k: v for k, v in s["faithful"].items() if k != "seconds_per_morph"}
    assert s["stuck"]["monotone_pairs"] == 1.0 and s["stuck"]["falling_pairs"] == 0.0
    assert s["reversed"]["monotone_pairs"] == 0.0 and s["reversed"]["mean_spearman"] > 0.8
    assert s["detuned"]["pitch_kept_steps"] == pytest.approx(0.8)
    assert s["detuned"]["pitch_kept_pairs"] == 0.0 and not s["detuned"]["target_met"]
    assert pair["systems"]["detuned"]["pitch_kept"] == [True, True, False, True, True]
    for rec in pair["systems"].values():
        assert len(rec["audio"]) == 5 and (out / rec["audio"][0]).is_file()


# ------------------------------------------------------------------- every model type, via eval
def test_eval_measures_the_morph_of_every_model_type(tmp_path: Path) -> None:
    from latentmusic.evaluation import EvalJob
    from latentmusic.nsynth.evaluate import evaluate
    from latentmusic.nsynth.harmonic import HarmonicAutoencoder
    from latentmusic.nsynth.model import NSynthWaveNetAE
    from latentmusic.nsynth.spectral_ae import SpectralAutoencoder
    from latentmusic.nsynth.train import export

    data = note_set(tmp_path / "notes")
    torch.manual_seed(0)
    runs = [
        export(HarmonicAutoencoder(HARMONIC_PRESETS["tiny"]), tmp_path / "harmonic", "tiny"),
        export(SpectralAutoencoder(SPECTRAL_PRESETS["tiny"]), tmp_path / "spectral", "tiny"),
        export(NSynthWaveNetAE(PRESETS["tiny"]), tmp_path / "wavenet", "tiny"),
    ]
    options = {"seconds": "0.125", "max_notes": "2", "page_notes": "0", "classifier_notes": "40"}
    options |= {"morph_pairs": "1", "morph_steps": "3", "backend": "torch"}
    results = evaluate(EvalJob(runs[0], data, "test", tmp_path / "eval", runs[1:], options))
    morph = results["morph"]
    assert "per_pair" not in morph  # the printed summary stays short
    assert set(morph["systems"]) == {"harmonic", "spectral", "wavenet", CROSSFADE}
    for name, m in morph["systems"].items():
        assert 0.0 <= m["pitch_kept_steps"] <= 1.0 and 0.0 <= m["monotone_pairs"] <= 1.0, name
    # The harmonic model plays the pair's (labelled) pitch at every step, trained or not.
    assert morph["systems"]["harmonic"]["pitch_kept_steps"] == 1.0
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    pair = saved["morph"]["per_pair"][0]
    assert len(pair["systems"]["wavenet"]["p_a"]) == 3
    assert "Morph: 1 pairs" in (tmp_path / "eval" / "index.html").read_text()

    skipped = evaluate(
        EvalJob(runs[0], data, "test", tmp_path / "eval2", [], options | {"morph_pairs": "0"})
    )
    assert "systems" not in skipped["morph"]
    with pytest.raises(InputError, match="morph_steps"):
        evaluate(EvalJob(runs[0], data, "test", tmp_path / "eval3", [], {"morph_steps": "1"}))


def test_the_pad_is_rendered_once_with_the_corners_at_its_corners() -> None:
    from latentmusic.nsynth.harmonic import HarmonicAutoencoder

    torch.manual_seed(0)
    model = HarmonicAutoencoder(HARMONIC_PRESETS["tiny"]).eval()
    corners = [tone(60, INSTRUMENTS[i][3]) for i in range(4)]
    zs = [model.encode(c) for c in corners]
    points = model.pad(corners, size=3, decode=False)
    assert points.shape == (3, 3, *zs[0].shape)
    for (r, c), z in zip(((0, 0), (0, 2), (2, 0), (2, 2)), zs, strict=True):
        assert torch.allclose(points[r, c], z, atol=1e-6)
    assert torch.allclose(points[1, 1], torch.stack(zs).mean(0), atol=1e-6)
    audio = model.pad(corners, size=3, pitch=60.0, seed=0)
    assert audio.shape == (3, 3, zs[0].shape[0] * model.hop)
    # Each position is the point `nsynth grid` plays there (row y, column x).
    assert torch.allclose(points[0, 1], model.grid(corners, 0.5, 0.0, decode=False), atol=1e-6)
    assert torch.allclose(points[2, 1], model.grid(corners, 0.5, 1.0, decode=False), atol=1e-6)
    with pytest.raises(InputError, match="4 corner"):
        model.pad(corners[:3])
