"""The demo sections' own short training runs (used when no shipped model can stand in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from latentmusic.train.harness import TrainSettings

NEVER = 10**9  # a step count no demo run reaches


def quick_settings(
    run: Path,
    steps: int,
    batch_size: int,
    minutes: float | None,
    *,
    log_every: int = 25,
    ckpt_every: int = NEVER,
    **more: Any,
) -> TrainSettings:
    """Settings of a demo's training run: the CPU, seed 0, no progress bars, and no
    validation or intermediate checkpoints (the demo plays the final model only; a section
    that can resume an interrupted run asks for ``ckpt_every``)."""
    return TrainSettings(
        out=run,
        max_steps=steps,
        batch_size=batch_size,
        max_minutes=minutes,
        val_every=NEVER,
        val_batches=None,
        ckpt_every=ckpt_every,
        log_every=log_every,
        progress=False,
        accelerator="cpu",
        seed=0,
        **more,
    )
