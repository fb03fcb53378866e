"""Demo section: one translator learns four instruments, then plays a held-out excerpt
in each of them, next to the ground truth (the same excerpt rendered with that instrument).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from latentmusic.demo.page import DemoContext, Item, Row, Section

TRAIN_MINUTES = 1.0  # the section's budget is ~90 s of CPU: most of it goes to training
EXCERPT_SECONDS = 1.5
SOURCE_DOMAIN = "piano"


def _model(ctx: DemoContext, domains: Path) -> Path:
    """Train the demo model once and cache it in the work directory."""
    from latentmusic.train.harness import TrainSettings
    from latentmusic.translation.train import train

    run = ctx.work / "translation-demo"
    if (run / "model.safetensors").is_file():
        return run
    if run.exists():  # an interrupted earlier build left no model: start it over
        shutil.rmtree(run)
    import torch

    threads = torch.get_num_threads()
    settings = TrainSettings(
        out=run,
        max_steps=100_000,
        max_minutes=TRAIN_MINUTES,
        batch_size=8,
        val_every=100_000,
        ckpt_every=50,
        log_every=10,
        progress=False,
        accelerator="cpu",
        seed=0,
        threads=1,  # convs this small run faster on one thread than on two busy ones
    )
    try:
        return train(domains, run, "demo", None, [], settings, None)
    finally:
        torch.set_num_threads(threads)


def build(ctx: DemoContext) -> Section:
    """Train briefly, translate one unseen excerpt into every domain, compare with the truth."""
    import numpy as np

    from latentmusic.audio import io as audio_io
    from latentmusic.data.domains import DomainAudioSet
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.translation.evaluate import chroma_similarity
    from latentmusic.translation.model import load_translator

    domains_dir = ctx.domains_dir()
    start = time.perf_counter()
    run = _model(ctx, domains_dir)
    train_seconds = time.perf_counter() - start
    model = load_translator(run)
    meta = read_checkpoint(run).meta
    sr = model.sample_rate
    test = DomainAudioSet(domains_dir, split="test", sr=sr)
    source = SOURCE_DOMAIN if SOURCE_DOMAIN in test.domains else test.domains[0]
    path = test.files(source)[0]
    n = int(EXCERPT_SECONDS * sr)
    rate, frames, _ = audio_io.info(path)
    offset = max(0.0, min(2.0, frames / rate - EXCERPT_SECONDS))
    clip, _ = audio_io.load(path, sr=sr, offset=offset, duration=EXCERPT_SECONDS)
    clip = clip[:n]
    translations = model.translate(clip, "all", seed=0)

    input_path = audio_io.save(ctx.asset("translation", f"input_{source}.wav"), clip, sr)
    rows = [
        Row(
            f"Input: {source} (a test piece the model never trained on)",
            [ctx.audio(input_path, source)],
        )
    ]
    table = []
    for domain, audio in translations.items():
        items: list[Item] = []
        out_path = audio_io.save(ctx.asset("translation", f"to_{domain}.wav"), audio, sr)
        items.append(ctx.audio(out_path, f"translation -> {domain}"))
        twin = test.counterpart(path, domain)
        similarity = None
        if twin is not None:
            truth, _ = audio_io.load(twin, sr=sr, offset=offset, duration=EXCERPT_SECONDS)
            truth = truth[:n]
            truth_path = audio_io.save(ctx.asset("translation", f"truth_{domain}.wav"), truth, sr)
            items.append(ctx.audio(truth_path, f"ground truth: {domain}"))
            similarity = chroma_similarity(audio, truth, sr)
        note = "(reconstruction: the source's own decoder)" if domain == source else ""
        rows.append(Row(f"{source} -> {domain}", items, note=note))
        table.append(
            {
                "target": domain,
                "chroma similarity to truth": similarity if similarity is not None else "-",
                "input's chroma similarity": chroma_similarity(clip, truth, sr)
                if twin is not None
                else "-",
                "rms": float(np.sqrt(np.mean(audio**2))),
            }
        )
    metrics = meta.get("metrics", {})
    notes = [
        f"Trained for {meta.get('steps', '?')} steps ({train_seconds:.0f} s, preset 'demo') on "
        f"{len(model.domains)} domains: {', '.join(model.domains)}. Final reconstruction NLL "
        f"{metrics.get('train/recon_nll', float('nan')):.3f} nats/sample (uniform guess: 5.545); "
        f"domain-confusion accuracy {metrics.get('train/confusion_acc', float('nan')):.2f} "
        f"(chance {1 / len(model.domains):.2f}).",
        "Be warned: after about a minute of CPU training the decoders still sample mostly "
        "noise at their domain's average loudness (compare the chroma similarity with the "
        "input's own). WaveNet decoders need hours: the paper trained for days on 8 GPUs; "
        "`latentmusic train translation --preset small` on a CPU for a few hours is the real demo.",
    ]
    return Section(
        id="translation",
        title="Universal music translation",
        intro=(
            "One shared WaveNet encoder turns any recording into 20 latent frames per second; a "
            "domain-confusion network is trained against it so the latents keep the music, not "
            "the instrument; one WaveNet decoder per instrument plays the latents back. Below, an "
            "excerpt the model never saw is translated into every instrument it knows, next to "
            "the same excerpt rendered with that instrument by FluidSynth."
        ),
        rows=rows,
        table=table,
        notes=notes,
    )
