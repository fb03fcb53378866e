"""What the numba CPU kernels share: the optional import, a cached njit, a fast float32 tanh.

numba is optional: without it ``numba`` is None and callers fall back to their torch path.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None


def available() -> bool:
    """True when numba imports (the kernels compile, or load from cache, on first use)."""
    return numba is not None


def jit(**options: Any) -> Any:
    """njit with numba's on-disk cache when a cache directory is writable, else without.

    ``LATENTMUSIC_NUMBA_CACHE=0`` turns the cache off.
    """

    def wrap(fn: Any) -> Any:
        if os.environ.get("LATENTMUSIC_NUMBA_CACHE", "1") != "0":
            try:
                return numba.njit(cache=True, **options)(fn)
            except RuntimeError:  # no writable cache locator (read-only install)
                pass
        return numba.njit(cache=False, **options)(fn)

    return wrap


if numba is not None:

    @jit(fastmath=True, nogil=True, error_model="numpy")
    def tanh32(x: float) -> float:
        # Rational minimax approximation on [-9, 9] (the one Eigen uses for float32):
        # max abs error ~1e-7, and it vectorises, unlike a libm call.
        x = min(max(x, np.float32(-9.0)), np.float32(9.0))
        x2 = x * x
        p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
        p = x2 * p + np.float32(-8.60467152213735e-11)
        p = x2 * p + np.float32(5.12229709037114e-08)
        p = x2 * p + np.float32(1.48572235717979e-05)
        p = x2 * p + np.float32(6.37261928875436e-04)
        p = x2 * p + np.float32(4.89352455891786e-03)
        p = x * p
        q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
        q = x2 * q + np.float32(2.26843463243900e-03)
        q = x2 * q + np.float32(4.89352518554385e-03)
        return p / q
