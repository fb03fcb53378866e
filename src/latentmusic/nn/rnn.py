"""Recurrent building blocks of MusicVAE: stacked (bi)LSTMs and states initialised from a code.

These mirror magenta's ``lstm_utils``: layers may have different widths (``[2048, 2048]``
encoders, ``[256, 256]`` decoders), the forget-gate bias starts at 1 (TensorFlow's
``LSTMBlockCell`` adds 1.0 to it), and ``InitialState`` is
``initial_cell_state_from_embedding``: one dense layer with tanh from a latent code (or a
conductor embedding) to every layer's ``(h, c)``.

Inference on small batches (an interactive interpolation encodes 2 melodies and decodes 8)
runs through the numba kernels of ``latentmusic.nn.rnn_fused`` when numba is there: the
encoder's recurrences and a decoder's whole greedy loop each become one compiled call.
Training (autograd on), big batches, other devices and dtypes keep ``torch.nn.LSTM``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.errors import ConfigError, InputError

LSTMState = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: h, c of shape (1, B, H)

# Largest batches for which the fused kernels beat torch on one core (measured with
# benchmarks/musicvae.py's model, cat-mel_2bar_small): the encoder's recurrence streams
# 8 MB of weights per step, so only tiny batches gain; a greedy decode still gains at 256
# on one core, but the kernel is single-threaded and torch's GEMMs use every thread.
ENCODER_FUSED_MAX_BATCH = 4
DECODER_FUSED_MAX_BATCH = 64


def fused_kernels() -> ModuleType | None:
    """``latentmusic.nn.rnn_fused`` when numba is available, else None (imported lazily:
    numba costs a third of a second to import)."""
    from latentmusic.nn import rnn_fused

    return rnn_fused if rnn_fused.available() else None


def fused_parallel() -> bool:
    """Whether the fused kernels may use a second thread: the user's torch thread budget
    (``torch.set_num_threads``, ``--threads``) allows more than one."""
    return torch.get_num_threads() > 1


def use_fused(x: torch.Tensor, max_batch: int) -> bool:
    """Whether an inference call on ``x`` (batch first) should take the fused CPU kernels:
    no autograd, float32 on the CPU, at most ``max_batch`` examples, numba importable."""
    return (
        not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and 0 < x.shape[0] <= max_batch
        and fused_kernels() is not None
    )


def as_numpy(x: torch.Tensor) -> np.ndarray:
    """A C-contiguous float32 numpy view (or copy) of a tensor."""
    return x.detach().to(torch.float32).contiguous().numpy()


def parameters_key(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """Changes whenever a parameter is replaced or updated in place (optimizer step,
    ``load_state_dict``): the key under which packed copies of the weights stay valid."""
    return tuple((p.data_ptr(), p._version) for p in module.parameters())


def _forget_bias_one(lstm: nn.LSTM) -> None:
    """PyTorch gate order is (input, forget, cell, output): start the forget bias at 1."""
    for name, param in lstm.named_parameters():
        if name.startswith("bias_ih"):
            with torch.no_grad():
                param.zero_()
                hidden = param.shape[0] // 4
                param[hidden : 2 * hidden] = 1.0
        elif name.startswith("bias_hh"):
            with torch.no_grad():
                param.zero_()


class StackedLSTM(nn.Module):
    """Unidirectional LSTM layers of possibly different widths (magenta's ``MultiRNNCell``)."""

    def __init__(self, input_size: int, sizes: Sequence[int]) -> None:
        super().__init__()
        if not sizes:
            raise ConfigError("StackedLSTM needs at least one layer size.")
        self.sizes = tuple(int(s) for s in sizes)
        layers = []
        width = input_size
        for size in self.sizes:
            lstm = nn.LSTM(width, size, batch_first=True)
            _forget_bias_one(lstm)
            layers.append(lstm)
            width = size
        self.layers = nn.ModuleList(layers)

    @property
    def output_size(self) -> int:
        return self.sizes[-1]

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """``x`` (B, T, D) -> top-layer outputs (B, T, H) and the new state of every layer."""
        new_state: LSTMState = []
        for i, layer in enumerate(self.layers):
            x, (h, c) = layer(x, None if state is None else state[i])
            new_state.append((h, c))
        return x, new_state


class InitialState(nn.Module):
    """Dense + tanh from an embedding to the initial ``(h, c)`` of every layer of a stack."""

    def __init__(self, embedding_size: int, sizes: Sequence[int]) -> None:
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        self.dense = nn.Linear(embedding_size, 2 * sum(self.sizes))
        nn.init.normal_(self.dense.weight, std=0.001)  # magenta's initializer
        nn.init.zeros_(self.dense.bias)

    def forward(self, embedding: torch.Tensor) -> LSTMState:
        flat = torch.tanh(self.dense(embedding))
        state: LSTMState = []
        offset = 0
        for size in self.sizes:
            h = flat[:, offset : offset + size]
            c = flat[:, offset + size : offset + 2 * size]
            offset += 2 * size
            state.append((h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
        return state


class BidirectionalLSTMEncoder(nn.Module):
    """Stacked bidirectional LSTM; the code is the last forward and last backward output.

    Each layer reads the concatenated forward/backward outputs of the layer below
    (``stack_bidirectional_dynamic_rnn``); the result is ``[h_fw(T), h_bw(1)]`` of the top layer.
    """

    def __init__(self, input_size: int, sizes: Sequence[int]) -> None:
        super().__init__()
        if not sizes:
            raise ConfigError("BidirectionalLSTMEncoder needs at least one layer size.")
        self.sizes = tuple(int(s) for s in sizes)
        layers = []
        width = input_size
        for size in self.sizes:
            lstm = nn.LSTM(width, size, batch_first=True, bidirectional=True)
            _forget_bias_one(lstm)
            layers.append(lstm)
            width = 2 * size
        self.layers = nn.ModuleList(layers)
        self._rows: tuple[tuple[tuple[int, int], ...], list[np.ndarray]] | None = None

    @property
    def output_size(self) -> int:
        return 2 * self.sizes[-1]

    def forward(
        self, x: torch.Tensor, fast: bool = True, columns: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` (B, T, D) -> (B, 2 * sizes[-1]).

        ``fast`` lets small inference batches run the fused kernel (the same numbers to
        float rounding); False always uses ``nn.LSTM``. ``columns`` (B, T, K), when ``x`` is
        K one-hots side by side, names their hot columns so the fused path looks up
        columns of the input weights instead of multiplying by the one-hots.
        """
        if fast and use_fused(x, ENCODER_FUSED_MAX_BATCH):
            return self._forward_fused(x, columns)
        h = None
        for layer in self.layers:
            x, (h, _) = layer(x)
        assert h is not None
        return torch.cat([h[0], h[1]], dim=-1)

    def _input_rows(self) -> list[np.ndarray]:
        """W_ih^T of the first layer, per direction, contiguous: row c is one-hot column c's
        contribution (packed once per parameter update)."""
        key = parameters_key(self)
        if self._rows is None or self._rows[0] != key:
            first = self.layers[0]
            rows = [as_numpy(w.t()) for w in (first.weight_ih_l0, first.weight_ih_l0_reverse)]
            self._rows = (key, rows)
        return self._rows[1]

    def _forward_fused(self, x: torch.Tensor, columns: torch.Tensor | None) -> torch.Tensor:
        kernels = fused_kernels()
        assert kernels is not None
        for i, layer in enumerate(self.layers):
            biases = (
                layer.bias_ih_l0 + layer.bias_hh_l0,
                layer.bias_ih_l0_reverse + layer.bias_hh_l0_reverse,
            )
            if i == 0 and columns is not None:  # one-hot @ W^T == a sum of rows of W^T
                cols = columns.to(torch.int64).contiguous().numpy()
                if cols.size and not 0 <= cols.min() <= cols.max() < x.shape[-1]:
                    raise InputError(f"One-hot columns must lie in [0, {x.shape[-1]}).")
                proj = [
                    kernels.hot_rows(rows, as_numpy(b), cols)
                    for rows, b in zip(self._input_rows(), biases, strict=True)
                ]
            else:  # the input projections of every step at once, one GEMM per direction
                weights = (layer.weight_ih_l0, layer.weight_ih_l0_reverse)
                proj = [as_numpy(F.linear(x, w, b)) for w, b in zip(weights, biases, strict=True)]
            out = kernels.bilstm_layer(
                proj[0],
                proj[1],
                as_numpy(layer.weight_hh_l0),
                as_numpy(layer.weight_hh_l0_reverse),
                parallel=fused_parallel(),
            )
            x = torch.from_numpy(out)
        size = self.sizes[-1]
        return torch.cat([x[:, -1, :size], x[:, 0, size:]], dim=-1)
