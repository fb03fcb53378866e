"""The NSynth section of the demo: a timbre morph (latent interpolation vs audio cross-fade).

Trains a tiny WaveNet autoencoder and a tiny spectral baseline on the demo note set for
about a minute of CPU, caches both in the work directory (a second demo run reuses them),
then morphs flute -> organ in five steps in latent space next to the naive cross-fade,
with rainbowgrams, and shows both models' reconstructions.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from latentmusic.demo.page import DemoContext, Row, Section

PITCH = 60
SECONDS = 1.0
STEPS = 5
FROM_FAMILY, TO_FAMILY = "flute", "organ"
PRESET = "tiny"
WAVENET_SHARE, SPECTRAL_SHARE = 0.55, 0.12  # of the section's CPU budget, for training


def _pick(root: Path, family: str, avoid: str | None = None) -> Any:
    """A note of ``family`` nearest to middle C from any split (or any family but ``avoid``)."""
    from latentmusic.data.nsynth import read_examples

    notes = [n for split in ("train", "valid", "test") for n in read_examples(root, split)]
    wanted = [n for n in notes if n.instrument_family_str == family]
    if not wanted:  # a note set without this family: take another instrument
        wanted = [n for n in notes if n.instrument_family_str != avoid] or notes
    return min(wanted, key=lambda n: (abs(n.pitch - PITCH), n.velocity != 100, n.note_str))


def _train_cached(
    ctx: DemoContext, notes: Path, model_type: str, seconds: float
) -> tuple[Path, dict]:
    """Train (or reuse) a demo model; returns its run directory and how it was trained."""
    from latentmusic.errors import CheckpointError
    from latentmusic.nsynth.train import train
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.train.harness import TrainSettings

    run = ctx.work / "nsynth" / f"{model_type}-{PRESET}"
    info_file = run / "demo.json"
    try:
        read_checkpoint(run, family="nsynth")
        return run, {**json.loads(info_file.read_text()), "cached": True}
    except (CheckpointError, OSError, ValueError):
        shutil.rmtree(run, ignore_errors=True)  # an interrupted earlier demo run: start over
    settings = TrainSettings(
        out=run,
        max_steps=100_000,
        batch_size=8,
        max_minutes=seconds / 60.0,
        val_every=10**9,
        val_batches=None,
        ckpt_every=10**9,
        log_every=10,
        progress=False,
        accelerator="cpu",
        seed=0,
    )
    started = time.perf_counter()
    train(notes, run, PRESET, model_type, [], settings, None)
    meta = read_checkpoint(run).meta
    info = {
        "steps": int(meta.get("steps", 0)),
        "seconds": round(time.perf_counter() - started, 1),
        "train_loss": meta.get("metrics", {}).get("train/loss"),
    }
    info_file.write_text(json.dumps(info))
    return run, {**info, "cached": False}


def build(ctx: DemoContext) -> Section:
    """Train (or reuse) the demo models and lay out the morph; one torch thread throughout,
    since tiny convolutions gain nothing from more and stall badly on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build(ctx)
    finally:
        torch.set_num_threads(before)


