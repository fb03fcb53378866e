"""The numba kernels' launching: a kernel's serial twin keeps an on-disk cache of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from latentmusic.nn import numba_support, relu_fused

# One process compiles the named variant of relu_fused's bias-ReLU kernel and prints how
# many times each variant loaded its code from numba's on-disk cache.
_CHILD = """
import sys
import numba
import numpy as np
from latentmusic.nn import numba_support, relu_fused
x, bias = np.ones((4, 3), np.float32), np.zeros(3, np.float32)
kernels = {
    "parallel": relu_fused._bias_relu,
    "serial": numba_support.serial(relu_fused._bias_relu),
    # what versions before the fix cached: the plain function compiled serially
    "old": numba.njit(cache=True)(numba_support._PYTHON[relu_fused._bias_relu]),
}
kernel = kernels[sys.argv[1]]
kernel(x, bias)
print(sum(kernel.stats.cache_hits.values()))
"""


def _cache_hits(variant: str, cache_dir: Path) -> int:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "LATENTMUSIC_NUMBA_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, variant], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_a_parallel_kernel_never_loads_its_serial_twin_from_the_cache(tmp_path: Path) -> None:
    # numba keys its cache by function name and line, not by ``parallel``: with the twin
    # compiled from the same function, the parallel kernel loaded the serial code here.
    assert _cache_hits("serial", tmp_path) == 0  # compiled and saved
    assert _cache_hits("parallel", tmp_path) == 0  # its own compilation, not the twin's
    assert _cache_hits("parallel", tmp_path) == 1  # and its own cache from then on
    assert _cache_hits("serial", tmp_path) == 1


def test_a_cache_left_by_the_old_naming_is_never_read(tmp_path: Path) -> None:
    # Before the fix a parallel kernel and its twin shared the plain function's cache
    # entry, which could hold serial code: an upgraded install must not load it.
    assert _cache_hits("old", tmp_path) == 0
    assert _cache_hits("parallel", tmp_path) == 0
    assert _cache_hits("serial", tmp_path) == 0


def test_the_serial_twin_computes_what_the_parallel_kernel_does() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 8)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    parallel, alone = x.copy(), x.copy()
    relu_fused._bias_relu(parallel, bias)
    numba_support.serial(relu_fused._bias_relu)(alone, bias)
    np.testing.assert_array_equal(parallel, alone)
    np.testing.assert_array_equal(alone, np.maximum(x + bias, 0))
    assert relu_fused._bias_relu.py_func.__name__ == "_bias_relu_parallel"
    assert numba_support.serial(relu_fused._bias_relu).py_func.__name__ == "_bias_relu_serial"
