"""The model families, named once.

Everything that works on "any family" — ``latentmusic.load``, ``train``/``eval``/``info``,
``--init``, the CLI's family groups, the demo sections, the model catalogue — asks this
registry. Adding a family means one folder ``latentmusic/<name>/`` (with ``from_checkpoint``,
``train.train`` and ``evaluate.evaluate``) and one line here.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from latentmusic.errors import InputError


@dataclass(frozen=True)
class Family:
    name: str
    paper: str
    summary: str
    model_types: tuple[str, ...]


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("nsynth", "Engel et al. 2017", "notes <-> timbre embeddings; morphs", ("wavenet", "spectral", "harmonic")),
        Family("translation", "Mor et al. 2018", "any recording played by another instrument", ("umt",)),
        Family("jukebox", "Dhariwal et al. 2020", "VQ-VAE codes and conditioned priors", ("vqvae", "prior", "upsampler")),
        Family("musicvae", "Roberts et al. 2018", "melodies, drums, trios: interpolate, sample", ("flat", "hierdec")),
    )
}  # fmt: skip


def family_names() -> tuple[str, ...]:
    return tuple(FAMILIES)


def check_family(name: str) -> Family:
    """The family called ``name``, or one sentence listing the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(
            f"Unknown model family '{name}'; choose one of: {', '.join(FAMILIES)}."
        ) from None


def family_part(name: str, part: str | None = None) -> ModuleType:
    """Import ``latentmusic.<name>[.<part>]`` (lazily: families pull in torch and friends)."""
    check_family(name)
    module = f"latentmusic.{name}" + (f".{part}" if part else "")
    if importlib.util.find_spec(module) is None:
        raise InputError(f"The '{name}' family has no '{part}' command in this version.")
    return importlib.import_module(module)
