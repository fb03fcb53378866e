"""``latentmusic train musicvae``: fit a MusicVAE on a MIDI folder with the shared harness.

Optimisation follows magenta: Adam, learning rate ``(lr - min_lr) * decay_rate^step +
min_lr`` per step, gradient clipping from the harness (1.0), KL annealing and scheduled
sampling by the global step. Logged: train/loss, train/recon, train/kl (nats, before free
bits), train/kl_bits, train/beta, train/sampling_probability, train/accuracy (per step and
track, under scheduled sampling), train/lr; val/loss, val/recon, val/kl, val/accuracy
(teacher-forced) and val/greedy_accuracy (decoded greedily from the posterior mean).

After training, the attribute vectors are computed on (at most 4096) training windows and
saved as ``RUN/attributes.npz`` for ``latentmusic musicvae attribute``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.errors import InputError
from latentmusic.musicvae.config import MusicVAEConfig, preset_for
from latentmusic.musicvae.model import FAMILY, MusicVAE
from latentmusic.train.checkpoint import load_state_strict, read_checkpoint, save_checkpoint
from latentmusic.train.config import apply_overrides, config_to_dict
from latentmusic.train.harness import BEST_DIR, FamilyModule, TrainJob, fit
from latentmusic.train.init import init_from, steps_of

ATTRIBUTE_WINDOWS = 4096


def checkpoint_extra(config: MusicVAEConfig) -> dict[str, Any]:
    """What a reader of config.json needs besides hyperparameters: the vocabularies."""
    from latentmusic.midi.representations import (
        DRUM_NAMES,
        DRUM_PITCH_CLASSES,
        MAX_PITCH,
        MIN_PITCH,
        STEPS_PER_BAR,
        STEPS_PER_QUARTER,
        get_representation,
    )

    rep = get_representation(config.representation)
    return {
        "representation": rep.name,
        "tracks": [
            {"name": t.name, "kind": t.kind, "classes": t.depth, "program": t.program}
            for t in rep.tracks
        ],
        "steps_per_quarter": STEPS_PER_QUARTER,
        "steps_per_bar": STEPS_PER_BAR,
        "melody_classes": {
            "no_event": 0,
            "note_off": 1,
            "first_pitch": MIN_PITCH,
            "last_pitch": MAX_PITCH,
        },
        "drum_classes": {
            name: list(p) for name, p in zip(DRUM_NAMES, DRUM_PITCH_CLASSES, strict=True)
        },
    }


class MusicVAEModule(FamilyModule):
    """The Lightning wrapper: loss, logging, magenta's learning-rate decay, export."""

    def __init__(self, config: MusicVAEConfig, preset: str = "") -> None:
        super().__init__()
        self.config = config
        self.preset = preset
        self.model = MusicVAE(config)

    @property
    def best_metric(self) -> str:  # type: ignore[override]
        """While the KL weight anneals, the loss grows with it and is not comparable
        across steps; the reconstruction term is."""
        constant_beta = self.config.beta_rate == 0 or self.config.max_beta == 0
        return "val/loss" if constant_beta else "val/recon"

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        tokens = batch["tokens"]
        out = self.model.loss(batch, step=self.schedule_step)
        n = tokens.shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=n)
        self.log("train/accuracy", out["accuracy"], prog_bar=True, batch_size=n)
        for key in ("recon", "kl", "kl_bits", "beta", "sampling_probability"):
            self.log(f"train/{key}", out[key], batch_size=n)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=n)
        return out["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        tokens = batch["tokens"]
        out = self.model.loss(batch, step=self.schedule_step, sampling=0.0)
        n = tokens.shape[0]
        self.log("val/loss", out["loss"], batch_size=n)
        self.log("val/recon", out["recon"], batch_size=n)
        self.log("val/kl", out["kl"], batch_size=n)
        self.log("val/accuracy", out["accuracy"], prog_bar=True, batch_size=n)
        mu, _ = self.model.encode_tokens(tokens)
        greedy = self.model.decode_tokens(mu, temperature=0.0)
        self.log("val/greedy_accuracy", (greedy == tokens).float().mean(), batch_size=n)

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.config
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

        def factor(step: int) -> float:
            return ((cfg.lr - cfg.min_lr) * cfg.decay_rate**step + cfg.min_lr) / cfg.lr

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def export_checkpoint(self, directory: Path, meta: dict[str, Any]) -> None:
        save_checkpoint(
            directory,
            self.model,
            family=FAMILY,
            model_type=self.config.model_type,
            preset=self.preset,
            config=config_to_dict(self.config),
            extra=checkpoint_extra(self.config),
            meta=meta,
        )


def train(job: TrainJob) -> Path:
    """Train a MusicVAE on the MIDI in ``job.data`` into the run directory ``job.out``."""
    from latentmusic.musicvae.attributes import VECTORS_FILE, compute_vectors, save_vectors
    from latentmusic.musicvae.data import build_dataset

    data, out = job.data, job.out
    config = apply_overrides(preset_for(job.preset, job.model_type), list(job.overrides))
    train_set, train_seqs = build_dataset(data, "train", config, augment=True)
    if len(train_set) == 0:
        raise InputError(
            f"{data} has no usable {config.bars}-bar {config.representation} windows for training "
            f"({len(train_set.windows)} windows from {len(train_seqs)} files of the train split)."
        )
    val_set, val_seqs = build_dataset(data, "valid", config, augment=False)
    module = MusicVAEModule(config, job.preset)
    if job.init is not None:
        ckpt = init_from(
            module.model,
            job.init,
            family=FAMILY,
            model_type=config.model_type,
            config=config,
        )
        module.step_offset = steps_of(ckpt)
    description = (
        f"{data}: {len(train_set)} train windows from {len(train_seqs)} files, "
        f"{len(val_set)} valid windows from {len(val_seqs)} files"
    )
    trainer = fit(
        module,
        train_set,
        val_set if len(val_set) else None,
        job.settings,
        data_description=description,
    )
    if trainer.global_rank == 0 and len(train_set) >= 8:
        windows = train_set.windows
        if len(windows) > ATTRIBUTE_WINDOWS:
            pick = np.random.default_rng(0).choice(len(windows), ATTRIBUTE_WINDOWS, replace=False)
            windows = windows[np.sort(pick)]
        model = module.model.eval()
        save_vectors(Path(out) / VECTORS_FILE, compute_vectors(model, windows))
        best = Path(out) / BEST_DIR
        if (best / "model.safetensors").is_file():  # the best state gets its own vectors
            ckpt = read_checkpoint(best, family=FAMILY)
            best_model = MusicVAE(config).eval()
            load_state_strict(best_model, ckpt.state_dict, best)
            save_vectors(best / VECTORS_FILE, compute_vectors(best_model, windows))
    return Path(out)
