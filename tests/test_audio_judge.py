"""The shared eval judge tells timbres apart and refuses a one-class training set."""

from __future__ import annotations

import numpy as np
import pytest

from latentmusic.audio.judge import TimbreClassifier, TimbreFeatures
from latentmusic.errors import InputError

SR = 16000


def _tone(kind: str, f0: float, seed: int) -> np.ndarray:
    t = np.arange(SR // 2) / SR
    phase = 2 * np.pi * f0 * t
    noise = 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    wave = np.sin(phase) if kind == "sine" else np.sign(np.sin(phase))
    return (0.3 * wave + noise).astype(np.float32)


def test_judge_learns_timbre_not_pitch() -> None:
    train = [(k, f) for k in ("sine", "square") for f in (220.0, 330.0, 440.0, 550.0)]
    clf = TimbreClassifier.fit(
        [_tone(k, f, i) for i, (k, f) in enumerate(train)], [k for k, _ in train], SR
    )
    assert clf.classes == ["sine", "square"] and clf.n_train == 8 and clf.train_accuracy == 1.0
    heldout = [_tone(k, 277.0, 99) for k in ("sine", "square")]  # a pitch it never heard
    assert clf.predict(heldout) == ["sine", "square"]


def test_features_have_the_documented_size() -> None:
    clip = _tone("sine", 440.0, 0)
    assert TimbreFeatures(n_mels=40)(clip, SR).shape == (80,)
    assert TimbreFeatures(n_mels=40, n_mfcc=20)(clip, SR).shape == (120,)


def test_one_class_is_refused_in_one_sentence() -> None:
    clips = [_tone("sine", 440.0, i) for i in range(3)]
    with pytest.raises(InputError, match="at least two genres"):
        TimbreClassifier.fit(clips, ["jazz"] * 3, SR, what="genres")