def _build(ctx: DemoContext) -> Section:
    import numpy as np
    import torch

    from latentmusic.audio import io
    from latentmusic.audio.rainbowgram import save_rainbowgram
    from latentmusic.data.nsynth import read_examples
    from latentmusic.nsynth.verbs import load_model

    notes = ctx.notes_dir()
    n_train = len(read_examples(notes, "train"))
    budget = ctx.budget_seconds
    wn_run, wn_info = _train_cached(ctx, notes, "wavenet", WAVENET_SHARE * budget)
    sp_run, sp_info = _train_cached(ctx, notes, "spectral", SPECTRAL_SHARE * budget)
    wavenet, spectral = load_model(wn_run), load_model(sp_run)
    sr = wavenet.sample_rate
    length = int(SECONDS * sr) // wavenet.hop * wavenet.hop

    src, dst = _pick(notes, FROM_FAMILY), _pick(notes, TO_FAMILY, avoid=FROM_FAMILY)
    clips = {}
    for note in (src, dst):
        audio, _ = io.load(note.audio_path, sr=sr)
        clips[note.note_str] = audio[:length]
    a, b = clips[src.note_str], clips[dst.note_str]
    n_params = sum(p.numel() for p in wavenet.parameters())
    seen = {n.instrument_str for n in read_examples(notes, "train")}

    def unseen(note: Any) -> str:
        return "" if note.instrument_str in seen else " (instrument not in training)"

    section = Section(
        id="nsynth",
        title="NSynth: timbre morphing with a WaveNet autoencoder",
        intro=(
            f"A WaveNet autoencoder (Engel et al. 2017) encodes a note into 16 numbers every "
            f"{1000 * wavenet.hop / sr:.0f} ms and a causal WaveNet decodes them back, one mu-law sample "
            f"at a time. Moving between two notes' embeddings makes one new sound, where cross-fading the "
            f"audio only plays both at once. Honest caveat: this is the '{PRESET}' preset "
            f"({n_params:,} parameters) trained for {wn_info['steps']} steps (~{wn_info['seconds']:.0f} s wall "
            f"clock on this CPU) on {n_train} rendered notes; the paper trained a model ~1000x larger for 200k steps on "
            f"32 GPUs. Expect buzzy, noisy tones that follow pitch and loudness more than timbre. Train the "
            f"'small' preset for a few hours for recognisable instruments."
        ),
    )
    section.table.append(
        {
            "model": f"WaveNet AE ({PRESET})",
            "training steps": wn_info["steps"],
            "training seconds": wn_info["seconds"],
            "final train loss": wn_info["train_loss"]
            if wn_info["train_loss"] is not None
            else "n/a",
            "reused from cache": wn_info["cached"],
        }
    )
    section.table.append(
        {
            "model": f"spectral AE baseline ({PRESET})",
            "training steps": sp_info["steps"],
            "training seconds": sp_info["seconds"],
            "final train loss": sp_info["train_loss"]
            if sp_info["train_loss"] is not None
            else "n/a",
            "reused from cache": sp_info["cached"],
        }
    )

    def put(audio: Any, stem: str, caption: str) -> tuple[Any, Any]:
        wav = io.save(ctx.asset("nsynth", f"{stem}.wav"), audio, sr)
        png = save_rainbowgram(audio, sr, ctx.asset("nsynth", f"{stem}.png"))
        return ctx.audio(wav, caption), ctx.image(png, f"rainbowgram: {caption}")

    with torch.no_grad():
        morph = wavenet.interpolate(a, b, STEPS, method="lerp", seed=0).numpy()
        pair = torch.from_numpy(np.stack([a, b]))
        recon_wn = wavenet.reconstruct(pair, seed=0).numpy()
        recon_sp = spectral.reconstruct(pair, seed=0).numpy()
    fade = wavenet.crossfade(a, b, STEPS).numpy()[:, : morph.shape[-1]]

    originals = Row("Originals (first second of each note)")
    recon = Row(
        "Reconstructions: WaveNet autoencoder vs the spectral baseline (Griffin-Lim phase)",
        note="Both compress the note to the same 16-dimensional embedding per frame.",
    )
    for i, note in enumerate((src, dst)):
        label = f"{note.instrument_str}, MIDI {note.pitch}{unseen(note)}"
        originals.items += put(clips[note.note_str], f"original_{i}", label)
        recon.items += put(
            recon_wn[i], f"recon_wavenet_{i}", f"WaveNet: {note.instrument_family_str}"
        )
        recon.items += put(
            recon_sp[i], f"recon_spectral_{i}", f"spectral: {note.instrument_family_str}"
        )
    latent_audio = Row(
        f"Latent interpolation {src.instrument_family_str} -> {dst.instrument_family_str} (NSynth)"
    )
    latent_pics = Row("Latent interpolation: rainbowgrams")
    fade_audio = Row("Audio cross-fade (the naive baseline)")
    fade_pics = Row("Audio cross-fade: rainbowgrams")
    for i in range(STEPS):
        t = i / (STEPS - 1)
        audio_item, image_item = put(morph[i], f"latent_{i}", f"latent t={t:.2f}")
        latent_audio.items.append(audio_item)
        latent_pics.items.append(image_item)
        audio_item, image_item = put(fade[i], f"crossfade_{i}", f"cross-fade t={t:.2f}")
        fade_audio.items.append(audio_item)
        fade_pics.items.append(image_item)
    section.rows += [originals, recon, latent_audio, latent_pics, fade_audio, fade_pics]
    section.notes += [
        "Rainbowgram: constant-Q spectrogram, brightness = log magnitude, colour = instantaneous frequency.",
        "Reproduce: latentmusic train nsynth --data NOTES --preset small --out RUN, then "
        "latentmusic nsynth interpolate A.wav B.wav --model RUN --steps 5 -o MORPH.",
    ]
    return section
