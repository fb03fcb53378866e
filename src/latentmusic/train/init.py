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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from latentmusic.errors import CheckpointError
from latentmusic.train.checkpoint import Checkpoint, load_state_strict, read_checkpoint
from latentmusic.train.config import config_to_dict


def training_fields(config: Any) -> frozenset[str]:
    """The fields a config class marks as how its model is trained (``TRAINING_FIELDS``,
    declared beside the fields themselves), not what the network is."""
    return frozenset(getattr(type(config), "TRAINING_FIELDS", frozenset()))


def architecture_differences(saved: dict[str, Any], config: Any) -> list[str]:
    """The architecture fields on which a saved config and ``config`` (a config dataclass)
    disagree, as ``name saved -> wanted``.

    A field the saved config predates counts as agreeing when ``config`` leaves it at the
    class default: the default is what the code did before the field existed.
    """
    wanted = config_to_dict(config)
    defaults = config_to_dict(type(config)())
    training = training_fields(config)
    out = []
    for key in sorted(set(saved) | set(wanted)):
        if key in training or saved.get(key) == wanted.get(key):
            continue
        if key not in saved and wanted.get(key) == defaults.get(key):
            continue
        out.append(f"{key} {saved.get(key)!r} -> {wanted.get(key)!r}")
    return out


def init_from(
    model: torch.nn.Module,
    init: str | Path,
    *,
    family: str,
    model_type: str,
    config: Any,
    grow: Callable[[dict[str, Any], dict[str, torch.Tensor]], bool] | None = None,
) -> Checkpoint:
    """Load ``init``'s weights into ``model`` after checking it is the same network.

    ``config`` is the new run's config dataclass. ``grow(saved_config, state)`` lets a family
    turn a saved network into a larger one it knows how to start from (in place; True when
    it did), before the check: NSynth starts a pitch-conditioned WaveNet from a trained
    autoencoder. Returns the checkpoint; its ``meta["steps"]`` is where the new run's
    schedules start.
    """
    from latentmusic.catalogue import resolve_model

    ckpt = read_checkpoint(resolve_model(init), family=family)
    if ckpt.model_type != model_type:
        raise CheckpointError(
            f"--init {init} is a {family} '{ckpt.model_type}' model, but this run trains a "
            f"'{model_type}' one."
        )
    if grow is not None:
        grow(ckpt.config, ckpt.state_dict)
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
