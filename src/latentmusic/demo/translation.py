"""Demo section: a held-out excerpt translated into every instrument a translator knows,
next to the ground truth (the same excerpt rendered with that instrument).

Plays the shipped models (``latentmusic models``): our fast pitch-grid translator
``translation-notegrid`` and, beside it, the paper's WaveNet decoders ``translation-small``.
Only where neither is installed does it train the tiny ``demo`` preset for a minute (cached
in the work directory) and say so.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from latentmusic.demo.page import DemoContext, Item, Row, Section

TRAIN_MINUTES = 1.0  # the fallback's budget is ~90 s of CPU: most of it goes to training
EXCERPT_SECONDS = 3.0
SOURCE_DOMAIN = "piano"
SHIPPED = ("translation-notegrid", "translation-small")  # ours first, then the paper's


def _model(ctx: DemoContext, domains: Path) -> Path:
    """Train the demo model once and cache it in the work directory."""
    from latentmusic.demo.training import quick_settings
    from latentmusic.train.harness import TrainJob
    from latentmusic.translation.train import train

    run = ctx.work / "translation-demo"
    if (run / "model.safetensors").is_file():
        return run
    if run.exists():  # an interrupted earlier build left no model: start it over
        shutil.rmtree(run)
    import torch

    threads = torch.get_num_threads()
    settings = quick_settings(
        run,
        100_000,
        8,
        TRAIN_MINUTES,
        log_every=10,
        ckpt_every=50,
        threads=1,  # convs this small run faster on one thread than on two busy ones
    )
    try:
        return train(TrainJob(domains, settings, "demo"))
    finally:
        torch.set_num_threads(threads)


def _shipped() -> list[tuple[str, Path]]:
    """The shipped translators the section plays, in ``SHIPPED`` order."""
    from latentmusic.catalogue import shipped_models

    found = {m.name: m.path for m in shipped_models() if m.family == "translation"}
    return [(name, found[name]) for name in SHIPPED if name in found]


def _excerpt(domains_dir: Path, sr: int) -> tuple[Any, Any, str, float]:
    """A source-domain test file whose piece the shipped models never trained on (the full
    ``data domains`` set's hash split), and where the excerpt starts."""
    from latentmusic.audio import io as audio_io
    from latentmusic.data.domains import DomainAudioSet, split_of

    test = DomainAudioSet(domains_dir, split="test", sr=sr)
    source = SOURCE_DOMAIN if SOURCE_DOMAIN in test.domains else test.domains[0]
    files = test.files(source)
    held_out = [f for f in files if split_of(test.piece_of(f)) == "test"]
    path = (held_out or files)[0]
    rate, frames, _ = audio_io.info(path)
    offset = max(0.0, min(2.0, frames / rate - EXCERPT_SECONDS))
    return test, path, source, offset


def build(ctx: DemoContext) -> Section:
    """Translate one unseen excerpt into every domain with each model; compare with the truth."""

    from latentmusic.audio import io as audio_io
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.translation.evaluate import chroma_similarity
    from latentmusic.translation.model import load_translator

    domains_dir = ctx.domains_dir()
    models = _shipped()
    trained_seconds = None
    if not models:
        start = time.perf_counter()
        models = [("demo", _model(ctx, domains_dir))]
        trained_seconds = time.perf_counter() - start
    loaded = [(name, load_translator(path), read_checkpoint(path)) for name, path in models]
    sr = loaded[0][1].sample_rate
    test, path, source, offset = _excerpt(domains_dir, sr)
    n = int(EXCERPT_SECONDS * sr)
    clip, _ = audio_io.load(path, sr=sr, offset=offset, duration=EXCERPT_SECONDS)
    clip = clip[:n]
    input_path = audio_io.save(ctx.asset("translation", f"input_{source}.wav"), clip, sr)
    rows = [
        Row(f"Input: {source} (a test piece no model trained on)", [ctx.audio(input_path, source)])
    ]
    outputs: dict[str, dict[str, Any]] = {}
    speed: dict[str, float] = {}
    for name, model, _ in loaded:
        start = time.perf_counter()
        outputs[name] = model.translate(clip, "all", seed=0)
        speed[name] = len(outputs[name]) * EXCERPT_SECONDS / (time.perf_counter() - start)
    targets = list(dict.fromkeys(d for name, _, _ in loaded for d in outputs[name]))
    table = []
    for domain in targets:
        items: list[Item] = []
        row: dict[str, Any] = {"target": domain}
        # the demo's small data set renders fewer instruments than a shipped model knows
        twin = test.counterpart(path, domain) if domain in test.domains else None
        truth = None
        if twin is not None:
            truth, _ = audio_io.load(twin, sr=sr, offset=offset, duration=EXCERPT_SECONDS)
            truth = truth[:n]
        for name, _, _ in loaded:
            audio = outputs[name].get(domain)
            if audio is None:
                continue
            out_path = audio_io.save(ctx.asset("translation", f"{name}_to_{domain}.wav"), audio, sr)
            items.append(ctx.audio(out_path, f"{name} -> {domain}"))
            sim = chroma_similarity(audio, truth, sr) if truth is not None else None
            row[f"{name}: chroma similarity to truth"] = sim if sim is not None else "-"
        if truth is not None:
            truth_path = audio_io.save(ctx.asset("translation", f"truth_{domain}.wav"), truth, sr)
            items.append(ctx.audio(truth_path, f"ground truth: {domain}"))
            row["untouched input's chroma similarity"] = chroma_similarity(clip, truth, sr)
        note = "(reconstruction: the source's own decoder)" if domain == source else ""
        rows.append(Row(f"{source} -> {domain}", items, note=note))
        table.append(row)
    notes = []
    for name, model, ckpt in loaded:
        meta = ckpt.meta
        kind = {
            "notegrid": "pitch-grid note banks (ours)",
            "notebank": "note-bank synthesizers (ours)",
        }.get(model.config.decoder, "WaveNets")
        notes.append(
            f"{name}: {kind}, {meta.get('steps', '?')} training steps, domains "
            f"{', '.join(model.domains)}; translated {speed[name]:.1f} s of audio per second here."
            + (f" {meta['headline']}" if meta.get("headline") else "")
        )
    if trained_seconds is not None:
        notes.append(
            f"No translation model is shipped here (`latentmusic models`), so the tiny 'demo' "
            f"preset was trained for {trained_seconds:.0f} s: after a minute of CPU its WaveNet "
            "decoders play mostly noise at each instrument's loudness."
        )
    return Section(
        id="translation",
        title="Universal music translation",
        intro=(
            "One shared encoder turns any recording into 20 latent frames per second; a "
            "domain-confusion network is trained against it so the latents keep the music, not "
            "the instrument; one decoder per instrument plays the latents back. Below, an excerpt "
            "of a chorale no model trained on is translated into every instrument, next to the "
            "same excerpt rendered with that instrument by FluidSynth. Our note-bank decoders "
            "play the latents on a bank of pitched harmonic voices and translate far faster than "
            "real time; the paper's WaveNet decoders are beside them."
        ),
        rows=rows,
        table=table,
        notes=notes,
    )
