"""What the numba CPU kernels share: the optional import, a cached njit, launching a parallel
kernel beside torch, a fast float32 tanh and sigmoid, and the blocked matrix-vector product
both the LSTM and WaveNet kernels run.

numba is optional: without it ``numba`` is None and callers fall back to their torch path.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from contextlib import contextmanager
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


_ELEMENTWISE = {"fastmath": True, "nogil": True, "error_model": "numpy"}


def parallel_jit(fn: Any) -> Any:
    """The element-wise kernels' njit: fastmath, no GIL, numpy errors, ``prange`` parallel;
    launch them with :func:`launch` (or :func:`launch_parallel`).

    Compiled from a copy of ``fn`` named ``<name>_parallel`` and its :func:`serial` twin
    from one named ``<name>_serial``: numba's on-disk cache is keyed by the function's name
    and line, not by ``parallel``, so the same function compiled both ways shared one cache
    entry, and every later process loaded whichever variant had been saved first for both
    (measured: a parallel kernel that had loaded the serial code ran no faster on two
    threads than on one). Both names are new, so a cache left by a version that mixed them
    up is never read."""
    kernel = jit(**_ELEMENTWISE, parallel=True)(_renamed(fn, "parallel"))
    _PYTHON[kernel] = fn
    return kernel


_PYTHON: dict[Any, Any] = {}  # parallel kernel -> the Python function it was compiled from
_SERIAL: dict[Any, Any] = {}


def serial(kernel: Any) -> Any:
    """``kernel`` (a :func:`parallel_jit` one) compiled without ``parallel``: its ``prange``
    loops run in the calling thread. For callers that split work over their own threads,
    where numba's threading layer would be entered from several threads at once (its
    ``workqueue`` layer refuses that)."""
    if kernel not in _SERIAL:
        _SERIAL[kernel] = jit(**_ELEMENTWISE)(_renamed(_PYTHON[kernel], "serial"))
    return _SERIAL[kernel]


def _renamed(fn: Any, suffix: str) -> Any:
    """A copy of the Python function ``fn`` named ``<name>_<suffix>`` (its own numba cache)."""
    copy = types.FunctionType(
        fn.__code__, fn.__globals__, f"{fn.__name__}_{suffix}", fn.__defaults__, fn.__closure__
    )
    copy.__qualname__ = f"{fn.__qualname__}_{suffix}"
    copy.__module__ = fn.__module__
    return copy


def as_rows(x: Any) -> np.ndarray:
    """A contiguous CPU tensor as the (rows, last dim) numpy view a kernel writes through."""
    return x.view(-1, x.shape[-1]).numpy()


@contextmanager
def _torch_threads_kept() -> Iterator[int]:
    """Yield torch's thread count and set it back after. numba's OpenMP layer shares torch's
    OpenMP runtime, and a kernel's launch (a serial kernel's first call too) left the calling
    thread's team at numba's size: a ``--threads 1`` run trained on two threads after its
    first fused gate, and a one-thread test read two threads after a serial gate."""
    import torch

    before = torch.get_num_threads()
    try:
        yield before
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def launch_parallel(kernel: Any, *args: Any, threads: int | None = None) -> Any:
    """Run a ``parallel=True`` kernel on ``threads`` numba threads (default: as many as torch
    may use); torch's thread count is left as it was."""
    with _torch_threads_kept() as before:
        wanted = before if threads is None else threads
        numba.set_num_threads(max(1, min(wanted, numba.config.NUMBA_NUM_THREADS)))
        return kernel(*args)


