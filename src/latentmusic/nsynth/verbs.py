"""NSynth verbs shared by every model type, and the file-level helpers the CLI, eval and demo use.

:class:`EmbeddingVerbs` gives any model with ``encode``/``decode`` over (frames, 16)
embeddings the family's verbs: ``reconstruct``, ``interpolate`` (latent, via
``latentmusic.latent``), ``grid`` (the NSynth Super pad) and the audio ``crossfade``
baseline. The ``*_file`` helpers wrap them with loading, resampling, validation and
atomic output so every front end behaves the same.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from latentmusic.errors import InputError

Method = Literal["lerp", "slerp"]
PITCH_MIN, PITCH_MAX = 21.0, 108.0  # the piano's range (NSynth's) for estimates


def as_audio_batch(audio: Any, hop: int, sample_rate: int) -> tuple[torch.Tensor, bool]:
    """Audio (T,) or (B, T), numpy or torch -> float32 (B, T') with T' a multiple of ``hop``.

    Returns the batch and whether the input had no batch dimension. Samples after the last
    whole embedding frame are dropped (an embedding frame summarises exactly ``hop`` samples).
    """
    x = torch.as_tensor(
        np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio
    )
    x = x.detach().to(torch.float32)
    single = x.dim() == 1
    if single:
        x = x[None]
    if x.dim() != 2:
        raise InputError(
            f"Audio must have shape (samples,) or (batch, samples), got {tuple(x.shape)}."
        )
    if x.shape[-1] < hop:
        raise InputError(
            f"Audio of {x.shape[-1]} samples is shorter than one embedding frame "
            f"({hop} samples = {1000 * hop / sample_rate:.0f} ms at {sample_rate} Hz)."
        )
    if not torch.isfinite(x).all():
        raise InputError("Audio contains NaN or infinite values.")
    frames = x.shape[-1] // hop
    return x[:, : frames * hop].clamp(-1.0, 1.0).contiguous(), single


def as_embedding_batch(embedding: Any, channels: int) -> tuple[torch.Tensor, bool]:
    """Embedding (frames, C) or (B, frames, C) -> float32 (B, frames, C); checks C."""
    z = torch.as_tensor(
        np.asarray(embedding, dtype=np.float32) if not torch.is_tensor(embedding) else embedding
    )
    z = z.detach().to(torch.float32)
    given = tuple(z.shape)
    single = z.dim() == 2
    if single:
        z = z[None]
    if z.dim() != 3 or z.shape[-1] != channels or z.shape[1] == 0:
        raise InputError(
            f"An embedding must have shape (frames, {channels}) or (batch, frames, {channels}), "
            f"got {given}."
        )
    if not torch.isfinite(z).all():
        raise InputError("The embedding contains NaN or infinite values.")
    return z, single


def as_pitch_batch(pitch: Any, batch: int) -> torch.Tensor:
    """A MIDI pitch (number) or one per batch item -> float32 (batch,), checked."""
    p = torch.as_tensor(pitch, dtype=torch.float32).detach().cpu().reshape(-1)
    if p.numel() == 1:
        p = p.expand(batch)
    if p.numel() != batch:
        raise InputError(f"Got {p.numel()} pitches for a batch of {batch} embeddings.")
    if not torch.isfinite(p).all() or (p <= 0).any() or (p > 135).any():
        raise InputError(f"Pitches must be MIDI note numbers between 0 and 135, got {p.tolist()}.")
    return p.clone()


class EmbeddingVerbs:
    """Family verbs built on ``encode`` / ``decode``; every NSynth model inherits them.

    A model whose decoder is told the note's pitch (``takes_pitch``: the harmonic model, a
    WaveNet with ``pitch_channels``) plays every verb at one pitch: the caller's, or the one
    :meth:`estimate_pitch` hears in the input (a morph and a pad: the first sound's), so
    only the timbre moves. For the others the embedding carries the pitch itself.
    """

    sample_rate: int
    hop: int
    takes_pitch: bool = False
    reads_pitch: bool = False  # the encoder reads the source's pitch too (encode(pitch=))

    def encode(self, audio: Any) -> torch.Tensor:  # pragma: no cover - implemented by models
        raise NotImplementedError

    def decode(self, embedding: Any, **kwargs: Any) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def reconstruct(self, audio: Any, pitch: Any = None, **decode_kwargs: Any) -> torch.Tensor:
        """Encode then decode: the autoencoder's own rendition of the input (a pitch-taking
        model plays it at ``pitch``, default: the pitch estimated from each sound)."""
        encode_kwargs: dict[str, Any] = {}
        if self._pitched(pitch):
            if pitch is None:
                pitch = self.estimate_pitch(audio)
                pitch = pitch[0] if np.ndim(audio) == 1 else pitch
                if self.reads_pitch:  # the source's own pitch: estimated once, read twice
                    encode_kwargs["pitch"] = pitch
            decode_kwargs["pitch"] = pitch
        return self.decode(self.encode(audio, **encode_kwargs), **decode_kwargs)

    def _pitched(self, pitch: Any) -> bool:
        """Whether the verb plays at a pitch; a pitch for a model that takes none is refused."""
        if pitch is not None and not self.takes_pitch:
            raise InputError(
                f"A pitch is for models that are told it (harmonic, a WaveNet with "
                f"pitch_channels); this {getattr(self, 'model_type', 'model')}'s embedding "
                "carries the pitch itself."
            )
        return self.takes_pitch

    def estimate_pitch(self, audio: Any, missing_ok: bool = False) -> torch.Tensor:
        """MIDI pitch of each sound (T,) or (B, T), as a float.

        pyin over the piano's range on a semitone grid finds the note (fast: its HMM is
        small), then the eval's judge (pyin within 13 semitones of it, 10-cent grid) refines
        it, so a sound is replayed at the pitch the eval would measure. A sound with no
        voiced frame is an InputError (pass a pitch), or NaN with ``missing_ok``.
        """
        import librosa

        from latentmusic.nsynth.evaluate import median_f0

        x, _ = as_audio_batch(audio, self.hop, self.sample_rate)
        frame = 2048  # 2 periods of A0 at 16 kHz, as pyin needs
        out = []
        for clip in x.numpy():
            clip = np.pad(clip, (0, max(0, frame - clip.size)))
            f0, voiced, _ = librosa.pyin(
                clip,
                fmin=librosa.midi_to_hz(PITCH_MIN),
                fmax=librosa.midi_to_hz(PITCH_MAX),
                sr=self.sample_rate,
                frame_length=frame,
                hop_length=256,
                resolution=1.0,
            )
            f0 = f0[voiced & np.isfinite(f0)]
            if not f0.size and missing_ok:
                out.append(float("nan"))
                continue
            if not f0.size:
                raise InputError(
                    "No pitch found in the input sound (silence or noise?); give the pitch "
                    "to play at (pitch=, or --pitch MIDI on the command line)."
                )
            coarse = float(librosa.hz_to_midi(np.median(f0)))
            fine = median_f0(clip, self.sample_rate, int(round(coarse)))
            out.append(float(librosa.hz_to_midi(fine)) if np.isfinite(fine) else coarse)
        return torch.tensor(out)

    @staticmethod
    def interpolate_embeddings(
        a: torch.Tensor, b: torch.Tensor, steps: int, method: Method = "lerp"
    ) -> torch.Tensor:
        """``steps`` embeddings from ``a`` to ``b`` (both (frames, C)), endpoints exact.

        Embeddings of different length are cut to the shorter one. NSynth interpolated
        linearly (lerp); ``slerp`` treats each whole embedding as one vector.
        """
        from latentmusic.latent import interpolate

        if steps < 2:
            raise InputError(
                f"Interpolation needs at least 2 steps (the two endpoints), got {steps}."
            )
        if method not in ("lerp", "slerp"):
            raise InputError(f"Unknown interpolation method '{method}'; use lerp or slerp.")
        n = min(a.shape[0], b.shape[0])
        return interpolate(a[:n], b[:n], steps, method)

    def interpolate(
        self,
        a: Any,
        b: Any,
        steps: int = 5,
        method: Method = "lerp",
        decode: bool = True,
        pitch: Any = None,
        **decode_kwargs: Any,
    ) -> torch.Tensor:
        """Morph between two sounds in latent space: (steps, samples) audio, or the
        (steps, frames, C) embeddings when ``decode`` is False. A pitch-taking model plays
        every step at one pitch (default: a's, estimated), so only the timbre moves."""
        if self._pitched(pitch) and decode:
            if pitch is None:
                pitch = self.estimate_pitch(a).reshape(-1)[0]
            decode_kwargs["pitch"] = pitch
        za, zb = self.encode(a), self.encode(b)
        if za.dim() != 2 or zb.dim() != 2:
            raise InputError("interpolate takes two single sounds, each of shape (samples,).")
        path = self.interpolate_embeddings(za, zb, steps, method)
        return self.decode(path, **decode_kwargs) if decode else path

    def grid(
        self,
        corners: Sequence[Any],
        x: float,
        y: float,
        decode: bool = True,
        pitch: Any = None,
        **decode_kwargs: Any,
    ) -> torch.Tensor:
        """The NSynth Super pad: the sound at (x, y) in [0, 1]^2 between four corner sounds
        (top-left, top-right, bottom-left, bottom-right), mixed bilinearly in latent space
        (a pitch-taking model plays it at ``pitch``, default: the top-left corner's)."""
        from latentmusic.latent.ops import bilinear_point

        if len(corners) != 4:
            raise InputError(f"grid needs exactly 4 corner sounds, got {len(corners)}.")
        if self._pitched(pitch) and decode:
            if pitch is None:
                pitch = self.estimate_pitch(corners[0]).reshape(-1)[0]
            decode_kwargs["pitch"] = pitch
        for name, v in (("x", x), ("y", y)):
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"Pad position {name} must be between 0 and 1, got {v}.")
        zs = [self.encode(c) for c in corners]
        if any(z.dim() != 2 for z in zs):
            raise InputError("grid takes four single sounds, each of shape (samples,).")
        n = min(z.shape[0] for z in zs)
        point = bilinear_point(torch.stack([z[:n] for z in zs]), float(x), float(y))
        return self.decode(point, **decode_kwargs) if decode else point

    def pad(
        self, corners: Sequence[Any], size: int = 3, decode: bool = True, **decode_kwargs: Any
    ) -> torch.Tensor:
        """The whole NSynth Super pad rendered once: ``size`` x ``size`` positions between
        four corner sounds (as ``grid``), so a player can switch between them instantly.

        The corners are encoded once and every position decoded in one batch: (size, size,
        samples) audio, row y then column x (each from 0 to 1), or the embeddings
        (size, size, frames, C) when ``decode`` is False.
        """
        from latentmusic.latent.ops import bilinear_point

        if len(corners) != 4:
            raise InputError(f"A pad needs exactly 4 corner sounds, got {len(corners)}.")
        if size < 2:
            raise InputError(f"A pad needs at least 2 x 2 positions, got size {size}.")
        zs = [self.encode(c) for c in corners]
        if any(z.dim() != 2 for z in zs):
            raise InputError("pad takes four single sounds, each of shape (samples,).")
        n = min(z.shape[0] for z in zs)
        stacked = torch.stack([z[:n] for z in zs])
        ticks = torch.linspace(0.0, 1.0, size).tolist()
        points = torch.stack([bilinear_point(stacked, x, y) for y in ticks for x in ticks])
        if not decode:
            return points.reshape(size, size, *points.shape[1:])
        audio = self.decode(points, **decode_kwargs)
        return audio.reshape(size, size, audio.shape[-1])

    @staticmethod
    def crossfade(a: Any, b: Any, steps: int = 5) -> torch.Tensor:
        """The naive baseline NSynth compares against: ``(1 - t) a + t b`` mixed in audio.

        It sounds like both instruments at once, where latent interpolation makes one new
        sound. Returns (steps, samples), cut to the shorter input.
        """
        ta = torch.as_tensor(np.asarray(a, dtype=np.float32)).reshape(-1)
        tb = torch.as_tensor(np.asarray(b, dtype=np.float32)).reshape(-1)
        if steps < 2:
            raise InputError(f"A cross-fade needs at least 2 steps, got {steps}.")
        n = min(ta.numel(), tb.numel())
        t = torch.linspace(0.0, 1.0, steps)[:, None]
        return (1.0 - t) * ta[:n] + t * tb[:n]


