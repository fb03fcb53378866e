"""The MusicVAE section of the demo: morph one real tune into another through the latent space.

Plays the shipped ``cat-mel_2bar_small`` model (``latentmusic models``). Only where it is
missing does it train the ``tiny`` MusicVAE on the demo melody set for 1200 steps (about a
minute of CPU, cached in the work directory) and say so on the page. Then, for two held-out
tunes: their first two bars as the model reconstructs them, an 8-step slerp interpolation
from one to the other (each step and the whole path as MIDI with an audio preview rendered
by FluidSynth), the note-density attribute vector applied to the first tune, and four
samples from the prior.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from latentmusic.demo.page import DemoContext, Item, Row, Section

SHIPPED = "cat-mel_2bar_small"
DRUMS = "cat-drums_2bar_small"  # Beat Blender's model: drum-loop morphs and a 4-corner blend
TRIO = "small-trio_16bar"  # melody, bass and drums together over 16 bars
PRESET = "tiny"
OVERRIDES = ["transpose_range=5", "min_notes=2"]
TRAIN_STEPS = 1200  # about a minute of one idle CPU core for the tiny preset at batch 32
MAX_MINUTES = 3.0  # a cap for a busy machine
STEPS = 8
SAMPLE_RATE = 22050


def _train_cached(ctx: DemoContext, melodies: Path) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) the demo model; returns its run directory and how it was trained."""
    from latentmusic.demo.training import quick_settings
    from latentmusic.errors import CheckpointError
    from latentmusic.musicvae.train import train
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.train.harness import TrainJob

    run = ctx.work / "musicvae" / PRESET
    info_file = run / "demo.json"
    try:
        read_checkpoint(run, family="musicvae")
        return run, {**json.loads(info_file.read_text()), "cached": True}
    except (CheckpointError, OSError, ValueError):
        shutil.rmtree(run, ignore_errors=True)  # an interrupted earlier demo run: start over
    settings = quick_settings(run, TRAIN_STEPS, 32, MAX_MINUTES)
    started = time.perf_counter()
    train(TrainJob(melodies, settings, PRESET, None, tuple(OVERRIDES)))
    meta = read_checkpoint(run).meta
    info = {
        "steps": int(meta.get("steps", 0)),
        "seconds": round(time.perf_counter() - started, 1),
        "train_accuracy": meta.get("metrics", {}).get("train/accuracy"),
        "data": meta.get("data", ""),
    }
    info_file.write_text(json.dumps(info))
    return run, {**info, "cached": False}


def _pick_tunes(model: Any, melodies: Path) -> list[Any]:
    """Two held-out tunes, preferably a folk tune and a chorale voice, with busy first bars."""
    from latentmusic.errors import InputError
    from latentmusic.musicvae.data import load_sequences

    candidates = []
    for split in ("test", "valid", "train"):
        for seq in load_sequences(melodies, split, "melody"):
            try:
                window = model.window(seq)
            except InputError:
                continue
            notes = int(model.representation.onsets(window).sum())
            if notes >= 6:
                candidates.append((seq, notes))
        if len(candidates) >= 2:
            break
    if len(candidates) < 2:
        raise InputError(f"{melodies} has fewer than two tunes with 2 busy bars.")
    folk = [
        c for c in candidates if "soprano" not in c[0].source_id and "_satb" not in c[0].source_id
    ]
    chorale = [c for c in candidates if "soprano" in c[0].source_id]
    if folk and chorale:
        return [folk[0][0], chorale[0][0]]
    return [candidates[0][0], candidates[1][0]]


def _shipped(name: str = SHIPPED) -> tuple[Path, dict[str, Any]] | None:
    """A shipped model and what its catalogue entry says, or None where it is not installed
    (the catalogue reads only the JSON files: the weights are loaded once, by ``build``)."""
    from latentmusic.catalogue import shipped_models

    for model in shipped_models():
        if model.name == name and model.family == "musicvae":
            info = {"steps": model.steps or 0, "headline": model.headline, "shipped": True}
            return model.path, info
    return None


def _band_rows(item: Any) -> tuple[list[Row], list[str]]:  # noqa: ANN401
    """Rows for the shipped drum and trio models (Beat Blender, the band), or a note each
    where one is not shipped. Loops come from the prior: the demo needs no drum data set."""
    from latentmusic.musicvae.model import load_model

    rows, notes = [], []
    drums = _shipped(DRUMS)
    if drums is None:
        notes.append(f"No {DRUMS} model is shipped, so there is no drum-loop morph.")
    else:
        model = load_model(drums[0])
        a, b, c, d = model.sample(4, temperature=0.5, seed=3, qpm=100.0)
        path = model.interpolate([a, b], steps=STEPS)
        rows.append(
            Row(
                f"Drum loops ({DRUMS}): a morph between two sampled loops in {STEPS} steps",
                [item(path, "drums_morph", "the whole morph, loop after loop")]
                + [item([s], f"drums_{i + 1}", f"loop {i + 1}") for i, s in enumerate(path)],
                note=f"The shipped drum model ({drums[1]['headline']}; its card: models/{DRUMS}/MODEL_CARD.md).",
            )
        )
        grid = model.interpolate([a, b, c, d], steps=3)
        rows.append(
            Row(
                "Beat Blender: the 3 x 3 bilinear blend between four loops (corners = the loops)",
                [
                    item([s], f"blend_{i // 3}{i % 3}", f"row {i // 3 + 1}, column {i % 3 + 1}")
                    for i, s in enumerate(grid)
                ],
            )
        )
    trio = _shipped(TRIO)
    if trio is None:
        notes.append(f"No {TRIO} model is shipped, so there is no trio sample.")
    else:
        model = load_model(trio[0])
        samples = model.sample(2, temperature=0.5, seed=2, qpm=110.0)
        rows.append(
            Row(
                f"The band ({TRIO}): 16-bar melody, bass and drums sampled together",
                [item([s], f"trio_{i + 1}", f"trio sample {i + 1}") for i, s in enumerate(samples)],
                note=f"The shipped trio model ({trio[1]['headline']}; its card: models/{TRIO}/MODEL_CARD.md).",
            )
        )
    return rows, notes


