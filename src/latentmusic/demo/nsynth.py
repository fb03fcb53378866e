"""The NSynth section of the demo: a timbre morph at one pitch and an NSynth-Super pad.

Plays the shipped fast decoder ``nsynth-harmonic`` (``latentmusic models``), found through the
catalogue: a five-step latent morph flute -> brass at middle C next to the naive audio
cross-fade, with rainbowgrams and the pitch pyin hears at each step, then a 3 x 3 pad between
four instruments rendered once at a few pitches (``EmbeddingVerbs.pad``, the logic of
``nsynth grid``). A shipped WaveNet autoencoder ``nsynth-small`` morphs the same pair beside
it; the page says when it is not shipped yet. Only where ``nsynth-harmonic`` is missing does
the section train the ``tiny`` harmonic model on the demo notes for a few seconds (cached in
the work directory) and say so. With the shipped models it takes seconds.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from latentmusic.demo.page import DemoContext, Row, Section

SHIPPED = "nsynth-harmonic"  # the fast decoder: morph and pad
SHIPPED_WAVENET = "nsynth-small"  # the paper's decoder, beside it when shipped
PITCH = 60
SECONDS = 1.0
STEPS = 5
FROM_FAMILY, TO_FAMILY = "flute", "brass"
PAD_CORNERS = ("flute", "brass", "string", "reed")  # top-left, top-right, bottom-left, bottom-right
PAD_SIZE = 3
PAD_PITCHES = (52, 60, 68)
PRESET = "tiny"  # the fallback when no model is shipped
TRAIN_STEPS = 400  # the tiny harmonic model learns a rough timbre in this many (seconds of CPU)
MAX_SHARE = 0.4  # of the section's CPU budget, a cap for training on a busy machine


def _pick(notes: list[Any], family: str, pitch: int, avoid: tuple[str, ...] = ()) -> Any:
    """A note of ``family`` nearest ``pitch`` (or of any family not in ``avoid``)."""
    wanted = [n for n in notes if n.instrument_family_str == family]
    if not wanted:  # a note set without this family: take another instrument
        wanted = [n for n in notes if n.instrument_family_str not in avoid] or notes
    return min(wanted, key=lambda n: (abs(n.pitch - pitch), n.velocity != 100, n.note_str))


def _shipped(name: str) -> tuple[Path, dict[str, Any]] | None:
    """A shipped NSynth model and what its catalogue entry says, or None where it is not
    installed (the catalogue reads only the JSON files; ``build`` loads the weights once)."""
    from latentmusic.catalogue import shipped_models

    for model in shipped_models():
        if model.name == name and model.family == "nsynth":
            return model.path, {
                "name": name,
                "steps": model.steps or 0,
                "headline": model.headline,
                "shipped": True,
            }
    return None


def _train_cached(ctx: DemoContext, notes: Path) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) the fallback harmonic model; returns its run and how it was trained."""
    from latentmusic.demo.training import quick_settings
    from latentmusic.errors import CheckpointError
    from latentmusic.nsynth.train import train
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.train.harness import TrainJob

    run = ctx.work / "nsynth" / f"harmonic-{PRESET}"
    info_file = run / "demo.json"
    try:
        read_checkpoint(run, family="nsynth")
        return run, {**json.loads(info_file.read_text()), "cached": True, "shipped": False}
    except (CheckpointError, OSError, ValueError):
        shutil.rmtree(run, ignore_errors=True)  # an interrupted earlier demo run: start over
    settings = quick_settings(run, TRAIN_STEPS, 8, MAX_SHARE * ctx.budget_seconds / 60.0)
    started = time.perf_counter()
    train(TrainJob(notes, settings, PRESET, "harmonic"))
    meta = read_checkpoint(run).meta
    info = {
        "name": f"harmonic {PRESET}",
        "steps": int(meta.get("steps", 0)),
        "seconds": round(time.perf_counter() - started, 1),
        "train_loss": meta.get("metrics", {}).get("train/loss"),
    }
    info_file.write_text(json.dumps(info))
    return run, {**info, "cached": False, "shipped": False}