# ---------------------------------------------------------------------------------------------
# File-level helpers (CLI, eval, demo, studio).


def note(message: str) -> None:
    """A one-line notice on stderr (e.g. that input was resampled)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def load_model(path: str | Path) -> Any:
    """Load an NSynth checkpoint (any model type); another family's is a CheckpointError."""
    from latentmusic.nsynth import from_checkpoint
    from latentmusic.train.checkpoint import read_checkpoint

    model = from_checkpoint(read_checkpoint(path, family="nsynth"))
    model.eval()
    return model


def load_audio(path: str | Path, sample_rate: int, quiet: bool = False) -> np.ndarray:
    """Mono float32 at the model's rate; another rate is resampled (soxr HQ) with a note."""
    from latentmusic.audio import io

    audio, rate = io.load(path)
    if rate != sample_rate:
        if not quiet:
            note(f"{path} is {rate} Hz; resampling to the model's {sample_rate} Hz.")
        audio = io.resample(audio, rate, sample_rate)
    return audio


def save_embedding(path: str | Path, embedding: torch.Tensor | np.ndarray) -> Path:
    """Write (frames, C) float32 as .npy, atomically."""
    from latentmusic.fileio import atomic_path

    target = Path(path)
    if target.suffix != ".npy":
        raise InputError(f"Embeddings are saved as .npy; {target.name} should end in .npy.")
    array = np.asarray(
        embedding.detach().cpu() if torch.is_tensor(embedding) else embedding, dtype=np.float32
    )
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return target


