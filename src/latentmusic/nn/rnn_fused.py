"""Fused LSTM recurrences for small batches on the CPU (numba), used by ``latentmusic.nn.rnn``.

Why: an interactive MusicVAE decodes a handful of latents (8 for a slerp path) step by
step, because every step feeds back the token it chose. With a batch that small each
step's matrix products are matrix-vector products: torch spends its time in per-op
dispatch (~15 small ops per step) and MKL's small-M GEMM reaches a fraction of the core.
Here one compiled call runs the whole recurrence, a greedy decode of every step, or a
whole bidirectional encoder layer, over contiguous float32 (out, in) weights.

Matrix-vector products take four output rows and up to four batch rows at a time: each
weight row is loaded once for the batch block, and the 16 running sums stay in
registers while the inner loop over inputs is a contiguous dot product that LLVM
vectorises (fastmath lets it reorder the sum). tanh and the sigmoid use the rational
approximation Eigen uses for float32 (max error ~1e-7) because numba has no vector libm,
so results agree with ``torch.nn.LSTM`` to float rounding, not bit for bit.

At these batch sizes one core's memory bandwidth is the limit (each step streams every
W_hh), so with ``parallel`` the encoder's two directions, or the decoder's two batch
halves, run on two threads: the same kernels on disjoint outputs, bit-identical results.

The module imports numba at import time; ``latentmusic.nn.rnn`` imports it lazily, and
``available()`` says whether the kernels can run (without numba the torch path runs).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from latentmusic.nn.numba_support import available as available  # re-exported for callers
from latentmusic.nn.numba_support import jit as _jit_with
from latentmusic.nn.numba_support import numba

_jit = _jit_with(fastmath=True, nogil=True, error_model="numpy")

if numba is not None:
    from latentmusic.nn.numba_support import matvec_add as _matvec
    from latentmusic.nn.numba_support import sigmoid32 as _sigmoid
    from latentmusic.nn.numba_support import tanh32 as _tanh

    @_jit
    def _cell(gates, c, h):  # noqa: ANN001, ANN202
        """LSTM update in place: gates (N, 4H) in PyTorch's order i, f, g, o; c, h (N, H)."""
        n, size = c.shape
        for b in range(n):
            for u in range(size):
                i = _sigmoid(gates[b, u])
                f = _sigmoid(gates[b, size + u])
                g = _tanh(gates[b, 2 * size + u])
                o = _sigmoid(gates[b, 3 * size + u])
                cell = f * c[b, u] + i * g
                c[b, u] = cell
                h[b, u] = o * _tanh(cell)

    @_jit
    def _lstm_direction(xproj, w_hh, reverse, out, col):  # noqa: ANN001, ANN202
        """One direction of one LSTM layer from a zero state: xproj (N, T, 4H) is
        ``W_ih x + b_ih + b_hh``; writes h_t into ``out[:, t, col:col + H]``."""
        n, steps, four_h = xproj.shape
        size = four_h // 4
        h = np.zeros((n, size), np.float32)
        c = np.zeros((n, size), np.float32)
        gates = np.empty((n, four_h), np.float32)
        for s in range(steps):
            t = steps - 1 - s if reverse else s
            for b in range(n):
                for j in range(four_h):
                    gates[b, j] = xproj[b, t, j]
            _matvec(w_hh, h, gates, 0, h.shape[0])
            _cell(gates, c, h)
            for b in range(n):
                for u in range(size):
                    out[b, t, col + u] = h[b, u]

    @_jit
    def _hot_rows(rows, bias, columns, out):  # noqa: ANN001, ANN202
        """out[b, t] = bias + sum_k rows[columns[b, t, k]]: W x for x made of one-hots."""
        n, steps, k_hot = columns.shape
        width = rows.shape[1]
        for b in range(n):
            for t in range(steps):
                for j in range(width):
                    out[b, t, j] = bias[j]
                for k in range(k_hot):
                    c = columns[b, t, k]
                    for j in range(width):
                        out[b, t, j] += rows[c, j]

    @_jit
    def _bilstm_layer(x_fw, x_bw, w_fw, w_bw, out):  # noqa: ANN001, ANN202
        """A bidirectional layer: out (N, T, 2H) = [forward h_t, backward h_t]."""
        _lstm_direction(x_fw, w_fw, False, out, 0)
        _lstm_direction(x_bw, w_bw, True, out, w_fw.shape[1])

    @_jit
    def _greedy_decode(  # noqa: ANN202, PLR0913
        cond, w_cond, b_cond, w_init, b_init, rows, sizes, ins, w_flat, w_offsets, b_flat,
        b_offsets, w_out, b_out, tokens,
    ):  # fmt: skip
        """Greedy decoding of ``tokens.shape[1]`` steps by a stacked LSTM conditioned on
        ``cond`` (N, C): the initial [h, c] of every layer is ``tanh(w_init cond + b_init)``
        (``InitialState``), and the first layer reads ``w_cond cond + b_cond`` (projected
        once: it is the same at every step) plus the previous token's row of ``rows``
        (nothing at the first step).

        Layer l's weights are ``w_flat[w_offsets[l]:]`` viewed as (4H_l, ins[l] + H_l), the
        input columns first (none for layer 0), and its biases ``b_flat[b_offsets[l]:]``.
        """
        n, steps = tokens.shape
        layers = sizes.shape[0]
        base = np.empty((n, w_cond.shape[0]), np.float32)
        init = np.empty((n, w_init.shape[0]), np.float32)
        for b in range(n):
            for j in range(w_cond.shape[0]):
                base[b, j] = b_cond[j]
            for j in range(w_init.shape[0]):
                init[b, j] = b_init[j]
        _matvec(w_cond, cond, base, 0, cond.shape[0])
        _matvec(w_init, cond, init, 0, cond.shape[0])
        for b in range(n):
            for j in range(w_init.shape[0]):
                init[b, j] = _tanh(init[b, j])
        widest = 0
        for layer in range(layers):
            widest = max(widest, ins[layer] + sizes[layer])
        # Per layer l: xh = [input, h] (N, ins + H), the operand of its one matmul, and c.
        xh_all = np.zeros(layers * n * widest, np.float32)
        c_all = np.zeros(layers * n * widest, np.float32)
        h_all = np.zeros(layers * n * widest, np.float32)
        gates_all = np.empty(4 * n * widest, np.float32)
        offset = 0
        for layer in range(layers):
            size, width = sizes[layer], ins[layer] + sizes[layer]
            at = layer * n * widest
            xh = xh_all[at : at + n * width].reshape((n, width))
            c = c_all[at : at + n * size].reshape((n, size))
            for b in range(n):
                for u in range(size):
                    xh[b, ins[layer] + u] = init[b, offset + u]
                    c[b, u] = init[b, offset + size + u]
            offset += 2 * size
        n_cls = w_out.shape[0]
        logits = np.empty((n, n_cls), np.float32)
        for t in range(steps):
            for layer in range(layers):
                size, width = sizes[layer], ins[layer] + sizes[layer]
                at = layer * n * widest
                xh = xh_all[at : at + n * width].reshape((n, width))
                c = c_all[at : at + n * size].reshape((n, size))
                h = h_all[at : at + n * size].reshape((n, size))
                w = w_flat[w_offsets[layer] : w_offsets[layer] + 4 * size * width]
                gates = gates_all[: n * 4 * size].reshape((n, 4 * size))
                for b in range(n):
                    if layer > 0:
                        for j in range(4 * size):
                            gates[b, j] = b_flat[b_offsets[layer] + j]
                    elif t == 0:  # the first input is all zeros
                        for j in range(4 * size):
                            gates[b, j] = base[b, j]
                    else:
                        prev = tokens[b, t - 1]
                        for j in range(4 * size):
                            gates[b, j] = base[b, j] + rows[prev, j]
                _matvec(w.reshape((4 * size, width)), xh, gates, 0, xh.shape[0])
                _cell(gates, c, h)
                for b in range(n):
                    for u in range(size):
                        xh[b, ins[layer] + u] = h[b, u]
                if layer + 1 < layers:
                    up = (layer + 1) * n * widest
                    above = xh_all[up : up + n * (size + sizes[layer + 1])]
                    above = above.reshape((n, size + sizes[layer + 1]))
                    for b in range(n):
                        for u in range(size):
                            above[b, u] = h[b, u]
            at = (layers - 1) * n * widest
            top = h_all[at : at + n * sizes[layers - 1]].reshape((n, sizes[layers - 1]))
            for b in range(n):
                for k in range(n_cls):
                    logits[b, k] = b_out[k]
            _matvec(w_out, top, logits, 0, top.shape[0])
            for b in range(n):
                best = 0
                for k in range(1, n_cls):
                    if logits[b, k] > logits[b, best]:  # the first maximum, as torch.argmax
                        best = k
                tokens[b, t] = best


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w.T + b`` for a few rows ``x`` (N, I), on this thread: torch would hand a
    product this small to MKL's thread pool, whose spinning workers then compete with the
    kernels for the cores."""
    y = np.empty((x.shape[0], w.shape[0]), np.float32)
    y[:] = b
    _matvec(w, x, y, 0, x.shape[0])
    return y


def hot_rows(rows: np.ndarray, bias: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(N, T, W) input projections ``bias + sum_k rows[columns[..., k]]`` of K one-hots per
    step (``rows`` = W_ih^T): a lookup instead of a matrix product."""
    n, steps, _ = columns.shape
    out = np.empty((n, steps, rows.shape[1]), np.float32)
    _hot_rows(rows, bias, columns, out)
    return out


