"""The training options every training command declares (``train``, ``translation
add-domain``), written once so their names, defaults' meaning, help and validation never
drift apart. Each number is checked as it is parsed (:mod:`latentmusic.cli.validate`), so a
bad value fails in one sentence before torch loads or a run directory exists."""

from __future__ import annotations

from typing import Annotated

import typer

from latentmusic.cli import validate as v

Steps = Annotated[
    int,
    typer.Option(help="Training steps (at least 1).", callback=v.int_range(1, v.MAX_STEPS)),
]
BatchSize = Annotated[
    int,
    typer.Option(help="Batch size per device.", callback=v.int_range(1, v.MAX_BATCH)),
]
Minutes = Annotated[
    float | None,
    typer.Option(help="Stop after this many minutes.", callback=v.float_range(0.0, low_open=True)),
]
ValEvery = Annotated[
    int, typer.Option(help="Validate every N steps.", callback=v.int_range(1, v.MAX_STEPS))
]
CkptEvery = Annotated[
    int,
    typer.Option(help="Save a checkpoint every N steps.", callback=v.int_range(1, v.MAX_STEPS)),
]
Resume = Annotated[bool, typer.Option(help="Continue the run in --out exactly where it stopped.")]
Seed = Annotated[int, typer.Option(help="Random seed.", callback=v.seed)]
# Every generating verb of every family defaults to seed 0: the same command gives the same
# output, and a different seed gives a different take.
GenerationSeed = Annotated[
    int | None,
    typer.Option(
        help="Random seed: the same seed gives the same output; another gives another take.",
        callback=v.seed,
    ),
]
Precision = Annotated[
    str,
    typer.Option(
        help="Lightning precision: 32-true, bf16-mixed, 16-mixed, ...",
        callback=v.choice(*v.PRECISIONS),
    ),
]
Accelerator = Annotated[
    str, typer.Option(help="cpu, gpu, auto.", callback=v.choice(*v.ACCELERATORS))
]
Threads = Annotated[
    int | None,
    typer.Option(help="CPU threads for torch.", callback=v.int_range(1, v.MAX_THREADS)),
]
DataWorkers = Annotated[
    int,
    typer.Option(
        help="Loader processes that prepare the next batches while a step runs (0: none; "
        "worth it on a GPU, where the step is faster than decoding its batch). Each keeps "
        "its own copy of the data set's decoded-audio cache.",
        callback=v.int_range(0, 64),
    ),
]
Progress = Annotated[bool, typer.Option(help="Show a progress bar.")]
LearningRate = Annotated[
    float | None,
    typer.Option(
        help="Learning rate (overrides the preset's).",
        callback=v.float_range(0.0, 10.0, low_open=True),
    ),
]
Devices = Annotated[
    str, typer.Option(help="Devices per node (e.g. 1, 4, auto).", callback=v.devices)
]
NumNodes = Annotated[
    int, typer.Option(help="Nodes for multi-node DDP.", callback=v.int_range(1, 100_000))
]


def check_accelerator(accelerator: str) -> None:
    """Refuse a GPU accelerator on a machine without one (imports torch: call it after
    the cheap checks, before anything is created)."""
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise_no_device(accelerator, "no CUDA GPU is available on this machine")
    elif accelerator == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise_no_device(accelerator, "Apple's MPS is not available on this machine")


def raise_no_device(accelerator: str, why: str) -> None:
    from latentmusic.errors import InputError

    raise InputError(f"--accelerator {accelerator} cannot be used: {why}.")


def check_saved(path: object) -> None:
    """A training command says "saved" only when a model was written."""
    from pathlib import Path

    from latentmusic.errors import InputError

    if not (Path(str(path)) / "model.safetensors").is_file():
        raise InputError(
            f"Training stopped before it could save a model; nothing was written to {path}."
        )


def quiet_lightning() -> None:
    """Lightning's start-up lines (GPU/TPU available, ...) are library chatter, not news:
    training commands show their own progress and our warnings, and Lightning's real
    warnings still come through (they are logged at WARNING)."""
    import logging

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