def launch(kernel: Any, *args: Any, threaded: bool = True) -> Any:
    """Run a :func:`parallel_jit` kernel over torch's threads (:func:`launch_parallel`), or
    in the calling thread only (``threaded=False``: the caller has threads of its own)."""
    if threaded:
        return launch_parallel(kernel, *args)
    with _torch_threads_kept():
        return serial(kernel)(*args)


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

    @jit(fastmath=True, nogil=True, error_model="numpy")
    def sigmoid32(x: float) -> float:
        """The logistic function through :func:`tanh32` (an exact identity, same accuracy)."""
        return np.float32(0.5) + np.float32(0.5) * tanh32(np.float32(0.5) * x)

    @jit(fastmath=True, nogil=True, error_model="numpy")
    def matvec_add(w, x, y, b0, b1):  # noqa: ANN001, ANN201
        """y[b, o] += w[o, :] . x[b, :] for the batch rows b in [b0, b1); w (O, I), x (N, I),
        y (N, O), float32.

        Four output rows and up to four batch rows at a time: each weight row is loaded once
        for the batch block and the 16 running sums stay in registers, while the inner loop
        over inputs is a contiguous dot product that LLVM vectorises (fastmath reorders it).
        The LSTM kernels call it on a whole batch, the WaveNet sampler on each thread's rows.
        """
        n_out, n_in = w.shape
        o4 = n_out - n_out % 4
        n = b1
        n4 = b1 - (b1 - b0) % 4
        n2 = b1 - (b1 - b0) % 2
        for o in range(0, o4, 4):
            for b in range(b0, n4, 4):  # 4 rows x 4 examples: 16 sums in registers
                a00 = a01 = a02 = a03 = np.float32(0.0)
                a10 = a11 = a12 = a13 = np.float32(0.0)
                a20 = a21 = a22 = a23 = np.float32(0.0)
                a30 = a31 = a32 = a33 = np.float32(0.0)
                for i in range(n_in):
                    x0, x1, x2, x3 = x[b, i], x[b + 1, i], x[b + 2, i], x[b + 3, i]
                    w0, w1, w2, w3 = w[o, i], w[o + 1, i], w[o + 2, i], w[o + 3, i]
                    a00 += w0 * x0
                    a01 += w0 * x1
                    a02 += w0 * x2
                    a03 += w0 * x3
                    a10 += w1 * x0
                    a11 += w1 * x1
                    a12 += w1 * x2
                    a13 += w1 * x3
                    a20 += w2 * x0
                    a21 += w2 * x1
                    a22 += w2 * x2
                    a23 += w2 * x3
                    a30 += w3 * x0
                    a31 += w3 * x1
                    a32 += w3 * x2
                    a33 += w3 * x3
                y[b, o] += a00
                y[b + 1, o] += a01
                y[b + 2, o] += a02
                y[b + 3, o] += a03
                y[b, o + 1] += a10
                y[b + 1, o + 1] += a11
                y[b + 2, o + 1] += a12
                y[b + 3, o + 1] += a13
                y[b, o + 2] += a20
                y[b + 1, o + 2] += a21
                y[b + 2, o + 2] += a22
                y[b + 3, o + 2] += a23
                y[b, o + 3] += a30
                y[b + 1, o + 3] += a31
                y[b + 2, o + 3] += a32
                y[b + 3, o + 3] += a33
            for b in range(n4, n2, 2):  # 4 rows x 2 examples
                a00 = a01 = a10 = a11 = np.float32(0.0)
                a20 = a21 = a30 = a31 = np.float32(0.0)
                for i in range(n_in):
                    x0, x1 = x[b, i], x[b + 1, i]
                    w0, w1, w2, w3 = w[o, i], w[o + 1, i], w[o + 2, i], w[o + 3, i]
                    a00 += w0 * x0
                    a01 += w0 * x1
                    a10 += w1 * x0
                    a11 += w1 * x1
                    a20 += w2 * x0
                    a21 += w2 * x1
                    a30 += w3 * x0
                    a31 += w3 * x1
                y[b, o] += a00
                y[b + 1, o] += a01
                y[b, o + 1] += a10
                y[b + 1, o + 1] += a11
                y[b, o + 2] += a20
                y[b + 1, o + 2] += a21
                y[b, o + 3] += a30
                y[b + 1, o + 3] += a31
            for b in range(n2, n):  # 4 rows x the last example
                a0 = a1 = a2 = a3 = np.float32(0.0)
                for i in range(n_in):
                    xi = x[b, i]
                    a0 += w[o, i] * xi
                    a1 += w[o + 1, i] * xi
                    a2 += w[o + 2, i] * xi
                    a3 += w[o + 3, i] * xi
                y[b, o] += a0
                y[b, o + 1] += a1
                y[b, o + 2] += a2
                y[b, o + 3] += a3
        for o in range(o4, n_out):  # the last rows of an output layer (e.g. 90 classes)
            for b in range(b0, b1):
                acc = np.float32(0.0)
                for i in range(n_in):
                    acc += w[o, i] * x[b, i]
                y[b, o] += acc
