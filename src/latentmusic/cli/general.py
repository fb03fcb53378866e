"""Commands shared by every family: ``train``, ``eval``, ``info`` and ``demo``.

``train`` and ``eval`` dispatch to ``latentmusic.<family>.train.train`` and
``latentmusic.<family>.evaluate.evaluate``, so every family gets the same options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from latentmusic.cli import train_options as opt
from latentmusic.cli import validate as v
from latentmusic.cli.model_option import model_argument, model_option
from latentmusic.errors import InputError
from latentmusic.registry import family_part


def _family_module(family: str, part: str):  # noqa: ANN202
    return family_part(family, part)


FamilyArg = Annotated[
    str,
    typer.Argument(
        help="Model family: nsynth, translation, jukebox or musicvae.", callback=v.family
    ),
]


def train(
    family: FamilyArg,
    data: Annotated[
        Path,
        typer.Option(
            help="Training data directory (see `latentmusic data`).", callback=v.existing_dir
        ),
    ],
    out: Annotated[Path, typer.Option(help="Run directory: checkpoint, logs, resumable state.")],
    preset: Annotated[
        str, typer.Option(help="Named hyperparameter preset (paper, small, tiny, ...).")
    ] = "small",
    model: Annotated[
        str | None,
        typer.Option(
            help="Model type within the family (e.g. nsynth: wavenet|spectral; jukebox: vqvae|prior)."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a hyperparameter: key=value (repeatable)."),
    ] = None,
    steps: opt.Steps = 1000,
    batch_size: opt.BatchSize = 8,
    minutes: opt.Minutes = None,
    val_every: opt.ValEvery = 200,
    ckpt_every: opt.CkptEvery = 500,
    resume: opt.Resume = False,
    init: Annotated[
        Path | None,
        model_option(
            "Start from this model's weights and step count (fine-tune, or continue a run).",
            "--init",
        ),
    ] = None,
    seed: opt.Seed = 0,
    lr: opt.LearningRate = None,
    precision: opt.Precision = "32-true",
    accelerator: opt.Accelerator = "auto",
    devices: opt.Devices = "1",
    num_nodes: opt.NumNodes = 1,
    strategy: Annotated[
        str, typer.Option(help="Lightning strategy: auto, ddp, ddp_spawn, ...")
    ] = "auto",
    threads: opt.Threads = None,
    data_workers: opt.DataWorkers = 0,
    progress: opt.Progress = True,
) -> None:
    """Train a model of FAMILY on your data (one harness for every family)."""
    v.output_dir(out, "run directory")
    opt.check_accelerator(accelerator)
    opt.quiet_lightning()
    from latentmusic.train.harness import TrainJob, TrainSettings

    module = _family_module(family, "train")
    overrides = list(set_ or [])
    if lr is not None:
        overrides.append(f"lr={lr}")
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
        devices=_devices(devices),
        num_nodes=num_nodes,
        strategy=strategy,
        threads=threads,
        data_workers=data_workers,
        progress=progress,
    )
    with v.removed_on_failure(out, keep=v.holds_run):
        path = module.train(TrainJob(data, settings, preset, model, tuple(overrides), init))
        opt.check_saved(path)
    typer.echo(f"Model saved to {path}")


def _devices(text: str) -> int | str | list[int]:
    """Lightning's devices from the validated option: a count, 'auto', or indices."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if "," in text:
        return [int(p) for p in text.split(",")]
    return text


