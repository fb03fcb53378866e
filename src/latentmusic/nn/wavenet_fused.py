"""Fused single-sample WaveNet step for the CPU (numba), used by ``WaveNetDecoder.generate``.

Why: the torch cached path spends most of a sample in per-op dispatch (about ten small
ops per layer). Here one compiled function runs a whole block of samples: for each
sample every layer's dilated conv (taps read from the layer's ring buffer), gate,
residual and skip 1x1s, the output head and the inverse-CDF sampling, over contiguous
float32 weight arrays passed as arguments. Matrix-vector products loop output channel
outside and batch inside so one weight row is reused across the batch while it sits in
L1. With several threads the batch is split into groups, one group per thread, for the
whole block (one parallel region per block, not per layer). tanh and the sigmoid use a
vectorisable rational approximation (max error ~1e-7) because numba has no vector libm.

The module imports numba lazily: ``available()`` says whether the kernel can run.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from latentmusic.nn.numba_support import jit as _jit
from latentmusic.nn.numba_support import launch_parallel, numba

if TYPE_CHECKING:
    from latentmusic.nn.wavenet_generation import PackedWeights, WaveNetState

_KERNELS: dict[str, Any] | None = None
COMPILE_SECONDS: dict[str, float] = {}  # first-call compile (or cache load) time per entry


def available() -> bool:
    """True when numba imports (the kernels compile, or load from cache, on first use)."""
    return _kernels() is not None


def _kernels() -> dict[str, Any] | None:
    return _KERNELS


if numba is not None:
    from numba import prange

    from latentmusic.nn.numba_support import matvec_add as _matvec
    from latentmusic.nn.numba_support import sigmoid32 as _sigmoid
    from latentmusic.nn.numba_support import tanh32 as _tanh

    jit = _jit(fastmath=True, nogil=True, error_model="numpy")
    jit_par = _jit(fastmath=True, nogil=True, error_model="numpy", parallel=True)

    @jit
    def _steps(  # noqa: ANN202, PLR0913
        b0, b1, t0, local_t, n, hop, temperature, u, forced, use_forced, collect,
        codes_out, logits_out, table, hist, inputs, prev, offsets, lengths, dilations,
        use_embed, wd, wrs, brs, start_w, start_b, embed, ss_w, ss_b, o1_w, lg_w, lg_b,
    ):  # fmt: skip
        n_layers, two_r, kr = wd.shape
        r = two_r // 2
        k = kr // r
        n_skip = ss_w.shape[0]
        n_cls = lg_w.shape[0]
        nb = hist.shape[0]
        scale = np.float32(2.0 / (n_cls - 1))
        h = np.zeros((nb, r), np.float32)
        z = np.zeros((nb, kr), np.float32)
        a = np.zeros((nb, two_r), np.float32)
        g = np.zeros((nb, r), np.float32)
        rs = np.zeros((nb, r + n_skip), np.float32)
        skip = np.zeros((nb, n_skip), np.float32)
        y = np.zeros((nb, n_skip), np.float32)
        lg = np.zeros((nb, n_cls), np.float32)
        for i in range(n):
            t = t0 + i
            f = (local_t + i) // hop
            for b in range(b0, b1):
                if use_embed:
                    pc = prev[b]
                    for c in range(r):
                        h[b, c] = embed[pc, c] if pc >= 0 else np.float32(0.0)
                else:
                    for c in range(r):
                        acc = start_b[c]
                        for j in range(k):
                            acc += start_w[c, j] * inputs[b, j]
                        h[b, c] = acc
                for c in range(n_skip):
                    skip[b, c] = ss_b[c]
            _matvec(ss_w, h, skip, b0, b1)
            for layer in range(n_layers):
                off = offsets[layer]
                length = lengths[layer]
                d = dilations[layer]
                base = layer * two_r
                for b in range(b0, b1):
                    for q in range(k - 1):  # taps oldest first: t-(k-1)d .. t-d
                        slot = off + (t - (k - 1 - q) * d) % length
                        for c in range(r):
                            z[b, q * r + c] = hist[b, slot, c]
                    for c in range(r):
                        z[b, (k - 1) * r + c] = h[b, c]
                        hist[b, off + t % length, c] = h[b, c]
                    for c in range(two_r):
                        a[b, c] = table[b, f, base + c]
                _matvec(wd[layer], z, a, b0, b1)
                last = layer == n_layers - 1
                for b in range(b0, b1):
                    for c in range(r):
                        g[b, c] = _tanh(a[b, c]) * _sigmoid(a[b, r + c])
                    for c in range(r + n_skip):
                        rs[b, c] = brs[layer, c]
                if last:
                    _matvec(wrs[layer, r:], g, rs[:, r:], b0, b1)
                else:
                    _matvec(wrs[layer], g, rs, b0, b1)
                for b in range(b0, b1):
                    if not last:
                        for c in range(r):
                            h[b, c] += rs[b, c]
                    for c in range(n_skip):
                        skip[b, c] += rs[b, r + c]
            head = n_layers * two_r
            for b in range(b0, b1):
                for c in range(n_skip):
                    skip[b, c] = max(skip[b, c], np.float32(0.0))
                    y[b, c] = table[b, f, head + c]
                for c in range(n_cls):
                    lg[b, c] = lg_b[c]
            _matvec(o1_w, skip, y, b0, b1)
            for b in range(b0, b1):
                for c in range(n_skip):
                    y[b, c] = max(y[b, c], np.float32(0.0))
            _matvec(lg_w, y, lg, b0, b1)
            for b in range(b0, b1):
                if collect:
                    for c in range(n_cls):
                        logits_out[b, i, c] = lg[b, c]
                if use_forced:
                    code = forced[b, i]
                elif temperature <= 0.0:
                    code = 0
                    best = lg[b, 0]
                    for c in range(1, n_cls):
                        if lg[b, c] > best:
                            best = lg[b, c]
                            code = c
                else:
                    mx = np.float64(lg[b, 0])
                    for c in range(1, n_cls):
                        mx = max(mx, np.float64(lg[b, c]))
                    total = 0.0
                    for c in range(n_cls):
                        total += math.exp((np.float64(lg[b, c]) - mx) / temperature)
                    target = u[i, b] * total
                    acc = 0.0
                    code = n_cls - 1
                    for c in range(n_cls):
                        acc += math.exp((np.float64(lg[b, c]) - mx) / temperature)
                        if acc > target:
                            code = c
                            break
                codes_out[b, i] = code
                for j in range(k - 1):
                    inputs[b, j] = inputs[b, j + 1]
                inputs[b, k - 1] = np.float32(code) * scale - np.float32(1.0)
                prev[b] = code

    @jit_par
    def _steps_grouped(  # noqa: ANN202, PLR0913
        bounds, t0, local_t, n, hop, temperature, u, forced, use_forced, collect,
        codes_out, logits_out, table, hist, inputs, prev, offsets, lengths, dilations,
        use_embed, wd, wrs, brs, start_w, start_b, embed, ss_w, ss_b, o1_w, lg_w, lg_b,
    ):  # fmt: skip
        for grp in prange(bounds.shape[0] - 1):
            _steps(
                bounds[grp], bounds[grp + 1], t0, local_t, n, hop, temperature, u, forced,
                use_forced, collect, codes_out, logits_out, table, hist, inputs, prev, offsets,
                lengths, dilations, use_embed, wd, wrs, brs, start_w, start_b, embed, ss_w,
                ss_b, o1_w, lg_w, lg_b,
            )  # fmt: skip

    @jit
    def _tanh_array(x):  # noqa: ANN001, ANN202
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = _tanh(x[i])
        return out

    _KERNELS = {"steps": _steps, "steps_grouped": _steps_grouped, "tanh": _tanh_array}


def fast_tanh(x: np.ndarray) -> np.ndarray:
    """The kernel's tanh approximation on a float32 array (exposed so tests can bound it)."""
    kernels = _kernels()
    assert kernels is not None, "numba is not available"
    return kernels["tanh"](np.ascontiguousarray(x, dtype=np.float32))


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().contiguous().numpy()


