"""8-bit mu-law companding (WaveNet, NSynth, Universal Music Translation).

Mu-law spends the 256 codes logarithmically, so quiet passages keep detail that linear
8-bit quantisation would lose; the models predict these codes with a softmax.
Works on numpy arrays and torch tensors alike and returns the same kind it was given
(torch is never imported here: a tensor can only arrive if torch is already loaded).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from latentmusic.errors import InputError


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _work_dtype(t: Any) -> Any:
    """float64 like the numpy path (same codes at cell edges), except where unsupported (mps)."""
    torch = sys.modules["torch"]
    return torch.float32 if t.device.type == "mps" else torch.float64


def _check_mu(mu: int) -> int:
    if isinstance(mu, bool) or not isinstance(mu, (int, np.integer)) or mu < 1:
        raise InputError(f"mu must be a positive integer, got {mu!r}")
    return int(mu)


def mu_law_encode(x: Any, mu: int = 255) -> Any:
    """Float audio in [-1, 1] (values outside are clipped) -> int64 codes in 0..mu."""
    mu = _check_mu(mu)
    if _is_tensor(x):
        torch = sys.modules["torch"]
        x = x.to(_work_dtype(x)).clamp(-1.0, 1.0)
        y = torch.sign(x) * torch.log1p(mu * x.abs()) / np.log1p(mu)
        codes = torch.floor((y + 1.0) / 2.0 * mu + 0.5)
        return codes.clamp(0, mu).to(torch.int64)
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    codes = np.floor((y + 1.0) / 2.0 * mu + 0.5)
    return np.clip(codes, 0, mu).astype(np.int64)


def mu_law_decode(codes: Any, mu: int = 255) -> Any:
    """Integer codes 0..mu -> float32 audio in [-1, 1] (the centre of each code's cell)."""
    mu = _check_mu(mu)
    if _is_tensor(codes):
        torch = sys.modules["torch"]
        y = 2.0 * codes.to(_work_dtype(codes)) / mu - 1.0
        x = torch.sign(y) * (torch.pow(1.0 + mu, y.abs()) - 1.0) / mu
        return x.to(torch.float32)
    y = 2.0 * np.asarray(codes, dtype=np.float64) / mu - 1.0
    x = np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu
    return x.astype(np.float32)
