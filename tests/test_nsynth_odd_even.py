"""The odd/even diagnostic of the fast NSynth model (``nsynth.odd_even``): its levels on
notes whose harmonics are known, an echo model that hears everything against a model that
plays one timbre whatever it hears, and its one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.errors import InputError
from latentmusic.nsynth.odd_even import (
    OddEvenOptions,
    harmonic_profile_db,
    odd_even_check,
    odd_minus_even_db,
)

SR = 16000
N = 8192
RICH = [1.0 / k for k in range(1, 13)]  # every harmonic present
ODD = [1.0 / k if k % 2 else 0.01 / k for k in range(1, 13)]  # evens 40 dB down
INSTRUMENTS = (  # (split, name, amplitudes)
    ("train", "brass_acoustic_000", RICH),
    ("train", "string_acoustic_001", [a * (0.9**k) for k, a in enumerate(RICH)]),
    ("test", "reed_acoustic_002", ODD),
    ("test", "brass_acoustic_003", RICH),
)
OPTS = OddEvenOptions(pitch=60, notes=4, seconds=0.5, unseen="reed", unseen_pitch=60, judge_notes=8)


def tone(pitch: int, amps: list[float], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(N) / SR
    f = 440.0 * 2.0 ** ((pitch - 69) / 12)
    x = sum(a * np.sin(2 * np.pi * f * k * t + rng.uniform(0, 6.28)) for k, a in enumerate(amps, 1))
    return (0.5 * x / np.abs(x).max() * np.minimum(1.0, t / 0.01)).astype(np.float32)


def note_set(root: Path) -> Path:
    examples: dict[str, dict] = {"train": {}, "valid": {}, "test": {}}
    for inst, (split, name, amps) in enumerate(INSTRUMENTS):
        (root / split / "audio").mkdir(parents=True, exist_ok=True)
        for pitch in (55, 60):
            for velocity in (75, 127):
                key = f"{name}-{pitch:03d}-{velocity:03d}"
                sf.write(root / split / "audio" / f"{key}.wav", tone(pitch, amps, velocity), SR)
                examples[split][key] = {
                    "note": len(examples[split]), "note_str": key, "instrument": inst,
                    "instrument_str": name, "instrument_family": 0, "instrument_family_str": "brass",
                    "instrument_source": 0, "instrument_source_str": "acoustic", "pitch": pitch,
                    "velocity": velocity, "sample_rate": SR, "qualities": [0] * 10, "qualities_str": [],
                }  # fmt: skip
    for split, notes in examples.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / "examples.json").write_text(json.dumps(notes))
    return root


class Echo(torch.nn.Module):
    """A "model" that plays back exactly what it hears (hears every partial)."""

    model_type, sample_rate, hop = "harmonic", SR, 512

    def embed(self, audio: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        return audio

    def synthesize(self, z: torch.Tensor, pitch: torch.Tensor, generator=None) -> torch.Tensor:
        return z


class OneTimbre(Echo):
    """A "model" that plays every note as the rich tone, whatever it hears."""

    def synthesize(self, z: torch.Tensor, pitch: torch.Tensor, generator=None) -> torch.Tensor:
        one = torch.from_numpy(tone(int(pitch[0]), RICH, 0)[: z.shape[-1]])
        return one.expand(z.shape[0], -1)


def test_levels_read_the_known_harmonics() -> None:
    rich = torch.from_numpy(tone(60, RICH, 0))[None]
    odd = torch.from_numpy(tone(60, ODD, 0))[None]
    profile = harmonic_profile_db(torch.cat([rich, odd]), torch.tensor([60.0, 60.0]), SR)
    # 1/k amplitudes: harmonic 2 is 6 dB under the fundamental, harmonic 4 12 dB (to the
    # Hann window's scalloping: a partial between two bins reads up to 1.4 dB low).
    assert profile[0, 1] - profile[0, 0] == pytest.approx(-6.0, abs=1.5)
    assert profile[0, 3] - profile[0, 0] == pytest.approx(-12.0, abs=1.5)
    level = odd_minus_even_db(profile)
    assert level[0] == pytest.approx(2.8, abs=1.5)  # 1, 3, 5, 7 against 2, 4, 6, 8 of 1/k
    assert level[1] - level[0] > 30.0  # the evens 40 dB down (STFT leakage fills some)


def test_an_echo_keeps_the_comb_and_one_timbre_loses_it(tmp_path: Path) -> None:
    data = note_set(tmp_path / "notes")
    heard = odd_even_check(Echo(), data, data, OPTS)
    combed = heard["combed"]
    assert combed["combed_original"] - combed["plain_original"] > 15.0  # the comb's 25.6 dB
    assert combed["combed_reconstruction"] == pytest.approx(combed["combed_original"], abs=1e-3)
    assert combed["plain_reconstruction"] == pytest.approx(combed["plain_original"], abs=1e-3)
    unseen = heard["unseen"]
    assert unseen["note"].startswith("reed_acoustic_002-060")
    assert unseen["original_over_fundamental_db"] == unseen["reconstruction_over_fundamental_db"]
    assert unseen["original_over_fundamental_db"][0] < -30.0  # its harmonic 2
    assert unseen["p_instrument_reconstruction"] == pytest.approx(unseen["p_instrument_original"])

    deaf = odd_even_check(OneTimbre(), data, data, OPTS)
    combed = deaf["combed"]
    assert abs(combed["combed_reconstruction"] - combed["plain_reconstruction"]) < 1.0
    assert combed["combed_original"] - combed["combed_reconstruction"] > 15.0
    unseen = deaf["unseen"]
    assert unseen["reconstruction_over_fundamental_db"][0] == pytest.approx(-6.0, abs=1.0)
    assert unseen["p_instrument_reconstruction"] < unseen["p_instrument_original"]


def test_bad_requests_are_one_sentence(tmp_path: Path) -> None:
    data = note_set(tmp_path / "notes")
    with pytest.raises(InputError, match="No test instrument .* has 'clarinet' in its name"):
        odd_even_check(Echo(), data, data, OddEvenOptions(unseen="clarinet", seconds=0.5))
    with pytest.raises(InputError, match="No training note .* plays MIDI pitch 72"):
        odd_even_check(Echo(), data, data, OddEvenOptions(pitch=72, seconds=0.5))
    with pytest.raises(InputError, match="reads a harmonic model"):
        odd_even_check(torch.nn.Linear(1, 1), data, data, OPTS)
    with pytest.raises(InputError, match="first 8 harmonics are audible"):
        harmonic_profile_db(torch.zeros(1, N), torch.tensor([100.0]), SR)


def test_the_script_says_what_is_wrong_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "nsynth_odd_even", Path(__file__).parents[1] / "scripts" / "nsynth_odd_even.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(tmp_path / "nowhere"), "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "\n" not in err and "Traceback" not in err