def evaluate(
    family: FamilyArg,
    model: Annotated[Path, model_option("Checkpoint directory (a training run).", "--model", "-m")],
    data: Annotated[
        Path,
        typer.Option(help="Data directory with held-out material.", callback=v.existing_dir),
    ],
    split: Annotated[str, typer.Option(help="Which split to evaluate on.")] = "test",
    out: Annotated[
        Path | None, typer.Option(help="Report directory (results.json, index.html).")
    ] = None,
    baseline: Annotated[
        list[Path] | None,
        typer.Option(help="Baseline checkpoint(s) to compare with (repeatable)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="Family-specific option key=value (repeatable)."),
    ] = None,
) -> None:
    """Evaluate a trained model on held-out data with objective metrics; writes JSON + HTML."""
    from latentmusic.evaluation import EvalJob
    from latentmusic.train.config import parse_overrides

    if not model.exists():
        raise InputError(f"Model checkpoint {model} does not exist.")
    module = _family_module(family, "evaluate")
    report_dir = out or _default_report_dir(model, split)
    v.output_dir(report_dir, "report directory")
    with v.removed_on_failure(report_dir):
        job = EvalJob(
            model, data, split, report_dir, tuple(baseline or ()), parse_overrides(option or [])
        )
        results = module.evaluate(job)
    typer.echo(json.dumps(results, indent=2, default=str))
    typer.echo(f"Report written to {report_dir}")


def _default_report_dir(model: Path, split: str) -> Path:
    """Beside a training run's model; for a shipped model, in the working directory (the
    catalogue holds models, not reports)."""
    from latentmusic.catalogue import models_dir

    if model.resolve().parent == models_dir().resolve():
        return Path(f"eval-{model.name}-{split}")
    return model / f"eval-{split}"


def info(
    checkpoint: Annotated[Path, model_argument("Checkpoint directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Describe a checkpoint: family, preset, hyperparameters, size, training history.

    A run directory of several models (a Jukebox run: vqvae/, prior/, upsampler_1/, ...)
    is described model by model."""
    parts = [checkpoint]
    if checkpoint.is_dir() and not (checkpoint / "config.json").exists():
        inside = sorted(p for p in checkpoint.iterdir() if (p / "config.json").is_file())
        parts = inside or parts
    summaries = [_describe(part, as_json) for part in parts]
    if as_json:
        typer.echo(
            json.dumps(summaries[0] if len(parts) == 1 else summaries, indent=2, default=str)
        )


def _describe(checkpoint: Path, as_json: bool) -> dict:
    from latentmusic.errors import CheckpointError, SizeError
    from latentmusic.limits import check_checkpoint_size
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    try:
        check_checkpoint_size(ckpt.family, ckpt.model_type, ckpt.config)
    except SizeError as exc:
        raise CheckpointError(f"The config in {ckpt.path} cannot describe a model: {exc}") from exc
    n_params = sum(int(t.numel()) for t in ckpt.state_dict.values())
    summary = {
        "path": str(ckpt.path),
        "family": ckpt.family,
        "model_type": ckpt.model_type,
        "preset": ckpt.preset,
        "parameters": n_params,
        "config": ckpt.config,
        **{k: v for k, v in ckpt.extra.items()},
        "meta": ckpt.meta,
    }
    if as_json:
        return summary
    typer.echo(f"{ckpt.path}: {ckpt.family} / {ckpt.model_type} (preset '{ckpt.preset}')")
    typer.echo(f"  parameters: {n_params:,}")
    if "steps" in ckpt.meta:
        typer.echo(f"  trained: {ckpt.meta['steps']} steps on {ckpt.meta.get('data')}")
    for key, value in ckpt.extra.items():
        typer.echo(f"  {key}: {value}")
    for key, value in ckpt.meta.get("metrics", {}).items():
        typer.echo(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    typer.echo("  config: " + ", ".join(f"{k}={v}" for k, v in ckpt.config.items()))
    return summary


def demo(
    out: Annotated[Path, typer.Option(help="Where to write the demo page.")] = Path("demo"),
    only: Annotated[
        list[str] | None,
        typer.Option(help="Only these sections (data, nsynth, translation, jukebox, musicvae)."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Cache for built data sets and demo models.")
    ] = None,
) -> None:
    """Build small data sets, train/run each family briefly, and write OUT/index.html."""
    from latentmusic.demo.runner import run_demo

    page = run_demo(out, only=list(only or []), workdir=workdir)
    typer.echo(f"Demo written to {page}")
