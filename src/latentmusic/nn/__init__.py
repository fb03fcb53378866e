"""Shared neural building blocks (WaveNet stacks, vector quantizer, transformer, RNNs).

Submodules import torch; this package file does not, so ``import latentmusic.nn`` stays
cheap. The WaveNet names are re-exported lazily: ``from latentmusic.nn import
WaveNetDecoder`` loads ``latentmusic.nn.wavenet`` on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "NonCausalWaveNetEncoder": "latentmusic.nn.wavenet",
    "WaveNetDecoder": "latentmusic.nn.wavenet",
    "WaveNetState": "latentmusic.nn.wavenet_generation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'latentmusic.nn' has no attribute {name!r}")