def load_embedding(path: str | Path, channels: int) -> np.ndarray:
    """Read an .npy embedding and check it is (frames, channels) for this model."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"Embedding file {p} does not exist.")
    try:
        array = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{p} is not a NumPy .npy embedding.") from exc
    as_embedding_batch(array, channels)  # validates shape and values
    return array.astype(np.float32)


def decode_options(
    temperature: float = 1.0,
    seed: int | None = 0,
    backend: str = "auto",
    pitch: float | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``model.decode``; validated here so every front end agrees.

    ``pitch`` (a MIDI note number) is for models that play an embedding at a given pitch
    (the harmonic model); it is left out when None, so the other models never see it.
    """
    if temperature < 0:
        raise InputError(f"Temperature must be >= 0 (0 = greedy), got {temperature}.")
    if backend not in ("auto", "torch", "fused"):
        raise InputError(f"Unknown decoding backend '{backend}'; use auto, torch or fused.")
    options: dict[str, Any] = {"temperature": float(temperature), "seed": seed, "backend": backend}
    if pitch is not None:
        if not 0 < pitch <= 135:
            raise InputError(
                f"--pitch must be a MIDI note number (e.g. 60 = middle C), got {pitch}."
            )
        options["pitch"] = float(pitch)
    return options


def _for_model(model: Any, decode_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Refuse a pitch for a model whose embedding carries the pitch itself, in one sentence."""
    if decode_kwargs.get("pitch") is not None and not getattr(model, "takes_pitch", False):
        raise InputError(
            f"--pitch is for models that are told the pitch (harmonic, a WaveNet with "
            f"pitch_channels); a {model.model_type} model's embedding carries the pitch itself."
        )
    return decode_kwargs


def encode_file(
    model: Any, audio_path: str | Path, out: str | Path, pitch: float | None = None
) -> np.ndarray:
    """audio file -> (frames, C) embedding in ``out`` (.npy); ``pitch``: the sound's own MIDI
    pitch, for an encoder that measures the sound at it (default: estimated)."""
    audio = load_audio(audio_path, model.sample_rate)
    if pitch is not None and not getattr(model, "reads_pitch", False):
        raise InputError(
            "--pitch is for encoders that measure the sound at its pitch (a harmonic model "
            "with measured inputs); this model's encoder reads the audio alone."
        )
    with torch.no_grad():
        z = model.encode(audio, pitch=pitch) if pitch is not None else model.encode(audio)
    save_embedding(out, z)
    return z.numpy()


def decode_file(
    model: Any, embedding_path: str | Path, out: str | Path, **decode_kwargs: Any
) -> np.ndarray:
    """.npy embedding -> audio file."""
    from latentmusic.audio import io

    z = load_embedding(embedding_path, model.bottleneck)
    with torch.no_grad():
        audio = model.decode(z, **_for_model(model, decode_kwargs)).numpy()
    io.save(out, audio, model.sample_rate)
    return audio


def reconstruct_file(
    model: Any, audio_path: str | Path, out: str | Path, **decode_kwargs: Any
) -> np.ndarray:
    """audio file -> the model's reconstruction of it (audio file)."""
    from latentmusic.audio import io

    audio = load_audio(audio_path, model.sample_rate)
    with torch.no_grad():
        recon = model.reconstruct(audio, **_for_model(model, decode_kwargs)).numpy()
    io.save(out, recon, model.sample_rate)
    return recon


def _stem(path: str | Path) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(path).stem) or "sound"