def bilstm_layer(
    x_fw: np.ndarray,
    x_bw: np.ndarray,
    w_fw: np.ndarray,
    w_bw: np.ndarray,
    parallel: bool = False,
) -> np.ndarray:
    """Outputs (N, T, 2H) of a bidirectional LSTM layer from zero states, given each
    direction's input projections (N, T, 4H) (biases included) and W_hh (4H, H).

    With ``parallel`` the backward direction runs on a second thread (the kernels release
    the GIL and write disjoint columns): at a batch of a few sequences each step streams
    the whole W_hh (4 MB for MusicVAE's 512-unit encoder) through the cache, so a layer
    is bound by one core's memory bandwidth and a second core nearly halves it.
    """
    n, steps, four_h = x_fw.shape
    out = np.empty((n, steps, four_h // 2), np.float32)
    if parallel:
        _on_two_threads(
            lambda: _lstm_direction(x_fw, w_fw, False, out, 0),
            lambda: _lstm_direction(x_bw, w_bw, True, out, w_fw.shape[1]),
        )
    else:
        _bilstm_layer(x_fw, x_bw, w_fw, w_bw, out)
    return out


_WORKER: ThreadPoolExecutor | None = None


def _on_two_threads(here: Callable[[], None], there: Callable[[], None]) -> None:
    """Run ``there`` on a long-lived second thread while ``here`` runs on this one (the
    kernels release the GIL; starting a thread per call would cost more than a short
    recurrence)."""
    global _WORKER
    if _WORKER is None:
        _WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latentmusic-rnn")
    other = _WORKER.submit(there)
    here()
    other.result()


class PackedStack(NamedTuple):
    """A decoder stack's weights laid out for ``greedy_decode`` (pack once, decode often)."""

    sizes: np.ndarray
    ins: np.ndarray
    w_flat: np.ndarray
    w_offsets: np.ndarray
    b_flat: np.ndarray
    b_offsets: np.ndarray


def pack_stack(layers: list[tuple[np.ndarray, np.ndarray]]) -> PackedStack:
    """Each layer's (W (4H, in + H), bias (4H,)), input columns first; layer 0 has in = 0
    (its token and conditioning inputs arrive through ``rows`` and ``base``)."""
    return PackedStack(
        sizes=np.array([w.shape[0] // 4 for w, _ in layers], np.int64),
        ins=np.array([w.shape[1] - w.shape[0] // 4 for w, _ in layers], np.int64),
        w_flat=np.ascontiguousarray(np.concatenate([w.ravel() for w, _ in layers]), np.float32),
        w_offsets=np.cumsum([0] + [w.size for w, _ in layers])[:-1].astype(np.int64),
        b_flat=np.ascontiguousarray(np.concatenate([b.ravel() for _, b in layers]), np.float32),
        b_offsets=np.cumsum([0] + [b.size for _, b in layers])[:-1].astype(np.int64),
    )


class PackedDecoder(NamedTuple):
    """Everything ``greedy_decode`` needs besides the conditioning (see ``_greedy_decode``)."""

    w_cond: np.ndarray
    b_cond: np.ndarray
    w_init: np.ndarray
    b_init: np.ndarray
    rows: np.ndarray
    stack: PackedStack
    w_out: np.ndarray
    b_out: np.ndarray


def greedy_decode(
    cond: np.ndarray, packed: PackedDecoder, length: int, parallel: bool = False
) -> np.ndarray:
    """Greedy tokens (N, length) of a stacked LSTM decoder conditioned on ``cond`` (N, C).

    Every sequence feeds back only its own tokens, so with ``parallel`` the two halves of
    the batch decode on two threads (8 slerp points: 4 + 4, one register block each).
    """
    n = cond.shape[0]
    tokens = np.zeros((n, length), np.int64)
    p = packed

    def decode(rows: slice) -> None:
        _greedy_decode(
            np.ascontiguousarray(cond[rows]), p.w_cond, p.b_cond, p.w_init, p.b_init, p.rows,
            *p.stack, p.w_out, p.b_out, tokens[rows],
        )  # fmt: skip

    if parallel and n > 1:
        half = n // 2
        _on_two_threads(lambda: decode(slice(0, half)), lambda: decode(slice(half, n)))
    else:
        decode(slice(0, n))
    return tokens
