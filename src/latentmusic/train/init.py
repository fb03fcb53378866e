"""``--init``: start a training run from a trained model's weights, for every family.

Fine-tuning on your own data and continuing a run in a later sitting (or on another machine)
are the same operation: the new run starts from the weights *and* the step count of the
model, so schedules driven by the step (learning-rate decay, KL annealing, scheduled
sampling) continue where they were instead of starting over. What may differ is how to
train (learning rate, schedules, batch size, augmentation, data); what may not is what the
network is (family, model type, any architecture field): that is one sentence, not a
shape error halfway through loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from latentmusic.errors import CheckpointError
from latentmusic.train.checkpoint import Checkpoint, load_state_strict, read_checkpoint

# Config fields that say how a model is trained, not what it is. A field named here in one
# family never means architecture in another (`mu` is not listed: mu-law classes in the
# WaveNets, an EMA decay in the VQ-VAE).
TRAINING_FIELDS = frozenset(
    {
        "lr", "min_lr", "decay_rate", "lr_decay", "lr_decay_steps", "lr_decay_factors",
        "weight_decay", "warmup", "grad_clip", "grad_clip_mode", "batch_size",
        "adam_beta1", "adam_beta2", "beta2",
        "max_beta", "beta_rate", "free_bits", "sampling_schedule", "sampling_rate",
        "transpose_range", "min_notes", "crop", "segment", "pitch_augment",
        "augment_semitones", "confusion_lambda", "confusion_dropout", "dropout",
        "spectral_weight", "commit", "threshold", "kmeans_iters", "fw_loss_coeff",
        "fw_loss_cutoff", "griffin_lim_iters", "colour_eq_db", "colour_envelope_db",
        "notebank_log_weight",
    }
)  # fmt: skip


def architecture_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The architecture fields on which two configs disagree, as ``name saved -> wanted``."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        if key in TRAINING_FIELDS or saved.get(key) == wanted.get(key):
            continue
        out.append(f"{key} {saved.get(key)!r} -> {wanted.get(key)!r}")
    return out


def init_from(
    model: torch.nn.Module,
    init: str | Path,
    *,
    family: str,
    model_type: str,
    config: dict[str, Any],
) -> Checkpoint:
    """Load ``init``'s weights into ``model`` after checking it is the same network.

    Returns the checkpoint; its ``meta["steps"]`` is where the new run's schedules start.
    """
    from latentmusic.catalogue import resolve_model

    ckpt = read_checkpoint(resolve_model(init), family=family)
    if ckpt.model_type != model_type:
        raise CheckpointError(
            f"--init {init} is a {family} '{ckpt.model_type}' model, but this run trains a "
            f"'{model_type}' one."
        )
    different = architecture_differences(ckpt.config, config)
    if different:
        raise CheckpointError(
            f"--init {init} is a different network ({'; '.join(different[:4])}); only training "
            "settings (learning rate, schedules, batch size, augmentation, data) may change."
        )
    load_state_strict(model, ckpt.state_dict, ckpt.path)
    return ckpt


def steps_of(ckpt: Checkpoint) -> int:
    """The number of steps a checkpoint was trained for (0 when it does not say)."""
    steps = ckpt.meta.get("steps", 0)
    return steps if isinstance(steps, int) and steps >= 0 else 0