def interpolate_files(
    model: Any,
    a_path: str | Path,
    b_path: str | Path,
    out_dir: str | Path,
    steps: int = 5,
    method: Method = "lerp",
    rainbowgrams: bool = True,
    **decode_kwargs: Any,
) -> dict[str, list[Path]]:
    """Write the latent morph a -> b and the audio cross-fade, one WAV (and PNG) per step.

    Files: ``latent_<i>.wav`` and ``crossfade_<i>.wav`` for i = 0..steps-1, with matching
    ``.png`` rainbowgrams. Returns the written paths by kind.
    """
    from latentmusic.audio import io
    from latentmusic.audio.rainbowgram import save_rainbowgram
    from latentmusic.fileio import ensure_writable_dir

    if steps < 2:
        raise InputError(f"--steps must be at least 2 (the two endpoints), got {steps}.")
    decode_kwargs = _for_model(model, decode_kwargs)
    a = load_audio(a_path, model.sample_rate)
    b = load_audio(b_path, model.sample_rate)
    with torch.no_grad():
        morph = model.interpolate(a, b, steps, method=method, **decode_kwargs).numpy()
    fade = model.crossfade(a, b, steps).numpy()[:, : morph.shape[-1]]
    directory = ensure_writable_dir(out_dir)
    written: dict[str, list[Path]] = {"latent": [], "crossfade": [], "rainbowgrams": []}
    for kind, clips in (("latent", morph), ("crossfade", fade)):
        for i, clip in enumerate(clips):
            written[kind].append(io.save(directory / f"{kind}_{i}.wav", clip, model.sample_rate))
            if rainbowgrams:
                png = save_rainbowgram(clip, model.sample_rate, directory / f"{kind}_{i}.png")
                written["rainbowgrams"].append(png)
    return written


