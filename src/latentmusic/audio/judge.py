"""The independent judge of the audio evals: "what does this clip sound like?"

NSynth (which instrument family), translation (which target domain) and Jukebox (which
genre) all score their outputs by asking a classifier that was trained on *real* training
audio only, so it has never seen a model's artefacts. One method serves all three: the
mean and standard deviation over time of log-mel bands (and, if asked, MFCCs), standardised,
into a multinomial logistic regression (scikit-learn).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentmusic.errors import InputError


@dataclass(frozen=True)
class TimbreFeatures:
    """Which summary of a clip the judge reads (each eval keeps its own published choice)."""

    n_mels: int = 40
    n_mfcc: int = 0
    n_fft: int = 1024
    hop_length: int = 256

    def __call__(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Mean and std over time of the log-mel bands (then of the MFCCs), one vector."""
        from latentmusic.audio.spectral import mel_spectrogram

        logmel = mel_spectrogram(
            np.asarray(audio, dtype=np.float32),
            sr,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
        )
        parts = [logmel.mean(axis=1), logmel.std(axis=1)]
        if self.n_mfcc:
            import librosa

            mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=self.n_mfcc)
            parts += [mfcc.mean(axis=1), mfcc.std(axis=1)]
        return np.concatenate(parts).astype(np.float32)


@dataclass
class TimbreClassifier:
    """A fitted judge: ``predict`` maps clips to the labels it was trained with."""

    classes: list[Any]
    features: TimbreFeatures
    sr: int
    pipeline: Any
    train_accuracy: float
    n_train: int

    @classmethod
    def fit(
        cls,
        clips: Iterable[np.ndarray],
        labels: Sequence[Hashable],
        sr: int,
        features: TimbreFeatures | None = None,
        what: str = "classes",
    ) -> TimbreClassifier:
        """Train on real clips and their labels (``what`` names the labels in errors)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features = features or TimbreFeatures()
        x = np.stack([features(c, sr) for c in clips]) if len(labels) else np.zeros((0, 1))
        if len(x) != len(labels):
            raise InputError(f"{len(x)} clips but {len(labels)} labels.")
        try:
            classes = sorted(set(labels))
        except TypeError:  # labels of mixed types
            classes = sorted(set(labels), key=str)
        if len(classes) < 2:
            raise InputError(f"The classifier needs training audio of at least two {what}.")
        y = np.array([classes.index(label) for label in labels])
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        pipeline.fit(x, y)
        accuracy = float((pipeline.predict(x) == y).mean())
        return cls(classes, features, sr, pipeline, accuracy, len(y))

    def predict(self, clips: Iterable[np.ndarray]) -> list[Any]:
        """The label the judge hears in each clip."""
        x = np.stack([self.features(c, self.sr) for c in clips])
        return [self.classes[i] for i in self.pipeline.predict(x)]
