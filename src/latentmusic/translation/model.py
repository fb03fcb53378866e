"""Universal Music Translation Network (Mor et al. 2018): one model, many instruments.

A shared non-causal WaveNet encoder maps any recording to 64-dim latents at 20 Hz; a
domain-confusion network, trained adversarially against it, keeps the domain out of the
latents; one causal WaveNet decoder per domain turns latents back into audio of that
domain. Translating = encode with the shared encoder, decode with the target's decoder.

Long inputs are translated chunk by chunk: each chunk is encoded with enough real audio
on both sides to cover the encoder's receptive field (so its latents equal those of the
whole file), and each decoder carries its state across chunks, so there is no reset or
seam at chunk boundaries. :func:`translate_file` streams a file of any length, rate and
channel count through that loop without ever loading it whole.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from latentmusic.audio.formats import AUDIO_SUFFIXES, container
from latentmusic.audio.mulaw import mu_law_decode, mu_law_encode
from latentmusic.errors import CheckpointError, InputError
from latentmusic.progress import progress_bar
from latentmusic.translation.config import TranslationConfig
from latentmusic.translation.confusion import DomainConfusion

FAMILY = "translation"
MODEL_TYPE = "umt"
SILENCE_DBFS = -60.0  # an input whose peak stays below this is treated as silence


class UniversalTranslator(nn.Module):
    """Shared encoder + domain-confusion net + one WaveNet decoder per domain.

    ``domains`` names the decoders in order (``decoders[i]`` renders ``domains[i]``); the
    names travel in the checkpoint's ``config.json`` next to the hyperparameters.
    """

    def __init__(self, config: TranslationConfig, domains: Sequence[str]) -> None:
        super().__init__()
        from latentmusic.nn.wavenet import NonCausalWaveNetEncoder

        config.validate()
        names = [str(d) for d in domains]
        if not names:
            raise InputError("A translation model needs at least one domain.")
        if len(set(names)) != len(names):
            raise InputError(f"Domain names must be unique, got {names}.")
        self.config = config
        self._domains = names
        if config.encoder_input == "grid":
            from latentmusic.translation.notegrid import PitchGridEncoder

            self.encoder: nn.Module = PitchGridEncoder(
                channels=config.encoder_channels,
                layers=config.encoder_layers,
                grid_channels=config.grid_channels,
                low_pitch=config.notebank_low_pitch,
                pitches=config.notebank_pitches,
                pool=config.pool,
                hop=config.spectrum_hop,
                sample_rate=config.sample_rate,
            )
        elif config.encoder_input == "spectrum":
            from latentmusic.translation.spectral_encoder import SpectralEncoder

            self.encoder = SpectralEncoder(
                channels=config.encoder_channels,
                layers=config.encoder_layers,
                latent_dim=config.latent_dim,
                pool=config.pool,
                hop=config.spectrum_hop,
                sample_rate=config.sample_rate,
            )
        else:
            self.encoder = NonCausalWaveNetEncoder(
                in_channels=1,
                channels=config.encoder_channels,
                layers=config.encoder_layers,
                cycle=config.encoder_cycle,
                kernel=config.encoder_kernel,
                out_channels=config.latent_dim,
                pool=config.pool,
                style="umt",
            )
        self.confusion = DomainConfusion(
            config.latent_dim,
            len(names),
            channels=config.confusion_channels,
            layers=config.confusion_layers,
            dropout=config.confusion_dropout,
        )
        self.decoders = nn.ModuleList(self._new_decoder() for _ in names)

    def _new_decoder(self) -> nn.Module:
        from latentmusic.nn.wavenet import WaveNetDecoder

        c = self.config
        if c.decoder in ("notebank", "notegrid"):
            from latentmusic.translation.notebank import NoteBankDecoder
            from latentmusic.translation.notegrid import NoteGridDecoder

            grid = c.decoder == "notegrid"
            return (NoteGridDecoder if grid else NoteBankDecoder)(
                c.grid_channels if grid else c.latent_dim,
                pool=c.pool,
                hop=c.notebank_hop,
                channels=c.notebank_channels,
                layers=c.notebank_layers,
                low_pitch=c.notebank_low_pitch,
                pitches=c.notebank_pitches,
                harmonics=c.notebank_harmonics,
                noise_bands=c.notebank_noise_bands,
                sample_rate=c.sample_rate,
                reverb_seconds=c.notebank_reverb,
            )
        return WaveNetDecoder(
            n_classes=c.n_classes,
            residual=c.decoder_residual,
            skip=c.decoder_skip,
            layers=c.decoder_layers,
            cycle=c.decoder_cycle,
            kernel=c.decoder_kernel,
            cond_channels=c.latent_dim,
            hop=c.pool,
            input_embedding=True,
        )

    # ----------------------------------------------------------------- vocabulary
    @property
    def domains(self) -> list[str]:
        return list(self._domains)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def domain_index(self, domain: str | int) -> int:
        """Index of a domain by name (or index); an unknown one lists the known ones."""
        if isinstance(domain, (int, np.integer)) and not isinstance(domain, bool):
            if 0 <= int(domain) < len(self._domains):
                return int(domain)
        elif str(domain) in self._domains:
            return self._domains.index(str(domain))
        known = ", ".join(self._domains)
        raise InputError(f"Unknown domain '{domain}'; this model knows: {known}.")

    def resolve_targets(self, to: str | int | Iterable[str | int]) -> list[str]:
        """``"all"``, one domain or a list of them -> domain names (validated)."""
        if isinstance(to, str) and to == "all":
            return self.domains
        items = [to] if isinstance(to, (str, int, np.integer)) else list(to)
        if not items:
            raise InputError(
                f"Name at least one target domain; this model knows: {', '.join(self._domains)}."
            )
        names = [self._domains[self.domain_index(item)] for item in items]
        return list(dict.fromkeys(names))

    def add_domain(self, name: str) -> int:
        """Append a fresh decoder (and a confusion logit) for a new domain; returns its index."""
        name = str(name)
        if not name or name == "all":
            raise InputError(f"'{name}' cannot be a domain name.")
        if name in self._domains:
            raise InputError(f"The model already has a domain called '{name}'.")
        device = next(self.parameters()).device
        self.decoders.append(self._new_decoder().to(device))
        self.confusion.grow(1)
        self._domains.append(name)
        return len(self._domains) - 1

    # ----------------------------------------------------------------- encoding
    def encoder_input(self, audio: torch.Tensor) -> torch.Tensor:
        """Float audio -> the 8-bit mu-law signal the encoder sees, scaled to [-1, 1].

        Like the official code, the encoder reads the quantised mu-law signal (not the raw
        waveform): the same 256 levels the decoders predict, with quiet detail kept.
        """
        codes = mu_law_encode(audio, self.config.mu)
        return codes.to(torch.float32) * (2.0 / self.config.mu) - 1.0

    def encode_tensor(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) float audio (T a multiple of ``pool``) -> (B, latent_dim, T // pool)."""
        if self.config.encoder_input in ("spectrum", "grid"):
            return self.encoder(audio)
        return self.encoder(self.encoder_input(audio))

    @torch.no_grad()
    def encode(self, audio: Any) -> torch.Tensor:
        """Audio (T,) or (B, T) at ``sample_rate`` (numpy or torch) -> latents (B, latent_dim, F).

        The end is padded with silence to a whole frame: F = ceil(T / pool).
        """
        x = self._as_batch(audio)
        pool = self.config.pool
        n = x.shape[-1]
        self._check_length(n)
        padded = math.ceil(n / pool) * pool
        if padded != n:
            x = nn.functional.pad(x, (0, padded - n))
        return self.encode_tensor(x)

    def _as_batch(self, audio: Any) -> torch.Tensor:
        x = (
            audio
            if isinstance(audio, torch.Tensor)
            else torch.from_numpy(np.asarray(audio, dtype=np.float32))
        )
        x = x.to(self._device(), torch.float32)
        if x.dim() == 1:
            x = x[None]
        if x.dim() != 2:
            raise InputError(
                f"Audio must have shape (samples,) or (batch, samples), got {tuple(x.shape)}."
            )
        if not torch.isfinite(x).all():
            raise InputError("The audio contains NaN or infinite samples.")
        return x

    def _check_length(self, n: int, what: str = "The input") -> None:
        pool, sr = self.config.pool, self.config.sample_rate
        if n < pool:
            raise InputError(
                f"{what} is {n} samples long at {sr} Hz; the model needs at least one latent "
                f"frame of {pool} samples ({1000 * pool / sr:.0f} ms)."
            )

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # ----------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode(
        self,
        latents: torch.Tensor,
        domain: str | int,
        *,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = 0,
        state: Any = None,
        return_state: bool = False,
        progress: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Latents (B, latent_dim, F) -> audio (B, F * pool) in the voice of ``domain``.

        WaveNet decoders sample autoregressively with the fast generator; note-bank decoders
        synthesize directly (``temperature`` does not apply; ``seed`` seeds their noise).
        ``state`` continues a previous call (pass the state it returned with
        ``return_state=True``).
        """
        index = self.domain_index(domain)
        z = latents.to(self._device(), torch.float32)
        if z.dim() == 2:
            z = z[None]
        if z.dim() != 3 or z.shape[1] != self.config.latent_dim:
            raise InputError(
                f"Latents must have shape (batch, {self.config.latent_dim}, frames), got {tuple(latents.shape)}."
            )
        if not temperature >= 0:
            raise InputError(f"Temperature must be >= 0, got {temperature}.")
        if self.config.decoder != "wavenet":
            audio, new_state = self.decoders[index].decode(z, state, seed)
            if n_samples is not None:
                audio = audio[:, :n_samples]
            return (audio, new_state) if return_state else audio
        out = self.decoders[index].generate(
            z,
            n_samples=n_samples,
            temperature=temperature,
            seed=seed,
            state=state,
            return_state=True,
            progress=progress,
        )
        codes, new_state = out
        audio = mu_law_decode(codes, self.config.mu)
        return (audio, new_state) if return_state else audio

    # ----------------------------------------------------------------- translation
    @torch.no_grad()
    def translate(
        self,
        audio: Any,
        to: str | int | Iterable[str | int],
        *,
        sr: int | None = None,
        chunk_seconds: float = 1.0,
        temperature: float = 1.0,
        seed: int | None = 0,
        progress: bool = False,
    ) -> Any:
        """Translate mono audio (T,) into domain ``to`` (a name) or several (a list / "all").

        Returns audio of exactly the input's length, at the input's rate ``sr`` (default:
        the model's), as numpy for numpy input and torch for torch input; a dict
        ``{domain: audio}`` when ``to`` is a list or "all". A silent input (peak below
        -60 dBFS) translates to silence without running the decoders.
        """
        is_torch = isinstance(audio, torch.Tensor)
        x = audio.detach().cpu().numpy() if is_torch else np.asarray(audio)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1:
            raise InputError(
                f"translate() takes mono audio of shape (samples,), got {x.shape}; mix it down first."
            )
        if not np.isfinite(x).all():
            raise InputError("The audio contains NaN or infinite samples.")
        targets = self.resolve_targets(to)
        rate = sr or self.sample_rate
        blocks = [x[i : i + rate] for i in range(0, max(len(x), 1), rate)]
        results = {name: [] for name in targets}
        stream = TranslationStream(
            self, targets, in_rate=rate, n_in=len(x), chunk_seconds=chunk_seconds,
            temperature=temperature, seed=seed, progress=progress,
        )  # fmt: skip
        for outputs in stream.run(
            iter(blocks), silent=bool(np.max(np.abs(x), initial=0.0) < _silence())
        ):
            for name, chunk in outputs.items():
                results[name].append(chunk)
        joined = {
            name: np.concatenate(parts) if parts else np.zeros(0, np.float32)
            for name, parts in results.items()
        }
        if is_torch:
            joined = {name: torch.from_numpy(a) for name, a in joined.items()}
        single = isinstance(to, (int, np.integer)) or (isinstance(to, str) and to != "all")
        return joined[targets[0]] if single else joined


def _silence() -> float:
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
                    end = pos + z.shape[-1] * self.pool
                    bar.update(min(end, self.n_model) - min(pos, self.n_model))
                pos += z.shape[-1] * self.pool
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
    """Latents (1, latent_dim, f) of a stream of model-rate audio blocks, chunk by chunk.

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
        return latents[:, :, first : first + (end - pos) // pool]

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
    silent = peak < _silence()
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
    of shape (latent_dim, frames)."""
    from latentmusic.audio import io as audio_io
    from latentmusic.fileio import atomic_path

    rate, frames, _ = audio_io.info(source)
    model._check_length(int(round(frames * model.sample_rate / rate)), f"{Path(source).name}")
    blocks = audio_io.stream(source, model.sample_rate, block_seconds=10.0)
    chunk_frames = max(1, round(30.0 * model.sample_rate / model.config.pool))  # 30 s per chunk
    parts = [z[0].cpu().numpy() for z in stream_latents(model, blocks, chunk_frames)]
    latents = np.concatenate(parts, axis=1).astype(np.float32)
    out = Path(out)
    if out.suffix != ".npy":
        out = out.with_suffix(".npy")
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.save(handle, latents)
    return out, tuple(latents.shape)


def load_translator(path: str | Path) -> UniversalTranslator:
    """Load a translation checkpoint; another family's checkpoint is a clear CheckpointError."""
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path, family=FAMILY)
    return from_checkpoint(ckpt)


def from_checkpoint(ckpt: Any) -> UniversalTranslator:
    """Rebuild a :class:`UniversalTranslator` from a read checkpoint (no code is executed)."""
    from latentmusic.train.checkpoint import load_state_strict
    from latentmusic.train.config import config_from_dict

    if ckpt.family != FAMILY:
        raise CheckpointError(f"{ckpt.path} is a '{ckpt.family}' checkpoint, not a '{FAMILY}' one.")
    domains = ckpt.extra.get("domains")
    if not isinstance(domains, list) or not domains:
        raise CheckpointError(f"{ckpt.path} does not list the model's domains in config.json.")
    config = config_from_dict(TranslationConfig, ckpt.config)
    model = UniversalTranslator(config, domains)
    load_state_strict(model, ckpt.state_dict, ckpt.path)
    model.eval()
    return model
