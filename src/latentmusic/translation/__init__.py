"""Universal Music Translation (Mor et al. 2018): one shared WaveNet encoder, a
domain-confusion network and one WaveNet decoder per instrument or style.

Light on purpose: ``latentmusic.load`` imports this package and calls
:func:`from_checkpoint`; torch and the model are imported only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentmusic.translation.model import UniversalTranslator

__all__ = ["from_checkpoint"]


def from_checkpoint(ckpt: Any) -> UniversalTranslator:
    """Rebuild the translator a checkpoint describes (used by ``latentmusic.load``)."""
    from latentmusic.translation.model import from_checkpoint as _build

    return _build(ckpt)
