"""Translating long inputs: chunk by chunk, with bounded memory, from any file.

Each chunk is encoded with enough real audio on both sides to cover the encoder's receptive
field (so its latents equal those of the whole file), and each decoder carries its state
across chunks, so there is no reset or seam at chunk boundaries. :func:`translate_file`
streams a file of any length, rate and channel count through that loop without ever
loading it whole, and writes every output atomically.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from latentmusic.audio.formats import AUDIO_SUFFIXES, container
from latentmusic.errors import InputError
from latentmusic.progress import progress_bar

if TYPE_CHECKING:
    from latentmusic.translation.model import UniversalTranslator

SILENCE_DBFS = -60.0  # an input whose peak stays below this is treated as silence


def silence_level() -> float:
    """The peak below which an input counts as silence (linear)."""
    return 10.0 ** (SILENCE_DBFS / 20.0)


class TranslationStream:
    """The chunked translation loop shared by :meth:`UniversalTranslator.translate` and
    :func:`translate_file`: blocks of input (any rate) in, blocks of output per domain out.

    Input is resampled (statefully) to the model's rate, encoded chunk by chunk with
    ``context`` samples of real audio on both sides, decoded per domain with the decoder
    state carried over, resampled back to the input's rate and trimmed so the output has
    exactly ``n_in`` samples.
    """

    def __init__(
        self,
        model: UniversalTranslator,
        targets: Sequence[str],
        *,
        in_rate: int,
        n_in: int,
        chunk_seconds: float = 1.0,
        temperature: float = 1.0,
        seed: int | None = 0,
        progress: bool = False,
        name: str = "The input",
    ) -> None:
        cfg = model.config
        if not chunk_seconds > 0:
            raise InputError(f"chunk_seconds must be positive, got {chunk_seconds}.")
        if not temperature >= 0:
            raise InputError(f"Temperature must be >= 0, got {temperature}.")
        self.model = model
        self.targets = list(targets)
        self.indices = [model.domain_index(t) for t in self.targets]
        self.in_rate = int(in_rate)
        self.n_in = int(n_in)
        self.rate = cfg.sample_rate
        self.pool = cfg.pool
        self.n_model = int(round(self.n_in * self.rate / self.in_rate))
        model._check_length(self.n_model, name)
        frames = max(1, round(chunk_seconds * self.rate / self.pool))
        self.chunk = frames * self.pool
        self.temperature = float(temperature)
        self.seed = int(torch.randint(0, 2**31 - 1, (1,))) if seed is None else int(seed)
        self.progress = progress

    def _resampler(self, src: int, dst: int) -> Callable[[np.ndarray, bool], np.ndarray]:
        if src == dst:
            return lambda x, last: x
        import soxr

        stream = soxr.ResampleStream(src, dst, 1, dtype="float32", quality="HQ")
        return lambda x, last: stream.resample_chunk(
            np.ascontiguousarray(x, dtype=np.float32), last=last
        )

    def run(
        self, blocks: Iterator[np.ndarray], silent: bool = False
    ) -> Iterator[dict[str, np.ndarray]]:
        """Consume input blocks; yield ``{domain: output block}`` as chunks complete."""
        if silent:
            yield from self._silence(blocks)
            return
        to_model = self._resampler(self.in_rate, self.rate)
        back = {name: self._resampler(self.rate, self.in_rate) for name in self.targets}
        written = dict.fromkeys(self.targets, 0)
        states: dict[str, Any] = dict.fromkeys(self.targets)
        bar = progress_bar(
            self.n_model * len(self.targets),
            "translating",
            "sample",
            self.progress,
            unit_scale=True,
        )

        def model_rate() -> Iterator[np.ndarray]:
            for block in blocks:
                yield to_model(np.asarray(block, dtype=np.float32).reshape(-1), False)
            yield to_model(np.zeros(0, np.float32), True)

        def deliver(outputs: dict[str, np.ndarray], last: bool) -> dict[str, np.ndarray]:
            result = {}
            for name in self.targets:
                y = back[name](outputs.get(name, np.zeros(0, np.float32)), last)
                y = y[: max(0, self.n_in - written[name])]
                if last and written[name] + len(y) < self.n_in:
                    y = np.pad(y, (0, self.n_in - written[name] - len(y)))
                written[name] += len(y)
                result[name] = y.astype(np.float32, copy=False)
            return result

        try:
            pos = 0
            chunks = stream_latents(self.model, model_rate(), self.chunk // self.pool)
            for chunk_no, z in enumerate(chunks):
                outputs: dict[str, np.ndarray] = {}
                for name, index in zip(self.targets, self.indices, strict=True):
                    # Seed only the first chunk: later chunks continue the state's generator,
                    # so a chunked translation equals a one-shot one with the same seed.
                    seed = self.seed + 1000003 * index if chunk_no == 0 else None
                    audio, states[name] = self.model.decode(
                        z,
                        index,
                        temperature=self.temperature,
                        seed=seed,
                        state=states[name],
                        return_state=True,
                    )
                    outputs[name] = audio[0].detach().cpu().numpy().astype(np.float32)
                    end = pos + z.shape[1] * self.pool
                    bar.update(min(end, self.n_model) - min(pos, self.n_model))
                pos += z.shape[1] * self.pool
                yield deliver(outputs, last=False)
            yield deliver({}, last=True)  # flush the resamplers and pad to the exact length
        finally:
            bar.close()

    def _silence(self, blocks: Iterator[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        remaining = self.n_in
        for _ in blocks:
            pass
        step = self.in_rate * 10
        while remaining > 0:
            n = min(step, remaining)
            remaining -= n
            yield {name: np.zeros(n, np.float32) for name in self.targets}


def stream_latents(
    model: UniversalTranslator, blocks: Iterable[np.ndarray], chunk_frames: int
) -> Iterator[torch.Tensor]:
    """Latents (1, f, latent_dim) of a stream of model-rate audio blocks, chunk by chunk.

    Each chunk of ``chunk_frames`` frames is encoded with enough real audio on both sides
    to cover the encoder's receptive field, so the concatenated chunks equal the latents of
    the whole input (zero-padded to whole frames) while memory stays bounded.
    """
    pool = model.config.pool
    chunk = max(1, int(chunk_frames)) * pool
    context = math.ceil(model.config.encoder_context() / pool) * pool
    device = model._device()
    buf = np.zeros(0, np.float32)  # samples from absolute position buf_start on
    buf_start = pos = 0

    def encode(end: int, total: int) -> torch.Tensor:
        lo, hi = max(0, pos - context), min(total, end + context)
        seg = buf[lo - buf_start : hi - buf_start]
        if len(seg) < hi - lo:  # past the end of the input: the last frame's silence padding
            seg = np.pad(seg, (0, hi - lo - len(seg)))
        with torch.no_grad():
            latents = model.encode_tensor(torch.from_numpy(seg)[None].to(device))
        first = (pos - lo) // pool
        return latents[:, :, first : first + (end - pos) // pool].transpose(1, 2)

    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, dtype=np.float32).reshape(-1)])
        while buf_start + len(buf) >= pos + chunk + context:
            yield encode(pos + chunk, buf_start + len(buf))
            pos += chunk
            drop = max(0, pos - context - buf_start)
            buf, buf_start = buf[drop:], buf_start + drop
    total = math.ceil((buf_start + len(buf)) / pool) * pool
    while pos < total:
        end = min(pos + chunk, total)
        yield encode(end, total)
        pos = end


# --------------------------------------------------------------------- file level
@dataclass
class TranslationResult:
    """What :func:`translate_file` wrote, and what the user should know about it."""

    outputs: dict[str, Path]
    sample_rate: int
    frames: int
    notes: list[str] = field(default_factory=list)


def output_paths(out: Path, targets: Sequence[str], many: bool) -> dict[str, Path]:
    """Where each domain's translation goes.

    One target: ``out`` itself (``.wav`` added when it has no suffix). Several targets
    (``--to all`` or a list): ``out`` with a suffix is a file-name pattern, giving
    ``OUT_<domain>.wav``; ``out`` without a suffix is a directory holding ``<domain>.wav``.
    """
    out = Path(out)
    if not many:
        return {targets[0]: out if out.suffix else out.with_suffix(".wav")}
    if out.suffix:
        return {t: out.with_name(f"{out.stem}_{_safe(t)}{out.suffix}") for t in targets}
    return {t: out / f"{_safe(t)}.wav" for t in targets}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def translate_file(
    model: UniversalTranslator,
    source: str | Path,
    to: str | Iterable[str],
    out: str | Path,
    *,
    chunk_seconds: float = 1.0,
    temperature: float = 1.0,
    seed: int | None = 0,
    progress: bool = False,
    block_seconds: float = 10.0,
) -> TranslationResult:
    """Translate an audio file of any length, rate and channel count, streaming it.

    Channels are mixed to mono and the rate converted to the model's on the way in; the
    outputs are mono, at the input's rate, with exactly the input's number of frames.
    Every output file is written atomically.
    """
    import soundfile as sf

    from latentmusic.audio import io as audio_io
    from latentmusic.fileio import atomic_path

    source = Path(source)
    many = not isinstance(to, str) or to == "all"
    targets = model.resolve_targets(to)
    in_rate, frames, channels = audio_io.info(source)
    stream = TranslationStream(
        model, targets, in_rate=in_rate, n_in=frames, chunk_seconds=chunk_seconds,
        temperature=temperature, seed=seed, progress=progress, name=source.name,
    )  # fmt: skip
    notes: list[str] = []
    if channels > 1:
        notes.append(f"{source.name} has {channels} channels; they were mixed to mono.")
    if in_rate != model.sample_rate:
        notes.append(
            f"{source.name} is at {in_rate} Hz; it was resampled to the model's {model.sample_rate} Hz "
            f"and the translation back to {in_rate} Hz."
        )
    peak = 0.0
    for block in audio_io.stream(source, None, block_seconds):
        peak = max(peak, float(np.max(np.abs(block), initial=0.0)))
    silent = peak < silence_level()
    if silent:
        notes.append(
            f"{source.name} is silent (peak below {SILENCE_DBFS:.0f} dBFS); the output is silence "
            "of the same length (the decoders were not run)."
        )
    paths = output_paths(Path(out), targets, many)
    for path in paths.values():
        if container(path) is None:
            raise InputError(f"Cannot write {path.name}: use one of {', '.join(AUDIO_SUFFIXES)}.")
        if path.exists() and path.is_dir():
            raise InputError(f"Output {path} is a directory; give a file name.")
    with contextlib.ExitStack() as stack:
        writers = {}
        for name, path in paths.items():
            tmp = stack.enter_context(atomic_path(path))
            writers[name] = stack.enter_context(
                sf.SoundFile(str(tmp), "w", samplerate=in_rate, channels=1, format=container(path))
            )
        blocks = (b for b in audio_io.stream(source, None, block_seconds))
        for outputs in stream.run(blocks, silent=silent):
            for name, y in outputs.items():
                if len(y):
                    writers[name].write(np.clip(y, -1.0, 1.0))
        for writer in writers.values():
            writer.close()
    return TranslationResult(outputs=paths, sample_rate=in_rate, frames=frames, notes=notes)


def encode_file(
    model: UniversalTranslator, source: str | Path, out: str | Path
) -> tuple[Path, tuple[int, ...]]:
    """Encode an audio file (any rate/channels, streamed) and save the latents as ``.npy``
    of shape (frames, latent_dim): time first, the layout of every saved frame latent in
    the toolkit (NSynth's embeddings too, as magenta saved them)."""
    from latentmusic.audio import io as audio_io
    from latentmusic.fileio import atomic_path

    rate, frames, _ = audio_io.info(source)
    model._check_length(int(round(frames * model.sample_rate / rate)), f"{Path(source).name}")
    blocks = audio_io.stream(source, model.sample_rate, block_seconds=10.0)
    chunk_frames = max(1, round(30.0 * model.sample_rate / model.config.pool))  # 30 s per chunk
    parts = [z[0].cpu().numpy() for z in stream_latents(model, blocks, chunk_frames)]
    latents = np.concatenate(parts, axis=0).astype(np.float32)  # (frames, latent_dim)
    out = Path(out)
    if out.suffix != ".npy":
        out = out.with_suffix(".npy")
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.save(handle, latents)
    return out, tuple(latents.shape)
