"""How big a model a config describes, known before anything is built or allocated.

A ``config.json`` (or ``--set``) can ask for any size: ``decoder_layers = 10**12`` would
hang building Python modules until the machine runs out of memory. Every config the
toolkit builds from passes :func:`check_config_size` (``train.config`` calls it): sizes
far beyond any model are refused at once, and the exact parameter count is taken by
building the model on PyTorch's ``meta`` device (shapes only, no memory), then compared
with this machine's memory. A refusal is one sentence that says how much it would take.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import Any

from latentmusic.errors import ConfigError, SizeError

# No field of any model config is anywhere near these; a value beyond them is a typo or an
# attack, refused before building even on the meta device.
MAX_FIELD = 2**31 - 1
MAX_COUNT = 4096  # layers / blocks / depth of one stack, entries of a size list
COUNT_WORDS = ("layers", "depth", "blocks")
BYTES_PER_PARAMETER = 4  # float32


def memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover - the loop always returns


def human_count(n: float) -> str:
    if n >= 1e15:
        return f"{n:.2g}"
    for value, word in ((1e12, " trillion"), (1e9, " billion"), (1e6, " million")):
        if n >= value:
            return f"{n / value:,.1f}{word}"
    return f"{int(n):,}"


def _check_fields(config: Any) -> None:
    """Refuse field values no model could have (before any building)."""
    name = type(config).__name__
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        values = value if isinstance(value, (tuple, list)) else (value,)
        if isinstance(value, (tuple, list)) and len(value) > MAX_COUNT:
            raise SizeError(
                f"'{field.name}' has {len(value):,} entries; a {name} allows at most {MAX_COUNT:,}."
            )
        for item in values:
            if isinstance(item, bool) or not isinstance(item, int):
                continue
            if abs(item) > MAX_FIELD:
                raise SizeError(
                    f"'{field.name}' = {item:,} is far beyond any model (at most {MAX_FIELD:,})."
                )
            if any(w in field.name for w in COUNT_WORDS) and item > MAX_COUNT:
                raise SizeError(
                    f"'{field.name}' = {item:,} would build {item:,} layers; "
                    f"at most {MAX_COUNT:,} are allowed."
                )


def _builders() -> dict[str, Callable[[Any], Any]]:
    """Config class name -> a function building that config's model (imported lazily)."""

    def nsynth(config: Any) -> Any:
        from latentmusic.nsynth.model import NSynthWaveNetAE

        return NSynthWaveNetAE(config)

    def spectral(config: Any) -> Any:
        from latentmusic.nsynth.spectral_ae import SpectralAutoencoder

        return SpectralAutoencoder(config)

    def musicvae(config: Any) -> Any:
        from latentmusic.musicvae.model import MusicVAE

        return MusicVAE(config)

    def vqvae(config: Any) -> Any:
        from latentmusic.jukebox.vqvae import VQVAE

        return VQVAE(config)

    def prior(config: Any) -> Any:
        from latentmusic.jukebox.labels import LabelVocab
        from latentmusic.jukebox.prior import Prior

        artists = tuple(f"a{i}" for i in range(max(1, config.n_artists)))
        genres = tuple(f"g{i}" for i in range(max(1, config.n_genres)))
        return Prior(config, LabelVocab(artists, genres))

    def translation(config: Any) -> Any:
        from latentmusic.translation.model import UniversalTranslator

        return UniversalTranslator(config, ["a", "b"])

    return {
        "NSynthConfig": nsynth,
        "SpectralAEConfig": spectral,
        "MusicVAEConfig": musicvae,
        "VQVAEConfig": vqvae,
        "PriorConfig": prior,
        "TranslationConfig": translation,
    }


@contextlib.contextmanager
def _no_init() -> Iterator[None]:
    """Weight initialisation is skipped while counting: on the meta device it only costs
    time (torch's Python meta kernels for random fills import sympy)."""
    import torch

    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for name in names:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


def count_parameters(config: Any) -> int | None:
    """The number of values (parameters and buffers) of the model ``config`` builds,
    counted on the meta device (nothing allocated); None for a config we cannot build."""
    builder = _builders().get(type(config).__name__)
    if builder is None:
        return None
    import torch

    try:
        with torch.device("meta"), _no_init():
            model = builder(config)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta: not ours to judge
        return None
    tensors = [*model.parameters(), *model.buffers()]
    return sum(int(t.numel()) for t in tensors)


def check_config_size(config: Any, memory: int | None = None) -> int | None:
    """Refuse a config whose model cannot fit in this machine's memory; returns its
    parameter count (None where it cannot be counted)."""
    if not dataclasses.is_dataclass(config):
        return None
    _check_fields(config)
    n = count_parameters(config)
    if n is None:
        return None
    memory = memory_bytes() if memory is None else memory
    needed = n * BYTES_PER_PARAMETER
    if memory is not None and needed > memory:
        raise SizeError(
            f"This {type(config).__name__} describes a model of {human_count(n)} parameters, "
            f"which would take {human_bytes(needed)} of memory; this machine has "
            f"{human_bytes(memory)}."
        )
    return n


_CONFIG_CLASSES = {
    ("nsynth", "wavenet"): ("latentmusic.nsynth.config", "NSynthConfig"),
    ("nsynth", "spectral"): ("latentmusic.nsynth.config", "SpectralAEConfig"),
    ("musicvae", None): ("latentmusic.musicvae.config", "MusicVAEConfig"),
    ("jukebox", "vqvae"): ("latentmusic.jukebox.config", "VQVAEConfig"),
    ("jukebox", "prior"): ("latentmusic.jukebox.config", "PriorConfig"),
    ("jukebox", "upsampler"): ("latentmusic.jukebox.config", "PriorConfig"),
    ("translation", None): ("latentmusic.translation.config", "TranslationConfig"),
}


def check_checkpoint_size(family: str, model_type: str, config: dict[str, Any]) -> int | None:
    """The parameter count a checkpoint's config describes, refused (:class:`SizeError`)
    when no model could have it or this machine could not hold it; None for a family or
    type this version does not know, or a config it cannot read for other reasons."""
    import importlib

    from latentmusic.train.config import config_from_dict

    where = _CONFIG_CLASSES.get((family, model_type)) or _CONFIG_CLASSES.get((family, None))
    if where is None:
        return None
    cls = getattr(importlib.import_module(where[0]), where[1])
    try:
        built = config_from_dict(cls, config)  # checks the size as it builds the config
    except SizeError:
        raise
    except ConfigError:
        return None
    return count_parameters(built)
