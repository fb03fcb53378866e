"""The one training harness every family uses: PyTorch Lightning with our conventions.

A family provides a :class:`FamilyModule` (a LightningModule that can export its
model as a safetensors checkpoint) and datasets; :func:`fit` does the rest:
progress bar, TensorBoard + CSV logs, periodic and last Lightning checkpoints for
exact ``--resume``, gradient clipping, precision, seeding, and multi-GPU /
multi-node DDP through Lightning's strategies.

Run directory layout::

    RUN/model.safetensors, config.json, meta.json   the exported model (latentmusic.load)
    RUN/best/                                       the export at the best validation score
    RUN/lightning/last.ckpt, step=N.ckpt            full training state, for --resume
    RUN/logs/tensorboard, RUN/logs/csv/metrics.csv   TensorBoard events and CSV metrics
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, default_collate

from latentmusic.errors import InputError, LatentMusicWarning
from latentmusic.fileio import ensure_writable_dir, write_text
from latentmusic.train.allocator import keep_freed_memory
from latentmusic.train.batches import FixedBatches, StepBatches


@dataclasses.dataclass
class TrainSettings:
    """How to train (not what): shared by every family's ``latentmusic train`` command."""

    out: Path
    max_steps: int = 1000
    batch_size: int = 8
    max_minutes: float | None = None
    val_every: int = 200
    val_batches: int | None = 8
    ckpt_every: int = 500
    log_every: int = 10
    grad_clip: float | None = 1.0
    precision: str = "32-true"
    seed: int = 0
    resume: bool = False
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    progress: bool = True
    threads: int | None = None
    data_workers: int = 0  # loader processes making the next batches while a step runs


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One ``latentmusic train FAMILY`` request. Every family's ``train(job) -> Path`` takes
    this one record, so the CLI, the demo and the tests call every family the same way."""

    data: Path
    settings: TrainSettings  # settings.out is the run directory
    preset: str = "small"
    model_type: str | None = None  # None: the family's default
    overrides: tuple[str, ...] = ()  # --set key=value
    init: Path | None = None  # start from this model's weights and step count

    @property
    def out(self) -> Path:
        return Path(self.settings.out)


class FamilyModule(L.LightningModule):
    """A LightningModule that knows how to export its model as a latentmusic checkpoint.

    ``step_offset`` is the number of steps the model was trained before this run (``--init``
    from a trained model): step-driven schedules read :attr:`schedule_step`, the exported
    ``meta.json`` counts all steps, and a resumed run keeps the offset (it is saved in the
    Lightning checkpoint).
    """

    step_offset: int = 0
    #: The validation metric (lower is better) whose best value RUN/best/ keeps; None: none.
    best_metric: str | None = "val/loss"

    @property
    def schedule_step(self) -> int:
        """The step that drives schedules: this run's steps plus the ones before ``--init``."""
        return int(self.global_step) + self.step_offset

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[STEP_OFFSET_KEY] = self.step_offset

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.step_offset = int(checkpoint.get(STEP_OFFSET_KEY, 0))

    def export_checkpoint(self, directory: Path, meta: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError


STEP_OFFSET_KEY = "latentmusic_step_offset"


class _ContinueSchedules(L.Callback):
    """A run started from a trained model's weights starts its learning-rate schedules at
    that model's step, not at 0 (our schedulers are all ``LambdaLR``)."""

    def on_train_start(self, trainer: L.Trainer, module: FamilyModule) -> None:
        offset = module.step_offset
        if not offset or trainer.global_step:  # a fresh model, or resumed (state restored)
            return
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                continue
            scheduler.last_epoch = offset
            pairs = zip(scheduler.base_lrs, scheduler.lr_lambdas, strict=True)
            lrs = [base * f(offset) for base, f in pairs]
            for group, lr in zip(scheduler.optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
            scheduler._last_lr = lrs  # what get_last_lr() and the logs report


def _export_meta(trainer: L.Trainer, module: FamilyModule, data: str | None) -> dict[str, Any]:
    metrics = {
        k: float(v)
        for k, v in trainer.callback_metrics.items()
        if torch.is_tensor(v) and v.numel() == 1
    }
    return {
        "steps": int(trainer.global_step) + module.step_offset,
        "data": data,
        "metrics": metrics,
    }


class _ExportCallback(L.Callback):
    """Keep RUN/model.safetensors current: at every periodic checkpoint and at the end."""

    def __init__(self, out: Path, every: int, data: str | None) -> None:
        self.out = out
        self.every = every
        self.data = data

    def _export(self, trainer: L.Trainer, module: FamilyModule) -> None:
        if trainer.global_rank == 0:
            module.export_checkpoint(self.out, _export_meta(trainer, module, self.data))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if self.every and trainer.global_step % self.every == 0:
            self._export(trainer, module)

    def on_train_end(self, trainer, module) -> None:  # noqa: ANN001
        self._export(trainer, module)


class _BestExport(L.Callback):
    """Keep RUN/best/ the export at the lowest ``module.best_metric`` seen so far: on a small
    data set (2,500 drum windows) the last state can be well past the best one. The best
    value travels in the Lightning checkpoint, so ``--resume`` keeps comparing against it."""

    def __init__(self, out: Path, data: str | None) -> None:
        self.out = out / BEST_DIR
        self.data = data
        self.best = math.inf

    def on_validation_end(self, trainer: L.Trainer, module: FamilyModule) -> None:
        key = module.best_metric
        value = trainer.callback_metrics.get(key) if key else None
        if trainer.sanity_checking or trainer.global_rank != 0 or value is None:
            return
        value = float(value)
        if math.isfinite(value) and value < self.best:
            self.best = value
            meta = _export_meta(trainer, module, self.data)
            module.export_checkpoint(self.out, {**meta, "best": {"metric": key, "value": value}})

    def state_dict(self) -> dict[str, float]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.best = float(state_dict.get("best", math.inf))


BEST_DIR = "best"


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether this x86 CPU computes bfloat16 natively (AVX512-BF16 or AMX), read from
    ``cpuinfo`` (default: /proc/cpuinfo); None where that does not tell. Without it oneDNN
    emulates bf16 and autocast makes training ~3x slower (benchmarks/musicvae_training.py)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags = set(cpuinfo.split())
    if "avx512f" not in flags:  # not an AVX-512 x86 CPU (ARM, older x86): not ours to judge
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _warn_emulated_bf16(settings: TrainSettings) -> None:
    """A bf16 run on a CPU that emulates bf16 is slower, not faster: say so once."""
    on_cpu = settings.accelerator == "cpu" or (
        settings.accelerator == "auto" and not torch.cuda.is_available()
    )
    if on_cpu and settings.precision.startswith("bf16") and cpu_has_native_bf16() is False:
        warnings.warn(
            f"--precision {settings.precision} on this CPU (no AVX512-BF16/AMX) emulates "
            "bfloat16 and trains about 3x slower than 32-true.",
            LatentMusicWarning,
            stacklevel=2,
        )


DIGEST_SUFFIX = ".sha256"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _RecordedCheckpoint(L.pytorch.callbacks.ModelCheckpoint):
    """Lightning's periodic checkpoints, each with a SHA-256 record beside it
    (``last.ckpt.sha256``): ``--resume`` only opens a file this harness wrote."""

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            path = Path(filepath)
            write_text(path.with_name(path.name + DIGEST_SUFFIX), _file_digest(path) + "\n")

    def _remove_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._remove_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            Path(filepath + DIGEST_SUFFIX).unlink(missing_ok=True)


def _verify_resume_file(ckpt: Path) -> None:
    """Refuse a resume file this harness did not write (no record, or not the recorded bytes)."""
    record = ckpt.with_name(ckpt.name + DIGEST_SUFFIX)
    try:
        expected = record.read_text().strip()
    except FileNotFoundError:
        raise InputError(
            f"Cannot resume: {ckpt} was not written by latentmusic's training harness "
            f"(no {record.name} beside it); start from its exported model with --init instead."
        ) from None
    except OSError as exc:
        raise InputError(f"Cannot resume: {record} cannot be read ({exc.strerror}).") from exc
    if _file_digest(ckpt) != expected:
        raise InputError(
            f"Cannot resume: {ckpt} is not the file latentmusic wrote there (it was changed "
            "or damaged since); refusing to load it."
        )


def _resume_step(ckpt: Path) -> int:
    """The step a Lightning checkpoint stopped at, counting the steps before ``--init``.
    Loaded weights-only (plain tensors and containers, never pickled code) and
    memory-mapped: Lightning reads it again itself."""
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is one sentence
        raise InputError(f"Cannot resume: {ckpt} is not a readable training checkpoint.") from exc
    step = state.get("global_step", 0) if isinstance(state, dict) else None
    offset = state.get(STEP_OFFSET_KEY, 0) if isinstance(state, dict) else None
    if not isinstance(step, int) or step < 0 or not isinstance(offset, int) or offset < 0:
        raise InputError(f"Cannot resume: {ckpt} holds no valid step count.")
    return step + offset


class _QuietLightning(logging.Filter):
    """Drop Lightning's advertisement for its cloud logger from every training log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def fit(
    module: FamilyModule,
    train_set: Sequence[Any],
    val_set: Sequence[Any] | None,
    settings: TrainSettings,
    *,
    collate: Callable[[list[Any]], Any] = default_collate,
    data_description: str | None = None,
) -> L.Trainer:
    """Train ``module`` on map-style datasets with step-indexed, resumable batching."""
    out = ensure_writable_dir(settings.out)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    _warn_emulated_bf16(settings)
    keep_freed_memory()  # every step reallocates the same activations: keep their pages
    ckpt_dir = out / "lightning"
    resume_from: Path | None = None
    if settings.resume:
        resume_from = ckpt_dir / "last.ckpt"
        if not resume_from.is_file():
            raise InputError(
                f"Cannot resume: {resume_from} does not exist (train without --resume first)."
            )
        _verify_resume_file(resume_from)
    elif (ckpt_dir / "last.ckpt").exists():
        raise InputError(
            f"{out} already holds a training run; pass --resume to continue it or choose another --out."
        )
    if len(train_set) == 0:
        raise InputError("The training set is empty.")

    L.seed_everything(settings.seed, workers=True, verbose=False)
    # The batch of step k is a pure function of k: a run continued from a trained model
    # draws the batches after the ones that model saw, not the same ones again.
    start = _resume_step(resume_from) if resume_from else module.step_offset
    train_batches = StepBatches(train_set, settings.batch_size, settings.seed, collate, start)
    workers = settings.data_workers
    train_loader = DataLoader(
        train_batches,
        batch_size=None,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
        pin_memory=workers > 0 and torch.cuda.is_available(),
    )
    val_loader = None
    if val_set is not None and len(val_set) > 0:
        val_loader = DataLoader(
            FixedBatches(
                val_set, settings.batch_size, collate=collate, max_batches=settings.val_batches
            ),
            batch_size=None,
        )

    callbacks: list[L.Callback] = [
        _RecordedCheckpoint(
            dirpath=ckpt_dir,
            filename="step={step}",
            auto_insert_metric_name=False,
            every_n_train_steps=settings.ckpt_every,
            save_last=True,
            save_top_k=2,
            monitor="step",
            mode="max",
        ),
        _ExportCallback(out, settings.ckpt_every, data_description),
        _BestExport(out, data_description),
        _ContinueSchedules(),
    ]
    if settings.progress:
        callbacks.append(
            L.pytorch.callbacks.TQDMProgressBar(refresh_rate=max(1, settings.log_every))
        )
    # Each logger has its own folder; a resumed run appends a new CSV segment instead of
    # letting Lightning overwrite the metrics.csv of the steps before it.
    csv_version = f"csv-resumed-at-{start}" if resume_from else "csv"
    loggers = [
        L.pytorch.loggers.TensorBoardLogger(out, name="logs", version="tensorboard"),
        L.pytorch.loggers.CSVLogger(out, name="logs", version=csv_version),
    ]
    quiet = _QuietLightning()
    lightning_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    lightning_log.addFilter(quiet)  # the Trainer prints the advertisement as it is built
    trainer = L.Trainer(
        max_steps=settings.max_steps,
        max_time=dt.timedelta(minutes=settings.max_minutes) if settings.max_minutes else None,
        val_check_interval=settings.val_every if val_loader is not None else None,
        check_val_every_n_epoch=None,
        limit_val_batches=settings.val_batches if val_loader is not None else 0,
        num_sanity_val_steps=0,
        log_every_n_steps=settings.log_every,
        gradient_clip_val=settings.grad_clip,
        precision=settings.precision,
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        enable_progress_bar=settings.progress,
        enable_model_summary=False,
        callbacks=callbacks,
        logger=loggers,
        default_root_dir=out,
        use_distributed_sampler=False,
    )
    with warnings.catch_warnings():
        # Lightning 2.6 still builds torch's deprecated LeafSpec (one warning per run).
        warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*IterableDataset.*__len__.*")
        warnings.filterwarnings("ignore", ".*The number of training batches.*")
        # A data set too small for a validation split trains without one, on purpose.
        warnings.filterwarnings("ignore", ".*validation_step` but have no `val_dataloader.*")
        try:
            trainer.fit(
                module,
                train_loader,
                val_loader,
                ckpt_path=str(resume_from) if resume_from else None,
                weights_only=True,  # a checkpoint never runs code, Lightning's load included
            )
        finally:
            lightning_log.removeFilter(quiet)
    if trainer.global_rank == 0:
        (out / "settings.json").write_text(
            json.dumps(dataclasses.asdict(settings), default=str, indent=2)
        )
    return trainer
