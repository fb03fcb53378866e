"""``latentmusic models``: the trained models that ship with latentmusic, and shipping one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The shipped trained models (use a name wherever --model or --init takes a path).",
    invoke_without_command=True,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def list_models(ctx: typer.Context) -> None:
    """List the shipped models: name, family, what it does, size, headline metric."""
    if ctx.invoked_subcommand is not None:
        return
    from latentmusic.catalogue import models_dir, shipped_models

    models = shipped_models()
    if not models:
        typer.echo(f"No models in {models_dir()}.")
        return
    rows = [("name", "family", "what it does", "size", "trained", "held-out")]
    for m in models:
        steps = f"{m.steps:,} steps" if m.steps is not None else ""
        rows.append(
            (m.name, m.family, m.summary, f"{m.size_bytes / 1e6:.1f} MB", steps, m.headline)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("ship")
def ship(
    run: Annotated[Path, typer.Argument(help="Training run directory whose model to ship.")],
    name: Annotated[str, typer.Argument(help="Name of the shipped model (folder in models/).")],
    summary: Annotated[str, typer.Option(help="What the model does, in a few words.")],
    headline: Annotated[str, typer.Option(help="Its headline held-out metric.")],
    full: Annotated[
        bool, typer.Option("--float32", help="Keep float32 weights (default: float16).")
    ] = False,
) -> None:
    """Copy a run's model into models/NAME (float16 weights, no logs or optimiser state)."""
    from latentmusic.catalogue import ship as ship_model

    target = ship_model(run, name, summary=summary, headline=headline, half=not full)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    typer.echo(f"Shipped {run} as {target} ({size / 1e6:.1f} MB); write its MODEL_CARD.md.")
