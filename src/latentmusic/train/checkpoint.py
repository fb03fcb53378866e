"""Checkpoints: a directory with ``model.safetensors``, ``config.json`` and ``meta.json``.

Nothing is pickled, so loading a checkpoint never executes code. ``config.json``
names the family and model type so :func:`latentmusic.load` can rebuild the model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from latentmusic.errors import CheckpointError
from latentmusic.fileio import atomic_path, ensure_writable_dir, write_json

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
META = "meta.json"


@dataclass
class Checkpoint:
    """What a checkpoint directory holds, read back without building a model."""

    path: Path
    family: str
    model_type: str
    preset: str
    config: dict[str, Any]  # every hyperparameter of the model's config dataclass
    extra: dict[str, Any]  # vocabularies, sample rate, domain names, ...
    meta: dict[str, Any]  # steps, data, metrics
    state_dict: dict[str, torch.Tensor]


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    *,
    family: str,
    model_type: str,
    preset: str,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write the model's weights and its full description; each file is written atomically."""
    from safetensors.torch import save_file

    from latentmusic import __version__

    directory = ensure_writable_dir(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    state = _untie(state)
    with atomic_path(directory / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"family": family, "model_type": model_type})
    write_json(
        directory / CONFIG,
        {
            "format_version": FORMAT_VERSION,
            "family": family,
            "model_type": model_type,
            "preset": preset,
            "config": config,
            **(extra or {}),
        },
    )
    meta_out = {"latentmusic_version": __version__, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    meta_out.update(meta or {})
    write_json(directory / META, meta_out)
    return directory


def _untie(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses shared storage; give tied weights their own copy."""
    seen: dict[int, str] = {}
    out = {}
    for key, tensor in state.items():
        ptr = tensor.data_ptr()
        if tensor.numel() and ptr in seen:
            tensor = tensor.clone()
        else:
            seen[ptr] = key
        out[key] = tensor
    return out


def read_checkpoint(path: str | Path, *, family: str | None = None) -> Checkpoint:
    """Read and validate a checkpoint directory; any problem is one clear CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(path)
    if not directory.exists():
        raise CheckpointError(f"Checkpoint {directory} does not exist.")
    if not directory.is_dir():
        raise CheckpointError(
            f"Checkpoint {directory} is not a directory (expected one with {WEIGHTS} and {CONFIG})."
        )
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise CheckpointError(
                f"{directory} is not a latentmusic checkpoint: {name} is missing."
            )
    _check_readable(directory / WEIGHTS)
    config = _read_json(directory / CONFIG)
    if not isinstance(config, dict) or "family" not in config or "config" not in config:
        raise CheckpointError(
            f"{directory / CONFIG} does not describe a latentmusic model (no 'family')."
        )
    _check_types(config, directory / CONFIG)
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{directory} was written by a newer latentmusic (format {config['format_version']}); upgrade to load it."
        )
    if family is not None and config["family"] != family:
        raise CheckpointError(
            f"{directory} is a '{config['family']}' checkpoint, not a '{family}' one."
        )
    meta: dict[str, Any] = {}
    if (directory / META).is_file():
        meta = _read_json(directory / META)
        if not isinstance(meta, dict):
            raise CheckpointError(f"{directory / META} is corrupt: it is not a JSON object.")
        metrics = meta.get("metrics", {})
        if not isinstance(metrics, dict):
            raise CheckpointError(f"{directory / META} is corrupt: 'metrics' is not an object.")
    try:
        state = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{directory / WEIGHTS} is corrupt or truncated ({exc}).") from exc
    # Shipped models store float16 weights (half the size); models compute in float32.
    state = {
        k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in state.items()
    }
    extra = {
        k: v
        for k, v in config.items()
        if k not in ("format_version", "family", "model_type", "preset", "config")
    }
    return Checkpoint(
        path=directory,
        family=config["family"],
        model_type=config.get("model_type", ""),
        preset=config.get("preset", ""),
        config=config["config"],
        extra=extra,
        meta=meta,
        state_dict=state,
    )


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path} cannot be read (permission denied).")


def _read_json(path: Path) -> Any:
    """A checkpoint's JSON file; unreadable or invalid is one sentence."""
    try:
        return json.loads(path.read_text())
    except PermissionError as exc:
        raise CheckpointError(f"{path} cannot be read (permission denied).") from exc
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror or exc}).") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path} is corrupt: it is not valid JSON.") from exc


def _check_types(config: dict[str, Any], where: Path) -> None:
    """The fields every reader relies on have the types it expects."""
    for key in ("family", "model_type", "preset"):
        if key in config and not isinstance(config[key], str):
            raise CheckpointError(f"{where} is corrupt: '{key}' is not a string.")
    if not isinstance(config["config"], dict):
        raise CheckpointError(f"{where} is corrupt: 'config' is not an object.")
    version = config.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{where} is corrupt: 'format_version' is not an integer.")


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    """Load weights, turning missing/unexpected/mis-shaped tensors into one sentence."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(
            f"Weights in {where} do not match the model its config describes ({detail})."
        )
    for key, tensor in own.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"Weights in {where} do not match the config: '{key}' has shape "
                f"{tuple(state[key].shape)}, expected {tuple(tensor.shape)}."
            )
    model.load_state_dict(state, strict=True)
