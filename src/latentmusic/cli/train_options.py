"""The training options every training command declares (``train``, ``translation
add-domain``), written once so their names, defaults' meaning and help never drift apart."""

from __future__ import annotations

from typing import Annotated

import typer

Steps = Annotated[int, typer.Option(help="Training steps.")]
BatchSize = Annotated[int, typer.Option(help="Batch size per device.")]
Minutes = Annotated[float | None, typer.Option(help="Stop after this many minutes.")]
ValEvery = Annotated[int, typer.Option(help="Validate every N steps.")]
CkptEvery = Annotated[int, typer.Option(help="Save a checkpoint every N steps.")]
Resume = Annotated[bool, typer.Option(help="Continue the run in --out exactly where it stopped.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Precision = Annotated[str, typer.Option(help="Lightning precision: 32-true, bf16-mixed, 16-mixed.")]
Accelerator = Annotated[str, typer.Option(help="cpu, gpu, auto.")]
Threads = Annotated[int | None, typer.Option(help="CPU threads for torch.")]
Progress = Annotated[bool, typer.Option(help="Show a progress bar.")]
