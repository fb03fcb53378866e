"""The shipped models: trained checkpoints that travel with the project in ``models/``.

Each shipped model is a checkpoint directory (``model.safetensors`` + ``config.json`` +
``meta.json``, or a folder of them for a multi-part model such as Jukebox's chain) with a
``MODEL_CARD.md``. Every ``--model`` option, ``--init`` and ``latentmusic.load`` accept a
shipped model's name wherever they accept a path. Weights are stored in float16 (half the
size; :func:`latentmusic.train.checkpoint.read_checkpoint` upcasts them on load).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentmusic.errors import CheckpointError, InputError

MODELS_ENV = "LATENTMUSIC_MODELS"
CARD = "MODEL_CARD.md"
# Files of a run directory that belong to the model; logs, Lightning state and eval reports don't.
_RUN_ONLY = {"lightning", "logs", "eval", "settings.json"}
# A run's best/ state and its eval-*/best-eval reports are not part of the model shipped.
_RUN_ONLY_PREFIXES = ("best", "eval")


def models_dir() -> Path:
    """``$LATENTMUSIC_MODELS``, else the ``models/`` folder of this checkout."""
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    path: Path
    family: str
    model_type: str
    summary: str
    headline: str
    steps: int | None
    size_bytes: int


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(path: Path) -> ShippedModel | None:
    """A shipped model's catalogue entry, or None for a folder that is not a model."""
    config = _read_json(path / "config.json")
    if not config:  # a chain of checkpoints (Jukebox): the family of its parts
        parts = sorted(p for p in path.iterdir() if (p / "config.json").is_file())
        config = _read_json(parts[0] / "config.json") if parts else {}
        config = {**config, "model_type": "+".join(p.name for p in parts)}
    family = config.get("family")
    if not isinstance(family, str):
        return None
    meta = _read_json(path / "meta.json")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    steps = meta.get("steps")
    return ShippedModel(
        name=path.name,
        path=path,
        family=family,
        model_type=str(config.get("model_type", "")),
        summary=str(meta.get("summary", "")),
        headline=str(meta.get("headline", "")),
        steps=steps if isinstance(steps, int) else None,
        size_bytes=size,
    )


def shipped_models() -> list[ShippedModel]:
    """Every model in :func:`models_dir`, by name."""
    root = models_dir()
    if not root.is_dir():
        return []
    found = (_describe(p) for p in sorted(root.iterdir()) if p.is_dir())
    return [m for m in found if m is not None]


def shipped_names() -> list[str]:
    return [m.name for m in shipped_models()]


def resolve_model(value: str | Path) -> Path:
    """A path as given when it exists, else the shipped model of that name.

    A bare name that is neither is one sentence listing the shipped models; anything that
    looks like a path is returned unchanged, for the loader to report what is wrong with it.
    """
    path = Path(value)
    if path.exists():
        return path
    text = str(value)
    if text and "/" not in text and os.sep not in text and not text.startswith("."):
        shipped = models_dir() / text
        if _is_model(shipped):
            return shipped
        names = shipped_names()
        known = f"shipped models: {', '.join(names)}" if names else "no models are shipped here"
        raise CheckpointError(
            f"No model '{text}': it is not a path and not a shipped model ({known}; "
            "`latentmusic models` lists them)."
        )
    return path


def _is_model(path: Path) -> bool:
    return path.is_dir() and _describe(path) is not None


def ship(
    run: str | Path,
    name: str,
    *,
    summary: str,
    headline: str,
    half: bool = True,
    root: Path | None = None,
) -> Path:
    """Copy the model of a training run into the catalogue as ``name`` (weights in float16
    unless ``half`` is False; logs, Lightning state and eval reports stay behind).

    The copy is built in a temporary folder and renamed into place, so a failure never
    leaves a half-shipped model; an existing model of that name is replaced (its card stays).
    """
    from latentmusic.train.checkpoint import WEIGHTS, read_checkpoint

    source = Path(run)
    if not source.is_dir():
        raise InputError(f"{source} is not a training run directory.")
    if not name or "/" in name or name.startswith(".") or name != name.strip():
        raise InputError(f"'{name}' cannot be a model name (letters, digits, '-', '_', '.').")
    root = root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        for item in sorted(source.rglob("*")):
            rel = item.relative_to(source)
            # a chain's parts (Jukebox: vqvae/, prior/, ...) are runs too: skip their state
            if item.is_dir() or any(
                part in _RUN_ONLY or part.startswith(_RUN_ONLY_PREFIXES) for part in rel.parts
            ):
                continue
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if item.name == WEIGHTS:
                read_checkpoint(item.parent)  # validates the part before it ships
                _copy_weights(item, dest, half=half)
            else:
                shutil.copy2(item, dest)
        if (target / CARD).is_file() and not (staging / CARD).exists():
            shutil.copy2(target / CARD, staging / CARD)
        meta = _read_json(staging / "meta.json")
        meta.update({"summary": summary, "headline": headline, "shipped_from": str(source)})
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if _describe(staging) is None:
            raise InputError(f"{source} holds no latentmusic checkpoint to ship.")
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)  # mkdtemp and safetensors make private files
        for item in staging.rglob("*"):
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=root))
            os.replace(target, old / name)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


# float16 holds weights to ~3 decimal digits; values beyond its range stay float32.
_HALF_MAX = 6.0e4


def _copy_weights(source: Path, dest: Path, *, half: bool) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), framework="pt") as fh:
        metadata = fh.metadata()
        state = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118
    if half:
        for key, tensor in state.items():
            if tensor.dtype == torch.float32 and (
                tensor.numel() == 0 or float(tensor.abs().max()) < _HALF_MAX
            ):
                state[key] = tensor.to(torch.float16)
    save_file(state, str(dest), metadata=metadata)
