"""The studio's models and their verbs: NoteSequences and numbers in, NoteSequences out.

No web code lives here (``app.py`` turns requests into these calls), and no model code
either: the verbs are the families' own (``MusicVAE.interpolate``, ``.sample``, ...). A
:class:`StudioModel` holds one loaded model under the name the API knows it by, with a lock
so that two requests never run the same model at once (the numba and LSTM state is not
made for that).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentmusic.errors import InputError
from latentmusic.midi.sequence import NoteSequence
from latentmusic.studio import limits

DRUMS_NOTE = (
    "No drum model is shipped yet: start the studio with --models RUN naming a MusicVAE "
    "drums checkpoint you trained (`latentmusic train musicvae --preset cat-drums_2bar_small`)."
)


@dataclass
class StudioModel:
    """One loaded model, known to the API by ``name`` (never by a path)."""

    name: str
    path: Path
    model: Any
    family: str
    shipped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _vectors: dict[str, Any] | None = field(default=None, repr=False)

    # ---------------------------------------------------------------------------- facts
    @property
    def representation(self) -> str:
        if self.family == "nsynth":
            return str(getattr(self.model, "model_type", ""))  # harmonic, wavenet, spectral
        if self.family == "translation":
            return str(getattr(self.model.config, "decoder", "wavenet"))  # wavenet, notebank
        if self.family != "musicvae":
            return ""
        return str(self.model.config.representation)

    def info(self) -> dict[str, Any]:
        """What the pages need to know to offer this model."""
        out: dict[str, Any] = {"name": self.name, "family": self.family, "shipped": self.shipped}
        if self.family == "musicvae":
            config = self.model.config
            out.update(
                representation=self.representation,
                steps=int(config.steps),
                bars=int(config.bars),
                z_size=int(config.z_size),
                preset=getattr(self.model, "preset", ""),
                attributes=sorted(self.attribute_vectors()),
            )
        elif self.family == "nsynth":
            out.update(
                representation=self.representation,
                model_type=str(getattr(self.model, "model_type", "")),
                sample_rate=int(self.model.sample_rate),
                takes_pitch=bool(getattr(self.model, "takes_pitch", False)),
            )
        return out

    def require_musicvae(self) -> Any:
        if self.family != "musicvae":
            raise InputError(
                f"Model '{self.name}' is a {self.family} model; this studio verb needs a MusicVAE."
            )
        return self.model

    # ----------------------------------------------------------------------------- input
    def window(self, seq: NoteSequence, from_start: bool = True) -> NoteSequence:
        """The stretch of ``seq`` this model reads, as the model sees it (monophonic melody,
        drums on their canonical pitches, ``steps`` long): from step 0 for melodies sent as
        JSON, from the first bar with notes for uploaded files."""
        vae = self.require_musicvae()
        events = vae.window(seq, 0 if from_start else None)
        return vae.representation.decode(events, qpm=seq.qpm)

    def _codes(self, seqs: Sequence[NoteSequence]) -> Any:
        vae = self.require_musicvae()
        return vae.encode(list(seqs), start_bar=0)

    # ----------------------------------------------------------------------------- verbs
    def encode(self, seqs: Sequence[NoteSequence]) -> list[list[float]]:
        with self.lock:
            return self._codes(seqs).tolist()

    def decode(
        self,
        z: Sequence[Sequence[float]],
        temperature: float = 0.0,
        seed: int | None = None,
        qpm: float = 120.0,
    ) -> list[NoteSequence]:
        import numpy as np

        vae = self.require_musicvae()
        array = np.asarray(z, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != vae.config.z_size:
            raise InputError(
                f"Model '{self.name}' decodes codes of {vae.config.z_size} numbers each; "
                f"got an array of shape {tuple(array.shape)}."
            )
        if not np.isfinite(array).all():
            raise InputError("Latent codes must be finite numbers.")
        with self.lock:
            return vae.decode(array, temperature, seed=seed, qpm=qpm)

    def reconstruct(self, seqs: Sequence[NoteSequence]) -> list[NoteSequence]:
        vae = self.require_musicvae()
        with self.lock:
            return vae.decode(self._codes(seqs), qpm=seqs[0].qpm)

    def interpolate(
        self,
        a: NoteSequence,
        b: NoteSequence,
        steps: int,
        method: str = "slerp",
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[NoteSequence]:
        """``steps`` melodies from ``a``'s code to ``b``'s, endpoints included (so the first
        and last are the model's reconstructions of ``a`` and ``b``)."""
        _check_range("steps", steps, limits.MIN_STEPS, limits.MAX_STEPS)
        vae = self.require_musicvae()
        with self.lock:
            z = self._codes([a, b])
            path = vae.interpolation_latents(z, steps, method)
            return vae.decode(path, temperature, seed=seed, qpm=a.qpm)

    def grid(
        self,
        corners: Sequence[NoteSequence],
        size: int,
        method: str = "slerp",
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[NoteSequence]:
        """``size * size`` melodies, row by row, decoded from the bilinear grid between the
        codes of four corners (top-left, top-right, bottom-left, bottom-right)."""
        from latentmusic.latent import bilinear_grid

        _check_range("size", size, limits.MIN_GRID, limits.MAX_GRID)
        if len(corners) != 4:
            raise InputError(f"A palette needs 4 corner melodies, not {len(corners)}.")
        vae = self.require_musicvae()
        with self.lock:
            z = self._codes(corners)
            points = bilinear_grid(z, size, size, method).reshape(size * size, -1)  # type: ignore[arg-type]
            return vae.decode(points, temperature, seed=seed, qpm=corners[0].qpm)

    def sample(
        self, n: int, temperature: float = 0.5, seed: int | None = None, qpm: float = 120.0
    ) -> list[NoteSequence]:
        _check_range("n", n, 1, limits.MAX_SAMPLES)
        vae = self.require_musicvae()
        with self.lock:
            return vae.sample(n, temperature, seed=seed, qpm=qpm)

    def similar(
        self,
        seq: NoteSequence,
        n: int,
        similarity: float,
        temperature: float = 0.5,
        seed: int | None = None,
    ) -> list[NoteSequence]:
        _check_range("n", n, 1, limits.MAX_SAMPLES)
        vae = self.require_musicvae()
        with self.lock:
            return vae.similar(seq, n, similarity, temperature, seed, start_bar=0)

    def attribute_vectors(self) -> dict[str, Any]:
        """The model's attribute vectors (``RUN/attributes.npz``), read once; {} when it has none."""
        if self._vectors is None:
            from latentmusic.musicvae.attributes import VECTORS_FILE, load_vectors

            path = self.path / VECTORS_FILE
            self._vectors = load_vectors(path) if path.is_file() else {}
        return self._vectors

    def attribute(
        self, seq: NoteSequence, attribute: str, magnitude: float, temperature: float = 0.0
    ) -> list[NoteSequence]:
        """The model's reading of ``seq`` and the result of adding ``magnitude`` times the
        attribute's vector to its code."""
        vae = self.require_musicvae()
        vectors = self.attribute_vectors()
        if not vectors:
            raise InputError(
                f"Model '{self.name}' has no attribute vectors; compute them once with "
                "`latentmusic musicvae attribute IN.mid --model RUN --data MIDI_DIR ...`."
            )
        if attribute not in vectors:
            raise InputError(
                f"Model '{self.name}' has no '{attribute}' vector (it has: {', '.join(sorted(vectors))})."
            )
        with self.lock:
            return vae.apply_attribute(
                [seq], vectors[attribute]["vector"], magnitude, temperature, start_bar=0
            )


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InputError(f"{what} must be between {low} and {high}, not {value}.")


def _name_for(value: str, path: Path, taken: Iterable[str]) -> str:
    """The API name of a model: the shipped name, or the run folder's name (made unique)."""
    base = value if "/" not in value and not value.startswith(".") else path.name
    base = "".join(c if c.isalnum() or c in "-_." else "-" for c in base).strip("-.") or "model"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


def load_models(values: Sequence[str | Path]) -> dict[str, StudioModel]:
    """Load each model (a shipped model's name or a checkpoint directory) under an API name."""
    import latentmusic
    from latentmusic.catalogue import models_dir, resolve_model

    models: dict[str, StudioModel] = {}
    for value in values:
        path = resolve_model(value)
        model = latentmusic.load(path)
        family = _family_of(model)
        name = _name_for(str(value), Path(path), models)
        shipped = Path(path).resolve().parent == models_dir().resolve()
        models[name] = StudioModel(name, Path(path), model, family, shipped)
    return models


def _family_of(model: Any) -> str:
    module = type(model).__module__.split(".")
    return module[1] if len(module) > 1 and module[0] == "latentmusic" else "unknown"


def default_models() -> list[str]:
    """The shipped models the studio's pages can play: MusicVAE, NSynth and translation."""
    from latentmusic.catalogue import shipped_models

    return [m.name for m in shipped_models() if m.family in ("musicvae", "nsynth", "translation")]


def no_model_note(family: str, a_label: str, train_command: str) -> str:
    """What a page (and the API) says when no ``family`` model is served: the shipped one
    to start the studio with, else how to train one. ``a_label``: "an NSynth"."""
    from latentmusic.catalogue import shipped_models

    label = a_label.split(" ", 1)[1]
    shipped = [m.name for m in shipped_models() if m.family == family]
    if shipped:
        return (
            f"No {label} model is served: start the studio with --models {shipped[0]} "
            f"(shipped here) or --models RUN naming {a_label} checkpoint you trained."
        )
    return (
        f"No {label} model is served: start the studio with --models RUN naming {a_label} "
        f"checkpoint you trained (`{train_command}`)."
    )


def warm_up(models: dict[str, StudioModel]) -> None:
    """Run each MusicVAE once (a 2-step morph between two presets) and each fast NSynth model
    once (a short tone) so that the first page request does not pay for compiling kernels."""
    from latentmusic.studio.melodies import MELODY_PRESETS, sequence_from_json

    presets = [sequence_from_json(p["melody"]) for p in MELODY_PRESETS[:2]]
    for found in models.values():
        if found.family == "musicvae" and found.representation == "melody":
            found.interpolate(presets[0], presets[1], 2)
        elif found.family == "musicvae":
            found.sample(1, 0.0, seed=0)
        elif found.family == "nsynth" and getattr(found.model, "model_type", "") != "wavenet":
            _warm_nsynth(found)


def _warm_nsynth(found: StudioModel) -> None:
    """Encode and decode a short tone once, and draw its rainbowgram (the first torch call
    of a model and the first constant-Q transform are slow)."""
    import numpy as np
    import torch

    model = found.model
    n = 8 * int(model.hop)
    tone = 0.3 * np.sin(2 * np.pi * 261.6 * np.arange(n) / model.sample_rate).astype(np.float32)
    kwargs = {"pitch": 60.0} if getattr(model, "takes_pitch", False) else {}
    with found.lock, torch.no_grad():
        model.decode(model.encode(tone), seed=0, **kwargs)
    from latentmusic.audio.rainbowgram import rainbowgram_image

    rainbowgram_image(tone, int(model.sample_rate))
