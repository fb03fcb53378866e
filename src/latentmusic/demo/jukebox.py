"""Demo section: Jukebox's three-level VQ-VAE and a genre-conditioned top prior, trained briefly.

Trains a demo-size VQ-VAE and top prior on the demo's chorale renderings (cached in the
work directory, so a second build only samples), then shows what each level keeps of a
held-out recording and what the prior draws for two genres and as a continuation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from latentmusic.demo.page import DemoContext, Item, Row, Section

VQVAE_MINUTES = 0.8
PRIOR_MINUTES = 0.5


def _train(
    data: Path, out: Path, model_type: str, overrides: list[str], minutes: float, batch: int
) -> None:
    from latentmusic.jukebox.train import train
    from latentmusic.train.harness import TrainSettings

    if (out / "model.safetensors").is_file():
        return
    settings = TrainSettings(
        out=out,
        max_steps=2000,
        batch_size=batch,
        max_minutes=minutes,
        val_every=10_000,
        ckpt_every=10_000,
        progress=False,
        log_every=10,
    )
    train(data, out, "tiny", model_type, overrides, settings, None)


def _steps(run: Path) -> int:
    try:
        return int(json.loads((run / "meta.json").read_text()).get("steps", 0))
    except (OSError, ValueError):
        return 0


def build(ctx: DemoContext) -> Section:
    """Train (or reuse) the demo models and lay out reconstructions and samples."""
    # Render the data first: the renderer forks worker processes, which must happen before
    # torch starts its thread pools in this process.
    data = ctx.domains_dir()
    import torch

    from latentmusic.audio.io import load, save
    from latentmusic.audio.spectral import spectral_convergence_db
    from latentmusic.jukebox.codes import dataset_files, encode_dataset
    from latentmusic.jukebox.sampling import generate, load_run

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    work = ctx.work / "jukebox"
    run_dir = work / "run"
    _train(data, run_dir / "vqvae", "vqvae", ["codes=128"], VQVAE_MINUTES, batch=4)
    codes = work / "codes"
    if not (codes / "manifest.json").is_file():
        encode_dataset(run_dir, data, codes, lyrics=False, progress=False)
    _train(codes, run_dir / "prior", "prior", ["n_ctx=64", "width=64", "depth=3"], PRIOR_MINUTES, 8)
    run = load_run(run_dir)
    sr = run.sample_rate
    files = dataset_files(data, lyrics=False)
    held = [f for f in files if f.split != "train"] or files
    section = Section(
        id="jukebox",
        title="Jukebox: hierarchical VQ-VAE + conditioned prior",
        intro=(
            "Three separate autoencoders compress audio 8x, 32x and 128x into codes from a "
            "codebook (EMA updates, random restarts of unused codes); a transformer prior over "
            "the 128x codes is conditioned on genre (the instrument), artist and timing. "
            f"Honest scale: the VQ-VAE trained {_steps(run_dir / 'vqvae')} steps and the prior "
            f"{_steps(run_dir / 'prior')} steps of the 'tiny' preset on this CPU, time-limited to "
            f"{VQVAE_MINUTES + PRIOR_MINUTES:.1f} minutes together, against weeks on hundreds of "
            "GPUs in the paper. Expect "
            "muffled, buzzy reconstructions (worst at 128x) and samples that only hint at the "
            "requested instrument. No upsamplers were trained here, so samples are the top "
            "level decoded by its own decoder."
        ),
    )
    # Reconstructions of one held-out recording at each level.
    ref_file = held[0]
    audio = load(ref_file.path, sr=sr, duration=4.0)[0]
    orig = ctx.asset("jukebox", "original.wav")
    save(orig, audio, sr)
    items = [ctx.audio(orig, f"original ({ref_file.genre}, {ref_file.piece})")]
    table = []
    for level, hop in enumerate(run.vqvae.hops):
        recon = run.vqvae.reconstruct(torch.from_numpy(audio), level)[0].numpy()
        sc = spectral_convergence_db(audio, recon)
        path = ctx.asset("jukebox", f"recon_level{level}.wav")
        save(path, recon, sr)
        items.append(ctx.audio(path, f"level {level} (hop {hop}), SC {sc:.1f} dB"))
        codes_used = len(np.unique(run.vqvae.encode(torch.from_numpy(audio), [level])[0].numpy()))
        table.append(
            {
                "level": level,
                "hop": hop,
                "tokens per second": sr / hop,
                "spectral convergence (dB)": round(sc, 2),
                "codes used in this clip": f"{codes_used} / {run.vqvae.cfg.codes}",
            }
        )
    section.table = table
    section.rows.append(
        Row("What each level keeps", items, "Lower spectral convergence is better.")
    )
    # Samples for two genres, and one continuation.
    genres = list(run.prior.vocab.genres)[:2]
    sample_items: list[Item] = []
    for i, genre in enumerate(genres):
        artist = next((f.artist for f in files if f.genre == genre), None)
        result = generate(run, 4.0, artist=artist, genre=genre, seed=i, temperature=0.95)
        path = ctx.asset("jukebox", f"sample_{genre}.wav")
        save(path, result.audio[0], sr)
        sample_items.append(ctx.audio(path, f"sample asked for '{genre}'"))
    prime = audio[: 2 * sr]
    cont = generate(
        run,
        5.0,
        artist=ref_file.artist,
        genre=ref_file.genre,
        prime_audio=prime,
        seed=7,
        temperature=0.95,
    )
    prime_path = ctx.asset("jukebox", "prime.wav")
    save(prime_path, prime, sr)
    cont_path = ctx.asset("jukebox", "continuation.wav")
    save(cont_path, cont.audio[0], sr)
    sample_items += [
        ctx.audio(prime_path, "prompt (2 s)"),
        ctx.audio(cont_path, "prompt continued to 5 s"),
    ]
    section.rows.append(
        Row(
            "Samples and a continuation",
            sample_items,
            "Windowed sampling with a KV cache; the continuation encodes the prompt to codes and "
            "continues them (the first 2 s are the VQ-VAE's rendering of the prompt).",
        )
    )
    section.notes.append(
        "Reproduce at larger scale: latentmusic train jukebox --model vqvae --preset small, then "
        "latentmusic jukebox encode-dataset, then --model prior / --model upsampler (see docs)."
    )
    return section