def grid_file(
    model: Any,
    corner_paths: Sequence[str | Path],
    x: float,
    y: float,
    out: str | Path,
    **decode_kwargs: Any,
) -> np.ndarray:
    """Four corner sounds + pad position -> the blended sound (audio file)."""
    from latentmusic.audio import io

    if len(corner_paths) != 4:
        raise InputError(
            f"grid needs exactly 4 sounds (top-left, top-right, bottom-left, bottom-right), got {len(corner_paths)}."
        )
    corners = [load_audio(p, model.sample_rate) for p in corner_paths]
    with torch.no_grad():
        audio = model.grid(corners, x, y, **_for_model(model, decode_kwargs)).numpy()
    io.save(out, audio, model.sample_rate)
    return audio


PAD_MAX_SIZE = 9
PAD_MAX_PITCHES = 12


def pad_files(
    model: Any,
    corner_paths: Sequence[str | Path],
    out_dir: str | Path,
    size: int = 3,
    pitches: Sequence[float] | None = None,
    **decode_kwargs: Any,
) -> dict[str, Any]:
    """Render a whole NSynth Super pad into ``out_dir``: ``size`` x ``size`` blends of four
    corner sounds, at each of ``pitches`` (harmonic model: the corners' timbres played at
    other notes) or at the corners' own pitch. Files ``<tag>/y<row>_x<col>.wav`` (row 0 =
    top, column 0 = left) and ``pad.json``, an index a player (or a sampler) reads.

    The folder is built beside ``out_dir`` and renamed into place at the end, so a failed or
    interrupted render never leaves half a pad."""
    import json

    from latentmusic.audio import io
    from latentmusic.fileio import atomic_dir

    if len(corner_paths) != 4:
        raise InputError(
            f"A pad needs exactly 4 corner sounds (top-left, top-right, bottom-left, bottom-right), got {len(corner_paths)}."
        )
    if not 2 <= size <= PAD_MAX_SIZE:
        raise InputError(f"--size must be between 2 and {PAD_MAX_SIZE}, got {size}.")
    pitches = list(pitches or [])
    if len(pitches) > PAD_MAX_PITCHES:
        raise InputError(f"At most {PAD_MAX_PITCHES} pitches per pad, got {len(pitches)}.")
    if pitches and not getattr(model, "takes_pitch", False):
        raise InputError(
            f"--pitches is for models that are told the pitch (harmonic, a WaveNet with "
            f"pitch_channels); a {model.model_type} model plays the corners' own pitch (give "
            "corner sounds at another pitch for another pad)."
        )
    corners = [load_audio(p, model.sample_rate) for p in corner_paths]
    layers = [(f"pitch_{pitch:g}", {**decode_kwargs, "pitch": pitch}) for pitch in pitches] or [
        ("corners_pitch", _for_model(model, decode_kwargs))
    ]
    index: dict[str, Any] = {
        "size": size,
        "sample_rate": model.sample_rate,
        "corners": [str(p) for p in corner_paths],
        "layout": "row y from top (0) to bottom (1), column x from left (0) to right (1)",
        "layers": {},
    }
    with torch.no_grad():  # the corners are encoded once, whatever the number of pitches
        points = model.pad(corners, size=size, decode=False)
    points = points.reshape(size * size, *points.shape[2:])
    with atomic_dir(out_dir) as tmp:
        for tag, kwargs in layers:
            with torch.no_grad():
                audio = model.decode(points, **kwargs).numpy().reshape(size, size, -1)
            (tmp / tag).mkdir()
            files = []
            for row in range(size):
                for col in range(size):
                    name = f"{tag}/y{row}_x{col}.wav"
                    io.save(tmp / name, audio[row, col], model.sample_rate)
                    files.append({"x": col / (size - 1), "y": row / (size - 1), "file": name})
            index["layers"][tag] = {"pitch": kwargs.get("pitch"), "files": files}
        (tmp / "pad.json").write_text(json.dumps(index, indent=2))
    return index


def rainbowgram_file(
    audio_path: str | Path, out: str | Path, sample_rate: int | None = None
) -> Path:
    """Audio file -> rainbowgram PNG (CQT: brightness = log magnitude, colour = inst. frequency)."""
    from latentmusic.audio import io
    from latentmusic.audio.rainbowgram import save_rainbowgram

    audio, rate = io.load(audio_path, sr=sample_rate)
    return save_rainbowgram(audio, rate, out)
