"""Sampling music: ancestral (top prior -> upsamplers -> VQ-VAE decoder), windowed, primed.

Section 4.4 of the paper:

- *ancestral*: the top prior draws the top-level codes, each upsampler draws the level
  below given the level above, and the bottom level's decoder turns codes into audio;
- *windowed*: beyond the context ``n_ctx`` the model keeps the last
  ``n_ctx - hop_fraction*n_ctx`` tokens of the previous window as context and samples the
  next ``hop_fraction*n_ctx`` (timing and lyrics follow the window);
- *primed*: an audio prompt is encoded to codes at every level and each level continues
  its prompt's codes.

Every model keeps its own label vocabulary, so the artist/genre names are looked up per
model, and an unknown one is an InputError that lists the known ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.errors import CheckpointError, InputError
from latentmusic.jukebox.labels import lyrics_window
from latentmusic.jukebox.prior import Conditioning, Prior
from latentmusic.progress import progress_bar


@dataclass
class JukeboxRun:
    """The models of a run directory: VQ-VAE, top prior and the upsamplers that exist."""

    vqvae: Any
    prior: Prior | None
    upsamplers: dict[int, Prior] = field(default_factory=dict)
    path: Path | None = None

    @property
    def sample_rate(self) -> int:
        return int(self.vqvae.sample_rate)


def _read(path: Path, family_type: tuple[str, ...]) -> Any:
    from latentmusic.jukebox import from_checkpoint
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path, family="jukebox")
    if ckpt.model_type not in family_type:
        raise CheckpointError(
            f"{path} is a Jukebox {ckpt.model_type}, expected {' or '.join(family_type)}."
        )
    return from_checkpoint(ckpt)


def load_run(path: str | Path) -> JukeboxRun:
    """Load ``RUN/{vqvae,prior,upsampler_1,upsampler_0}``, or a prior checkpoint + its VQ-VAE.

    A prior checkpoint records the VQ-VAE it was trained with; its sibling folders
    (``../upsampler_1`` ...) are used when they exist.
    """
    from latentmusic.jukebox.codes import resolve_vqvae

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"Model {p} does not exist.")
    root = p
    prior_dir: Path | None = p / "prior"
    if (p / "config.json").is_file():
        model = _read(p, ("prior", "vqvae"))
        if not isinstance(model, Prior):  # a bare VQ-VAE: encode/decode only
            return JukeboxRun(vqvae=model, prior=None, path=p)
        root, prior_dir = p.parent, p
    vq_dir = root / "vqvae"
    if not (vq_dir / "config.json").is_file():
        if prior_dir is not None and (prior_dir / "config.json").is_file():
            vq_dir = resolve_vqvae(prior_dir)
        else:
            raise CheckpointError(
                f"{p} is not a Jukebox run: expected {p}/vqvae (and prior/, upsampler_1/, upsampler_0/)."
            )
    vqvae = _read(vq_dir, ("vqvae",))
    prior = (
        _read(prior_dir, ("prior",))
        if prior_dir and (prior_dir / "config.json").is_file()
        else None
    )
    upsamplers = {}
    for level in range(vqvae.cfg.levels - 1):
        d = root / f"upsampler_{level}"
        if (d / "config.json").is_file():
            up = _read(d, ("upsampler",))
            if up.cfg.level != level:
                raise CheckpointError(
                    f"{d} holds an upsampler for level {up.cfg.level}, not {level}."
                )
            upsamplers[level] = up
    for model in (prior, *upsamplers.values()):
        if model is not None and model.cfg.bins != vqvae.cfg.codes:
            raise CheckpointError(f"{root}: a prior's codebook size does not match the VQ-VAE's.")
    return JukeboxRun(vqvae=vqvae, prior=prior, upsamplers=upsamplers, path=root)


# ------------------------------------------------------------------------------ windows
def window_starts(n_tokens: int, n_ctx: int, hop: int, known: int = 0, align: int = 1) -> list[int]:
    """Start of every window needed to extend ``known`` tokens to ``n_tokens``.

    Windows advance by ``hop``; the first one starts late enough that the prime fills
    as much context as possible; starts are multiples of ``align`` (upsamplers).
    """
    hop = max(align, hop // align * align)
    first = max(0, known - (n_ctx - hop))
    first = first // align * align
    starts = []
    start = first
    while True:
        starts.append(start)
        if start + n_ctx >= n_tokens:
            return starts
        start += hop


def sample_level(
    model: Prior,
    n_tokens: int,
    *,
    artist: str | None,
    genre: str | None,
    total_samples: int,
    batch: int = 1,
    lyrics: str = "",
    prime: torch.Tensor | None = None,
    upper: torch.Tensor | None = None,
    temperature: float = 1.0,
    hop_fraction: float = 0.5,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_token: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Codes (batch, n_tokens) of the model's level, windowed when longer than ``n_ctx``.

    ``prime`` (batch, P) tokens are kept and continued; ``upper`` (batch, n_tokens/ratio)
    are the codes of the level above (upsamplers only). ``progress(window, windows)``
    follows the windows, ``on_token()`` every token drawn.
    """
    cfg = model.cfg
    if not 0.0 < hop_fraction <= 1.0:
        raise InputError(f"hop_fraction must be in (0, 1], not {hop_fraction}.")
    a_id = model.vocab.artist_id(artist)
    g_id = model.vocab.genre_id(genre)
    device = model.tok_emb.weight.device
    tokens = torch.zeros(batch, n_tokens, dtype=torch.long, device=device)
    known = 0
    if prime is not None and prime.shape[1]:
        known = min(prime.shape[1], n_tokens)
        tokens[:, :known] = prime[:, :known]
    if known >= n_tokens:
        return tokens
    if cfg.is_upsampler and (upper is None or upper.shape[1] * cfg.ratio < n_tokens):
        raise InputError("An upsampler needs the upper-level codes covering every token.")
    lyric_text = lyrics if cfg.lyrics else ""
    sr = cfg.sample_rate
    align = cfg.ratio or 1
    starts = window_starts(n_tokens, cfg.n_ctx, int(hop_fraction * cfg.n_ctx), known, align)
    for i, start in enumerate(starts):
        end = min(n_tokens, start + cfg.n_ctx)
        if end <= known:
            continue
        cond = Conditioning(
            artist=torch.full((batch,), a_id, dtype=torch.long, device=device),
            genre=torch.full((batch,), g_id, dtype=torch.long, device=device),
            total=torch.full((batch,), float(total_samples), dtype=torch.float64, device=device),
            start=torch.full((batch,), float(start * cfg.hop), dtype=torch.float64, device=device),
        )
        if cfg.lyrics:
            window = lyrics_window(
                lyric_text,
                cfg.n_lyric_tokens,
                start * cfg.hop / sr,
                cfg.n_ctx * cfg.hop / sr,
                total_samples / sr,
            )
            cond.lyrics = torch.from_numpy(window).to(device)[None].expand(batch, -1)
        if cfg.is_upsampler:
            cond.upper = upper[:, start // cfg.ratio : -(-end // cfg.ratio)]
        out = model.sample_window(
            end - start,
            cond,
            prime=tokens[:, start:known] if known > start else None,
            temperature=temperature,
            generator=generator,
            use_cache=use_cache,
            on_token=on_token,
        )
        tokens[:, start:end] = out
        known = end
        if progress is not None:
            progress(i + 1, len(starts))
    return tokens


# ----------------------------------------------------------------------------- ancestral
@dataclass
class SampleResult:
    """Audio (batch, n) at ``sample_rate`` plus the codes drawn at each level."""

    audio: np.ndarray
    sample_rate: int
    codes: dict[int, torch.Tensor]
    decoded_level: int


def generate(
    run: JukeboxRun,
    seconds: float,
    *,
    artist: str | None = None,
    genre: str | None = None,
    lyrics: str = "",
    prime_audio: np.ndarray | None = None,
    temperature: float = 1.0,
    seed: int | None = 0,
    batch: int = 1,
    hop_fraction: float = 0.5,
    upsample: bool = True,
    use_cache: bool = True,
    progress: bool = False,
) -> SampleResult:
    """Ancestral sampling of ``seconds`` of audio (including the prime, if any).

    The top prior draws the top codes; then each upsampler present draws the next level
    down; the lowest level reached is decoded by its own autoencoder. ``prime_audio``
    (mono, at the VQ-VAE rate) is encoded and continued at every level. ``progress``
    shows one bar per level with its tokens per second and time left.
    """
    if run.prior is None:
        raise InputError(f"{run.path} has no top-level prior (RUN/prior); train one first.")
    if not seconds > 0 or not math.isfinite(seconds):
        raise InputError(f"--seconds must be a positive number, not {seconds}.")
    if batch < 1:
        raise InputError(f"The batch size must be at least 1, not {batch}.")
    vq = run.vqvae
    hops = vq.hops
    top = len(hops) - 1
    n_samples = int(round(seconds * vq.sample_rate))
    n_top = -(-n_samples // hops[top])
    length = {level: n_top * hops[top] // hops[level] for level in range(top + 1)}
    # Validate labels against every model before spending time on sampling.
    for model in (run.prior, *run.upsamplers.values()):
        model.vocab.artist_id(artist)
        model.vocab.genre_id(genre)
    primes: dict[int, torch.Tensor] = {}
    if prime_audio is not None:
        if len(prime_audio) >= n_samples:
            raise InputError(
                f"The prime is {len(prime_audio) / vq.sample_rate:.1f} s long; ask for more "
                f"--seconds than that ({seconds:g} s requested)."
            )
        whole = len(prime_audio) // hops[top] * hops[top]  # whole top-level tokens only
        if whole == 0:
            raise InputError(
                f"The prime is shorter than one top-level token ({hops[top]} samples)."
            )
        z = vq.encode(torch.from_numpy(np.ascontiguousarray(prime_audio[:whole], dtype=np.float32)))
        primes = {level: z[level].expand(batch, -1) for level in range(top + 1)}
    generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    common = {
        "artist": artist,
        "genre": genre,
        "total_samples": n_samples,
        "batch": batch,
        "lyrics": lyrics,
        "temperature": temperature,
        "hop_fraction": hop_fraction,
        "generator": generator,
        "use_cache": use_cache,
    }
    with _token_bar(progress, "top prior", length[top], primes.get(top)) as tick:
        codes = {
            top: sample_level(
                run.prior, length[top], prime=primes.get(top), on_token=tick, **common
            )
        }
    level = top
    while upsample and level - 1 in run.upsamplers:
        below = level - 1
        with _token_bar(progress, f"upsampler {below}", length[below], primes.get(below)) as tick:
            codes[below] = sample_level(
                run.upsamplers[below],
                length[below],
                prime=primes.get(below),
                upper=codes[level],
                on_token=tick,
                **common,
            )
        level = below
    from latentmusic.jukebox.codes import decode_codes

    audio = decode_codes(vq, codes[level], level)[:, :n_samples]
    return SampleResult(np.asarray(audio, dtype=np.float32), vq.sample_rate, codes, level)


@contextmanager
def _token_bar(
    enabled: bool, what: str, n_tokens: int, prime: torch.Tensor | None
) -> Iterator[Callable[[], None] | None]:
    """A bar over the tokens one level still has to draw (its rate gives the time left)."""
    if not enabled:
        yield None
        return
    todo = n_tokens - (0 if prime is None else min(prime.shape[1], n_tokens))
    with progress_bar(todo, what, "token") as bar:
        yield lambda: bar.update(1)


def sample_to_file(
    model: str | Path,
    out: str | Path,
    seconds: float,
    *,
    artist: str | None = None,
    genre: str | None = None,
    lyrics: str = "",
    prime: str | Path | None = None,
    temperature: float = 1.0,
    seed: int | None = 0,
    batch: int = 1,
    hop_fraction: float = 0.5,
    upsample: bool = True,
    progress: bool = False,
) -> tuple[list[Path], SampleResult]:
    """``latentmusic jukebox sample``: write one WAV per batch item (``OUT``, ``OUT-1``, ...)."""
    from latentmusic.audio.io import load, save

    if temperature < 0:
        raise InputError(f"--temperature must be >= 0, not {temperature}.")
    run = load_run(model)
    prime_audio = load(prime, sr=run.sample_rate)[0] if prime is not None else None
    result = generate(
        run,
        seconds,
        artist=artist,
        genre=genre,
        lyrics=lyrics,
        prime_audio=prime_audio,
        temperature=temperature,
        seed=seed,
        batch=batch,
        hop_fraction=hop_fraction,
        upsample=upsample,
        progress=progress,
    )
    target = Path(out)
    paths = []
    for i, audio in enumerate(result.audio):
        path = target if i == 0 else target.with_name(f"{target.stem}-{i}{target.suffix or '.wav'}")
        paths.append(save(path, audio, result.sample_rate))
    return paths, result