def build(ctx: DemoContext) -> Section:
    """Lay out the morph and the pad; one torch thread throughout, since these small
    convolutions gain nothing from more and stall badly on a busy machine."""
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
    from latentmusic.nsynth.evaluate import median_f0
    from latentmusic.nsynth.verbs import load_model

    notes_root = ctx.notes_dir()
    notes = [n for split in ("train", "valid", "test") for n in read_examples(notes_root, split)]
    shipped = _shipped(SHIPPED)
    run, info = shipped if shipped else _train_cached(ctx, notes_root)
    model = load_model(run)
    wavenet_entry = _shipped(SHIPPED_WAVENET)
    wavenet = load_model(wavenet_entry[0]) if wavenet_entry else None
    sr = model.sample_rate
    length = int(SECONDS * sr) // model.hop * model.hop
    clips: dict[str, np.ndarray] = {}

    def clip(note: Any) -> np.ndarray:
        if note.note_str not in clips:
            audio = io.load(note.audio_path, sr=sr, duration=(length + 64) / sr)[0][:length]
            clips[note.note_str] = np.pad(audio, (0, length - audio.size))
        return clips[note.note_str]

    def put(audio: Any, stem: str, caption: str, picture: bool = True) -> list[Any]:
        wav = io.save(ctx.asset("nsynth", f"{stem}.wav"), audio, sr)
        items = [ctx.audio(wav, caption)]
        if picture:
            png = save_rainbowgram(audio, sr, ctx.asset("nsynth", f"{stem}.png"))
            items.append(ctx.image(png, f"rainbowgram: {caption}"))
        return items

    def hz(audio: Any, pitch: int = PITCH) -> str:
        f0 = median_f0(np.asarray(audio), sr, pitch)
        return "no pitch found" if not np.isfinite(f0) else f"{f0:.1f} Hz"

    def pitch_kw(m: Any, pitch: int) -> dict[str, Any]:
        return {"pitch": float(pitch)} if getattr(m, "takes_pitch", False) else {}

    src = _pick(notes, FROM_FAMILY, PITCH)
    dst = _pick(notes, TO_FAMILY, PITCH, avoid=(FROM_FAMILY,))
    a, b = clip(src), clip(dst)
    target_hz = 440.0 * 2.0 ** ((PITCH - 69) / 12)
    with torch.no_grad():
        morph = model.interpolate(a, b, STEPS, method="lerp", seed=0, **pitch_kw(model, PITCH))
        recon = model.reconstruct(np.stack([a, b]), seed=0, **pitch_kw(model, PITCH))
    morph, recon = morph.numpy(), recon.numpy()
    fade = model.crossfade(a, b, STEPS).numpy()[:, : morph.shape[-1]]

    originals = Row(f"Originals (first second of each note; MIDI {PITCH} = {target_hz:.1f} Hz)")
    rebuilt = Row(
        f"Reconstructions by {info['name']} (the note's embedding played at MIDI {PITCH})"
    )
    for i, note in enumerate((src, dst)):
        label = f"{note.instrument_str}, MIDI {note.pitch}"
        originals.items += put(clip(note), f"original_{i}", label)
        rebuilt.items += put(
            recon[i], f"recon_{i}", f"{note.instrument_family_str}: {hz(recon[i])}"
        )
    name_a, name_b = src.instrument_family_str, dst.instrument_family_str
    latent_audio = Row(
        f"Latent morph {name_a} -> {name_b} at MIDI {PITCH} ({info['name']})",
        note="Only the timbre embedding moves; the pitch is held, so every step plays the same "
        "note (pyin's reading in each caption).",
    )
    latent_pics = Row("Latent morph: rainbowgrams")
    fade_audio = Row("Audio cross-fade (the naive baseline: both instruments at once)")
    fade_pics = Row("Audio cross-fade: rainbowgrams")
    for i in range(STEPS):
        t = i / (STEPS - 1)
        audio_item, image_item = put(morph[i], f"latent_{i}", f"t={t:.2f}: {hz(morph[i])}")
        latent_audio.items.append(audio_item)
        latent_pics.items.append(image_item)
        audio_item, image_item = put(fade[i], f"crossfade_{i}", f"cross-fade t={t:.2f}")
        fade_audio.items.append(audio_item)
        fade_pics.items.append(image_item)
    rows = [originals, rebuilt, latent_audio, latent_pics, fade_audio, fade_pics]

    if wavenet is not None:
        with torch.no_grad():
            wn_morph = wavenet.interpolate(a, b, STEPS, method="lerp", seed=0).numpy()
        rows.append(
            Row(
                f"The same morph by the WaveNet autoencoder ({SHIPPED_WAVENET}, the paper's decoder)",
                [
                    item
                    for i in range(STEPS)
                    for item in put(
                        wn_morph[i],
                        f"wavenet_latent_{i}",
                        f"WaveNet t={i / (STEPS - 1):.2f}: {hz(wn_morph[i])}",
                        picture=False,
                    )
                ],
            )
        )

    corner_notes = {}
    for pitch in PAD_PITCHES:
        picked: list[Any] = []
        for family in PAD_CORNERS:
            picked.append(_pick(notes, family, pitch, avoid=tuple(PAD_CORNERS)))
        corner_notes[pitch] = picked
    ticks = [i / (PAD_SIZE - 1) for i in range(PAD_SIZE)]
    for pitch, corners in corner_notes.items():
        with torch.no_grad():
            pad = model.pad([clip(n) for n in corners], PAD_SIZE, seed=0, **pitch_kw(model, pitch))
        names = [n.instrument_family_str for n in corners]
        items = []
        for r, y in enumerate(ticks):
            for c, x in enumerate(ticks):
                corner = {(0, 0): 0, (0, 1): 1, (1, 0): 2, (1, 1): 3}.get((y, x))
                where = f" = {names[corner]}" if corner is not None else ""
                items += put(
                    pad[r, c].numpy(), f"pad_{pitch}_{r}{c}", f"x={x:.1f} y={y:.1f}{where}", False
                )
        rows.append(
            Row(
                f"NSynth Super pad at MIDI {pitch}: {names[0]} (top left), {names[1]} (top "
                f"right), {names[2]} (bottom left), {names[3]} (bottom right)",
                items,
                note=f"All {PAD_SIZE * PAD_SIZE} positions rendered once (four notes encoded, "
                "one batch decoded), so a player switches between them instantly.",
            )
        )

    n_params = sum(p.numel() for p in model.parameters())
    if info["shipped"]:
        intro_model = (
            f"the shipped {SHIPPED} model (`latentmusic models`; {n_params:,} parameters, "
            f"{info['steps']:,} training steps; held-out {info['headline']})"
        )
        measured = model.bottleneck - model.config.bottleneck
        carries = (
            f"; its embedding also carries the note's {measured} measured harmonic levels "
            f"beside NSynth's {model.config.bottleneck} numbers"
            if measured
            else ""
        )
        notes_text = [
            f"{SHIPPED} is our fast NSynth decoder: the NSynth encoder's embedding drives a "
            f"harmonic-plus-noise synthesizer played at a given pitch{carries}. Its card: "
            f"models/{SHIPPED}/MODEL_CARD.md."
        ]
        table = {"model": SHIPPED, "training steps": info["steps"], "held-out": info["headline"]}
    else:
        intro_model = f"a {PRESET} harmonic model trained here"
        notes_text = [
            f"No shipped {SHIPPED} model was found, so a {PRESET} harmonic model was trained "
            f"{'earlier, reused from the cache' if info['cached'] else 'just now'}: "
            f"{info['steps']} steps in {info['seconds']:.0f} s on {len(notes)} demo notes. "
            "A model this briefly trained gets the pitch right (it is given) but the timbre "
            "only roughly.",
        ]
        table = {
            "model": f"harmonic ({PRESET})",
            "training steps": info["steps"],
            "training seconds": info["seconds"],
            "final train loss": info["train_loss"] if info["train_loss"] is not None else "n/a",
        }
    if wavenet_entry:
        notes_text.append(
            f"Beside it, the shipped WaveNet autoencoder {SHIPPED_WAVENET} (the NSynth paper's "
            f"decoder; held-out {wavenet_entry[1]['headline']})."
        )
    else:
        notes_text.append(
            f"The WaveNet autoencoder ({SHIPPED_WAVENET}, the NSynth paper's decoder) is not "
            "shipped yet, so only the fast decoder plays here."
        )
    notes_text += [
        "Rainbowgram: constant-Q spectrogram, brightness = log magnitude, colour = "
        "instantaneous frequency.",
        f"Reproduce: latentmusic nsynth interpolate A.wav B.wav --model {SHIPPED} --pitch "
        f"{PITCH} --steps {STEPS} -o MORPH; latentmusic nsynth grid TL.wav TR.wav BL.wav "
        f"BR.wav --model {SHIPPED} --pitch {PITCH} --x 0.5 --y 0.5 -o PAD.wav.",
    ]
    return Section(
        id="nsynth",
        title="NSynth: morphing instruments at one pitch",
        intro=(
            f"NSynth (Engel et al. 2017) encodes a note into 16 numbers every "
            f"{1000 * model.hop / sr:.0f} ms. Moving between two instruments' embeddings makes "
            f"one new sound, where cross-fading the audio only plays both at once. Here: "
            f"{intro_model}, on notes rendered for this demo."
        ),
        rows=rows,
        table=[table],
        notes=notes_text,
    )