class FusedRunner:
    """Runs blocks of cached steps in the numba kernel, updating ``state`` in place."""

    def __init__(self, packed: PackedWeights, state: WaveNetState, threads: int) -> None:
        kernels = _kernels()
        assert kernels is not None, "numba is not available"
        self.kernels = kernels
        self.st = state
        self.hop, self.n_classes = packed.hop, packed.n_classes
        # Contiguous (out, in) weights: each output channel is one contiguous dot product.
        self.w = (
            _np(packed.wd_t.transpose(1, 2)),
            _np(packed.wrs_t.transpose(1, 2)),
            _np(packed.brs),
            _np(packed.start_t.t()),
            _np(packed.start_b),
            _np(packed.embed),
            _np(packed.ss_t.t()),
            _np(packed.ss_b),
            _np(packed.o1_t.t()),
            _np(packed.lg_t.t()),
            _np(packed.lg_b),
        )
        self.geometry = (
            np.asarray(packed.offsets, np.int64),
            np.asarray(packed.lengths, np.int64),
            np.asarray(packed.dilations, np.int64),
            packed.input_embedding,
        )
        state.hist = state.hist.contiguous()
        state.inputs = state.inputs.contiguous().clone()
        state.prev = state.prev.contiguous().clone()
        self.hist, self.inputs, self.prev = (
            state.hist.numpy(),
            state.inputs.numpy(),
            state.prev.numpy(),
        )
        batch = state.batch_size
        threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
        groups = max(1, min(threads, batch))
        self.bounds = np.linspace(0, batch, groups + 1).round().astype(np.int64)
        entry = "steps_grouped" if len(self.bounds) > 2 else "steps"
        if entry not in COMPILE_SECONDS:
            # Compile (or load from numba's cache) outside the timed steps: a 0-step call.
            start = time.perf_counter()
            self._call(np.zeros((batch, 1, packed.table_width), np.float32), 0, 0, 0.0, None, None)
            COMPILE_SECONDS[entry] = time.perf_counter() - start

    def _call(self, table, local_t, n, temperature, u, forced, codes=None, logits=None):  # noqa: ANN001, ANN202
        batch = self.st.batch_size
        u_np = u.numpy() if u is not None else np.zeros((1, 1), np.float64)
        f_np = _np(forced) if forced is not None else np.zeros((1, 1), np.int64)
        c_np = codes if codes is not None else np.zeros((batch, 1), np.int64)
        l_np = logits if logits is not None else np.zeros((1, 1, 1), np.float32)
        args = (
            self.st.t, local_t, n, self.hop, temperature, u_np, f_np, forced is not None,
            logits is not None, c_np, l_np, table, self.hist, self.inputs, self.prev,
            *self.geometry, *self.w,
        )  # fmt: skip
        if len(self.bounds) > 2:
            kernel = self.kernels["steps_grouped"]
            launch_parallel(kernel, self.bounds, *args, threads=len(self.bounds) - 1)
        else:
            self.kernels["steps"](0, batch, *args)

    def run(
        self,
        table: torch.Tensor,
        local_t: int,
        n: int,
        temperature: float,
        u: torch.Tensor | None,
        forced: torch.Tensor | None,
        codes_out: torch.Tensor,
        logits_out: torch.Tensor | None,
    ) -> None:
        batch = self.st.batch_size
        codes = np.zeros((batch, n), np.int64)
        logits = (
            np.zeros((batch, n, self.n_classes), np.float32) if logits_out is not None else None
        )
        self._call(_np(table), local_t, n, temperature, u, forced, codes, logits)
        codes_out.copy_(torch.from_numpy(codes))
        if logits_out is not None:
            logits_out.copy_(torch.from_numpy(logits))
        self.st.t += n
        self.st.prev = torch.from_numpy(self.prev)
        self.st.inputs = torch.from_numpy(self.inputs)
