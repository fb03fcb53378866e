"""Synthetic NSynth-format note sets and tiny trained models for the nsynth tests.

Notes are harmonic tones with instrument-specific spectra (a "flute" of few harmonics, an
"organ" of odd harmonics, a "brass" sawtooth), written in NSynth's exact layout, so the
real readers, trainer and evaluator run on them without FluidSynth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

SR = 16000
FAMILIES = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)
# (instrument_str, family, harmonic amplitudes)
INSTRUMENTS = {
    "flute_acoustic_000": ("flute", [1.0, 0.3, 0.1]),
    "organ_electronic_000": ("organ", [1.0, 0.0, 0.5, 0.0, 0.3, 0.0, 0.2]),
    "brass_acoustic_000": ("brass", [1.0 / k for k in range(1, 12)]),
    "flute_acoustic_001": ("flute", [1.0, 0.2, 0.05, 0.02]),
    "organ_electronic_001": ("organ", [1.0, 0.0, 0.4, 0.0, 0.4]),
    "brass_acoustic_001": ("brass", [1.0 / k**0.8 for k in range(1, 10)]),
}
SPLITS = {
    "train": ["flute_acoustic_000", "organ_electronic_000", "brass_acoustic_000"],
    "valid": ["flute_acoustic_001"],
    "test": ["organ_electronic_001", "brass_acoustic_001"],
}


@pytest.fixture
def one_thread():
    """Tests share 2 busy cores: one torch thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def tone(pitch: float, amps: list[float], seconds: float = 0.5, sr: int = SR) -> np.ndarray:
    """A harmonic tone with a 10 ms attack and a slow exponential decay, peak 0.5."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = midi_hz(pitch)
    x = sum(
        a * np.sin(2 * np.pi * f * k * t) for k, a in enumerate(amps, 1) if a and f * k < 0.45 * sr
    )
    env = np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)
    return (0.5 * x / np.abs(x).max() * env).astype(np.float32)


def make_note_set(
    root: Path, pitches: tuple[int, ...] = (55, 60, 64, 67), seconds: float = 0.5
) -> Path:
    """Write an NSynth-format set (train/valid/test by instrument) and return its root."""
    note_id = 0
    for split, names in SPLITS.items():
        audio_dir = root / split / "audio"
        audio_dir.mkdir(parents=True, exist_ok=True)
        examples = {}
        for inst_id, name in enumerate(INSTRUMENTS):
            if name not in names:
                continue
            family, amps = INSTRUMENTS[name]
            source = name.split("_")[1]
            for pitch in pitches:
                note_str = f"{name}-{pitch:03d}-100"
                sf.write(
                    audio_dir / f"{note_str}.wav", tone(pitch, amps, seconds), SR, subtype="PCM_16"
                )
                examples[note_str] = {
                    "note": note_id,
                    "note_str": note_str,
                    "instrument": inst_id,
                    "instrument_str": name,
                    "instrument_family": FAMILIES.index(family),
                    "instrument_family_str": family,
                    "instrument_source": ("acoustic", "electronic", "synthetic").index(source),
                    "instrument_source_str": source,
                    "pitch": pitch,
                    "velocity": 100,
                    "sample_rate": SR,
                    "qualities": [0] * 10,
                    "qualities_str": [],
                }
                note_id += 1
        (root / split / "examples.json").write_text(json.dumps(examples, indent=1))
    return root


def train_tiny(
    data: Path, out: Path, model_type: str = "wavenet", steps: int = 4, **settings: object
) -> Path:
    """Train a tiny model through the real ``train`` entry point (a few steps)."""
    from latentmusic.nsynth.train import train
    from latentmusic.train.harness import TrainSettings

    base = dict(
        out=out,
        max_steps=steps,
        batch_size=2,
        val_every=steps,
        ckpt_every=steps,
        log_every=1,
        val_batches=1,
        progress=False,
        accelerator="cpu",
        seed=0,
    )
    base.update(settings)
    return train(
        data=data,
        out=out,
        preset="tiny",
        model_type=model_type,
        overrides=[],
        settings=TrainSettings(**base),
        init=None,
    )
