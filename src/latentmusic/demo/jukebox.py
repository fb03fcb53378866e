"""Demo section: Jukebox's three-level VQ-VAE, genre-conditioned samples and a continuation.

Plays the shipped chain ``jukebox-small`` (``latentmusic models``: VQ-VAE, top prior and
both upsamplers): what each level keeps of a chorale no model trained on, samples asked for
a few instruments drawn through the whole chain (top prior -> upsamplers -> decoder), each
beside its top level decoded alone, and a held-out prompt continued. Only where no model is
shipped does it train a demo-size VQ-VAE and top prior for about a minute (cached in the
work directory, no upsamplers) and say so.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from latentmusic.demo.page import DemoContext, Item, Row, Section

SHIPPED = "jukebox-small"
VQVAE_MINUTES = 0.8  # the fallback's budget when nothing is shipped
PRIOR_MINUTES = 0.5
CLIP_SECONDS = 4.0  # the reconstructed recording
SAMPLE_SECONDS = 3.0  # each sample through the whole chain (the bottom level is the slow part)
PRIME_SECONDS = 2.0
CONTINUE_SECONDS = 2.0  # drawn after the prompt
GENRES = ("piano", "organ", "flute")  # asked for when the model knows them
TEMPERATURE = 0.95


def _train(
    data: Path, out: Path, model_type: str, overrides: list[str], minutes: float, batch: int
) -> None:
    from latentmusic.demo.training import quick_settings
    from latentmusic.jukebox.train import train
    from latentmusic.train.harness import TrainJob

    if (out / "model.safetensors").is_file():
        return
    settings = quick_settings(out, 2000, batch, minutes, log_every=10)
    train(TrainJob(data, settings, "tiny", model_type, tuple(overrides)))


def _trained_here(ctx: DemoContext, data: Path) -> Path:
    """The fallback: a demo-size VQ-VAE and top prior, trained once and cached."""
    from latentmusic.jukebox.codes import encode_dataset

    run_dir = ctx.work / "jukebox" / "run"
    _train(data, run_dir / "vqvae", "vqvae", ["codes=128"], VQVAE_MINUTES, batch=4)
    codes = ctx.work / "jukebox" / "codes"
    if not (codes / "manifest.json").is_file():
        encode_dataset(run_dir, data, codes, lyrics=False, progress=False)
    _train(codes, run_dir / "prior", "prior", ["n_ctx=64", "width=64", "depth=3"], PRIOR_MINUTES, 8)
    return run_dir


def _shipped() -> Path | None:
    from latentmusic.catalogue import shipped_models

    return next(
        (m.path for m in shipped_models() if m.name == SHIPPED and m.family == "jukebox"), None
    )


def _steps(part: Path) -> int:
    try:
        return int(json.loads((part / "meta.json").read_text()).get("steps", 0))
    except (OSError, ValueError):
        return 0


def _held_out(files: list[Any]) -> Any:
    """A piano recording of a piece in the test split (the data set's hash split by piece, so
    the shipped chain never trained on it), else any held-out file."""
    held = [f for f in files if f.split == "test"] or [f for f in files if f.split != "train"]
    held = held or files
    return next((f for f in held if f.genre == "piano"), held[0])


def build(ctx: DemoContext) -> Section:
    """Lay out per-level reconstructions, conditioned samples and a continuation."""
    # Render the data first: the renderer forks worker processes, which must happen before
    # torch starts its thread pools in this process.
    data = ctx.domains_dir()
    import torch

    from latentmusic.audio.io import load, save
    from latentmusic.audio.spectral import spectral_convergence_db
    from latentmusic.jukebox.codes import dataset_files, decode_codes
    from latentmusic.jukebox.sampling import generate, load_run

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    shipped = _shipped()
    run_dir = shipped or _trained_here(ctx, data)
    run = load_run(run_dir)
    vq, sr = run.vqvae, run.sample_rate
    files = dataset_files(data, lyrics=False)
    ref = _held_out(files)
    known_artists = run.prior.vocab.artists
    artist = ref.artist if ref.artist in known_artists else known_artists[0]
    table: list[dict[str, object]] = []

    # 1. What each level keeps of one held-out recording.
    audio = load(ref.path, sr=sr, duration=CLIP_SECONDS)[0]
    orig = save(ctx.asset("jukebox", "original.wav"), audio, sr)
    items = [ctx.audio(orig, f"original ({ref.genre}, {ref.piece})")]
    clip = torch.from_numpy(audio)
    for level, hop in enumerate(vq.hops):
        recon = vq.reconstruct(clip, level)[0].numpy()
        sc = spectral_convergence_db(audio, recon)
        path = save(ctx.asset("jukebox", f"recon_level{level}.wav"), recon, sr)
        items.append(ctx.audio(path, f"level {level} (hop {hop}), SC {sc:.1f} dB"))
        used = len(np.unique(vq.encode(clip, [level])[0].numpy()))
        table.append(
            {
                "level": level,
                "hop": hop,
                "tokens per second": round(sr / hop, 1),
                "spectral convergence (dB)": round(sc, 2),
                "codes used in this clip": f"{used} / {vq.cfg.codes}",
            }
        )
    rows = [
        Row(
            "What each level keeps (a held-out chorale)",
            items,
            "Spectral convergence: lower is better; the top level keeps the least.",
        )
    ]

    # 2. Samples asked for a few instruments, through the whole chain.
    genres = [g for g in GENRES if g in run.prior.vocab.genres] or list(run.prior.vocab.genres)[:2]
    top = len(vq.hops) - 1
    sample_items: list[Item] = []
    speeds: list[float] = []
    for i, genre in enumerate(genres):
        start = time.perf_counter()
        result = generate(
            run, SAMPLE_SECONDS, artist=artist, genre=genre, seed=i, temperature=TEMPERATURE
        )
        speeds.append((time.perf_counter() - start) / SAMPLE_SECONDS)
        path = save(ctx.asset("jukebox", f"sample_{genre}.wav"), result.audio[0], sr)
        sample_items.append(
            ctx.audio(path, f"asked for {genre} ({artist}), level {result.decoded_level}")
        )
        if result.decoded_level != top:  # the same sample's top level, decoded alone
            alone = decode_codes(vq, result.codes[top], top)[0]
            path = save(ctx.asset("jukebox", f"sample_{genre}_top.wav"), alone, sr)
            sample_items.append(ctx.audio(path, f"{genre}: its top level decoded alone"))
    upsampled = bool(run.upsamplers)
    rows.append(
        Row(
            "Samples asked for an instrument",
            sample_items,
            (
                "Each drawn by the top prior, then refined by the upsamplers to the bottom "
                "level; beside it, the same top-level codes decoded without the upsamplers."
                if upsampled
                else "The top prior's codes decoded by the top level's own decoder (no "
                "upsamplers here)."
            ),
        )
    )

    # 3. A held-out prompt continued, with the prompt's own labels.
    offset = min(2.0, max(0.0, len(audio) / sr - PRIME_SECONDS))
    prime = audio[int(offset * sr) : int((offset + PRIME_SECONDS) * sr)]
    cont = generate(
        run,
        PRIME_SECONDS + CONTINUE_SECONDS,
        artist=artist,
        genre=ref.genre if ref.genre in run.prior.vocab.genres else genres[0],
        prime_audio=prime,
        seed=7,
        temperature=TEMPERATURE,
    )
    prime_path = save(ctx.asset("jukebox", "prime.wav"), prime, sr)
    cont_path = save(ctx.asset("jukebox", "continuation.wav"), cont.audio[0], sr)
    rows.append(
        Row(
            "A held-out prompt continued",
            [
                ctx.audio(prime_path, f"prompt ({PRIME_SECONDS:g} s)"),
                ctx.audio(cont_path, f"continued by {CONTINUE_SECONDS:g} s"),
            ],
            "The prompt is encoded to codes at every level and continued; its first "
            f"{PRIME_SECONDS:g} s are the VQ-VAE's rendering of the prompt.",
        )
    )

    steps = {part.name: _steps(part) for part in sorted(run_dir.iterdir()) if part.is_dir()}
    trained = ", ".join(f"{name} {n:,}" for name, n in steps.items())
    speed = sum(speeds) / len(speeds)
    if shipped:
        model_text = (
            f"the shipped {SHIPPED} chain (`latentmusic models`; training steps: {trained}). Its "
            f"card, with its held-out numbers: models/{SHIPPED}/MODEL_CARD.md"
        )
    else:
        model_text = (
            f"no shipped {SHIPPED} model was found, so a demo-size VQ-VAE and top prior were "
            f"trained here ({trained} steps, about {VQVAE_MINUTES + PRIOR_MINUTES:.1f} minutes "
            "of CPU). Expect muffled, buzzy audio and samples that only hint at the instrument"
        )
    notes = [
        f"Sampling took {speed:.1f} s of CPU per second of audio here"
        + (" through the whole chain." if upsampled else " (top level only)."),
        f"Reproduce: latentmusic jukebox sample --model {SHIPPED} --artist {artist} --genre "
        f"{genres[0]} --seconds {SAMPLE_SECONDS:g} -o sample.wav; add --prime PROMPT.wav to "
        "continue a recording.",
    ]
    return Section(
        id="jukebox",
        title="Jukebox: hierarchical VQ-VAE + conditioned priors",
        intro=(
            "Three separate autoencoders compress audio into codes from a codebook, "
            f"{' / '.join(f'{h}x' for h in vq.hops)} fewer steps than samples; a transformer "
            "prior over the top codes is conditioned on genre (here the instrument), artist "
            "(the corpus a piece comes from) and timing, and one upsampler per level below "
            "draws the finer codes given the coarser ones. The paper trained for weeks on "
            f"hundreds of GPUs; this page plays {model_text}."
        ),
        rows=rows,
        table=table,
        notes=notes,
    )