def build(ctx: DemoContext) -> Section:
    from latentmusic.errors import DependencyError
    from latentmusic.musicvae.attributes import VECTORS_FILE, load_vectors, measure
    from latentmusic.musicvae.files import write_outputs
    from latentmusic.musicvae.model import load_model

    melodies = ctx.melodies_dir()
    shipped = _shipped()
    run, info = shipped if shipped else _train_cached(ctx, melodies)
    model = load_model(run)
    tunes = _pick_tunes(model, melodies)
    rendered = {"ok": True}

    def item(seqs: list[Any], name: str, caption: str, gap_bars: int = 0) -> Item:
        path = ctx.asset("musicvae", f"{name}.mid")
        audio = None
        if rendered["ok"]:
            try:
                write_outputs(seqs, path, gap_bars=gap_bars, wav=True, sample_rate=SAMPLE_RATE)
                audio = path.with_suffix(".wav")
            except DependencyError:
                rendered["ok"] = False
        if audio is None:
            write_outputs(seqs, path, gap_bars=gap_bars)
        return ctx.midi(path, caption, audio)

    names = [Path(t.source_id).name for t in tunes]
    originals = [model.representation.decode(model.window(t), qpm=t.qpm) for t in tunes]
    recon = model.reconstruct(tunes)
    rows = [
        Row(
            "The two tunes (first two bars) and their reconstructions",
            [
                item([originals[0]], "tune_a", f"A: {names[0]}"),
                item([recon[0]], "tune_a_recon", "A reconstructed (greedy)"),
                item([originals[1]], "tune_b", f"B: {names[1]}"),
                item([recon[1]], "tune_b_recon", "B reconstructed (greedy)"),
            ],
        )
    ]
    path = model.interpolate(tunes, steps=STEPS)
    rows.append(
        Row(
            f"Latent interpolation A -> B in {STEPS} steps (slerp, greedy decoding)",
            [item(path, "interpolation", "the whole morph, step after step")]
            + [item([s], f"interp_{i + 1}", f"step {i + 1}") for i, s in enumerate(path)],
            note="Each step is decoded from a point on the great circle between the two codes; "
            "compare the first and last steps with the reconstructions above.",
        )
    )
    vectors = load_vectors(run / VECTORS_FILE)
    density = vectors["note_density"]["vector"]
    edits = {m: model.apply_attribute(tunes[0], density, m)[0] for m in (-1.5, 1.5)}
    counts = {m: measure([s], "note_density")[0] * 32 for m, s in edits.items()}
    rows.append(
        Row(
            "Attribute vector: note density applied to A",
            [
                item(
                    [edits[-1.5]],
                    "density_minus",
                    f"-1.5 x density vector ({counts[-1.5]:.0f} notes)",
                ),
                item([recon[0]], "density_zero", f"A reconstructed ({len(recon[0].notes)} notes)"),
                item(
                    [edits[1.5]], "density_plus", f"+1.5 x density vector ({counts[1.5]:.0f} notes)"
                ),
            ],
        )
    )
    samples = model.sample(4, temperature=0.5, seed=0)
    rows.append(
        Row(
            "Samples from the prior (temperature 0.5)",
            [item([s], f"sample_{i + 1}", f"sample {i + 1}") for i, s in enumerate(samples)],
        )
    )
    band_rows, band_notes = _band_rows(item)
    rows.extend(band_rows)
    if info.get("shipped"):
        notes = [
            f"The shipped {SHIPPED} model (`latentmusic models`): trained {info['steps']:,} steps "
            f"on the music21 corpus melodies; held-out {info['headline']}. Its card: "
            f"models/{SHIPPED}/MODEL_CARD.md."
        ]
        table = {"model": SHIPPED, "training steps": info["steps"], "held-out": info["headline"]}
    else:
        notes = [
            f"No shipped {SHIPPED} model was found, so a {PRESET} MusicVAE was trained "
            f"{'earlier, reused from the cache' if info['cached'] else 'just now'}: "
            f"{info['steps']} steps in {info['seconds']:.0f} s on {info.get('data', melodies)}.",
            "A model this briefly trained reconstructs the rhythm and contour only roughly.",
        ]
        table = {
            "model": PRESET,
            "training steps": info["steps"],
            "training seconds": info["seconds"],
            "train accuracy": info.get("train_accuracy") or 0.0,
        }
    notes.extend(band_notes)
    if not rendered["ok"]:
        notes.append("FluidSynth is not installed, so the MIDI files have no audio preview.")
    return Section(
        id="musicvae",
        title="MusicVAE: melody morphing",
        intro="MusicVAE encodes a two-bar melody into a latent code; moving between codes morphs "
        "one tune into another while every step stays a plausible melody. Download any MIDI into "
        "your DAW.",
        rows=rows,
        table=[table],
        notes=notes,
    )
