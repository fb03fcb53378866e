"""``latentmusic translate`` and ``latentmusic translation ...``: universal music translation.

Top-level imports are typer and the stdlib only; the model loads inside each command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from latentmusic.audio.formats import AUDIO_SUFFIXES
from latentmusic.cli import train_options as opt
from latentmusic.cli import validate as v
from latentmusic.cli.model_option import model_option

FAMILY = "translation"  # latentmusic.translation.model.FAMILY, without importing torch

app = typer.Typer(
    help="Universal music translation: encode, list domains, add a domain to a trained model.",
    no_args_is_help=True,
)


def _targets(to: str) -> str | list[str]:
    """'all', one domain, or a comma-separated list of domains."""
    names = [t.strip() for t in to.split(",") if t.strip()]
    if len(names) == 1:
        return names[0]
    return names


def translate(
    source: Annotated[
        Path, typer.Argument(help="Audio to translate (any length, rate, channels).")
    ],
    model: Annotated[
        Path, model_option("Trained translation model (run directory).", family=FAMILY)
    ],
    to: Annotated[
        str,
        typer.Option(
            help="Target domain, a comma-separated list, or 'all' (see `latentmusic translation domains`)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help=(
                "Output file. With several targets (--to all or a list): OUT.wav becomes "
                "OUT_<domain>.wav per domain, and a name without a suffix is a directory "
                "holding <domain>.wav. Default: <input name>_<domain>.wav here."
            ),
        ),
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature (0 = greedy).", callback=v.temperature)
    ] = 1.0,
    seed: opt.GenerationSeed = 0,
    chunk_seconds: Annotated[
        float,
        typer.Option(
            help="Seconds decoded per step (state carries over).",
            callback=v.float_range(0.0, 600.0, low_open=True),
        ),
    ] = 1.0,
    threads: opt.Threads = None,
    progress: opt.Progress = True,
) -> None:
    """Translate a recording into another instrument or style with a trained model.

    The input is streamed in chunks (never loaded whole), mixed to mono and resampled to
    the model's rate; each output is mono at the input's rate with the input's length. A
    silent input gives silence of the same length.
    """
    import sys

    v.input_file(source, "Audio file")
    targets = _targets(to)
    if out is not None:
        if out.exists() and out.is_dir() and isinstance(targets, str) and targets != "all":
            raise v.InputError(f"The output {out} is an existing directory; give a file name.")
        if out.suffix and out.suffix.lower() not in AUDIO_SUFFIXES:
            raise v.InputError(f"The output {out} must end in one of {', '.join(AUDIO_SUFFIXES)}.")
        v.writable_location(out, "output")
    from latentmusic.translation.model import load_translator
    from latentmusic.translation.streaming import translate_file

    if threads:
        import torch

        torch.set_num_threads(threads)
    translator = load_translator(model)
    if out is None:
        stem = source.stem
        out = (
            Path(f"{stem}_{targets}.wav")
            if isinstance(targets, str) and targets != "all"
            else Path(f"{stem}.wav")
        )
    result = translate_file(
        translator,
        source,
        targets,
        out,
        chunk_seconds=chunk_seconds,
        temperature=temperature,
        seed=seed,
        progress=progress,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for domain, path in result.outputs.items():
        typer.echo(f"{domain}: {path}")


@app.command("encode")
def encode(
    source: Annotated[Path, typer.Argument(help="Audio file to encode.")],
    model: Annotated[Path, model_option("Trained translation model.", family=FAMILY)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the latents (.npy).")],
) -> None:
    """Write the shared encoder's latents (frames x latent_dim, float32 .npy) for a file."""
    v.input_file(source, "Audio file")
    v.output_file(out, (".npy",), "output latents")
    from latentmusic.translation.model import load_translator
    from latentmusic.translation.streaming import encode_file

    translator = load_translator(model)
    path, shape = encode_file(translator, source, out)
    rate = translator.sample_rate / translator.config.pool
    typer.echo(
        f"Latents: {shape[0]} frames x {shape[1]} ({rate:g} frames per second) written to {path}"
    )


@app.command("domains")
def domains(
    model: Annotated[Path, model_option("Trained translation model.", family=FAMILY)],
) -> None:
    """List the domains a model can translate into, one per line."""
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(model, family=FAMILY)
    for name in ckpt.extra.get("domains", []):
        typer.echo(name)


@app.command("add-domain")
def add_domain(
    model: Annotated[Path, model_option("Trained translation model to extend.", family=FAMILY)],
    data: Annotated[
        Path,
        typer.Option(
            help="Folder of audio of the new domain (any rates, any layout).",
            callback=v.existing_dir,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Run directory of the extended model.")],
    name: Annotated[
        str | None,
        typer.Option(help="Domain name (default: the folder's name).", callback=v.domain_name),
    ] = None,
    init_decoder: Annotated[
        str | None, typer.Option(help="Start the new decoder from this known domain's decoder.")
    ] = None,
    steps: opt.Steps = 1000,
    batch_size: opt.BatchSize = 8,
    minutes: opt.Minutes = None,
    val_every: opt.ValEvery = 200,
    ckpt_every: opt.CkptEvery = 500,
    resume: opt.Resume = False,
    seed: opt.Seed = 0,
    precision: opt.Precision = "32-true",
    accelerator: opt.Accelerator = "auto",
    threads: opt.Threads = None,
    data_workers: opt.DataWorkers = 0,
    progress: opt.Progress = True,
) -> None:
    """Teach a trained model a new domain: train only a new decoder on the frozen encoder.

    The encoder and the other decoders are copied bit for bit, so every existing
    translation stays exactly as it was; the confusion network gains an untrained output
    for the new domain.
    """
    import warnings

    if name is None:
        v.domain_name(None, data.resolve().name)  # the default name obeys the same rules
    v.output_dir(out, "run directory")
    opt.check_accelerator(accelerator)
    opt.quiet_lightning()
    from latentmusic.train.harness import TrainSettings
    from latentmusic.translation.train import add_domain as _add_domain

    settings = TrainSettings(
        out=out,
        max_steps=steps,
        batch_size=batch_size,
        max_minutes=minutes,
        val_every=val_every,
        ckpt_every=ckpt_every,
        seed=seed,
        resume=resume,
        precision=precision,
        accelerator=accelerator,
        threads=threads,
        data_workers=data_workers,
        progress=progress,
    )
    with v.removed_on_failure(out, keep=v.holds_run), warnings.catch_warnings():
        # The frozen encoder and decoders stay in eval mode on purpose: not news to the user.
        warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        path = _add_domain(model, data, out, settings, name=name, init_decoder=init_decoder)
        opt.check_saved(path)
    typer.echo(f"Model with the new domain saved to {path}")


top_level_commands = {"translate": translate}
