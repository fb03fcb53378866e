"""The WaveNet decoder's gated layers as one autograd node (latentmusic.nn.gated_stack)
compute what the same layers compute op by op, forward and backward."""

from __future__ import annotations

import pytest
import torch

from latentmusic.nn import gate_fused, gated_stack
from latentmusic.nn.wavenet import WaveNetDecoder


def _decoder(kernel: int, dtype: torch.dtype) -> WaveNetDecoder:
    torch.manual_seed(0)
    decoder = WaveNetDecoder(
        residual=6, skip=10, layers=5, cycle=3, kernel=kernel, cond_channels=3, hop=40,
        input_embedding=True,
    )  # fmt: skip
    return decoder.to(dtype)


def _inputs(decoder: WaveNetDecoder, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """A residual stream, a skip-sum start and a conditioning table, as the decoder makes them."""
    torch.manual_seed(1)
    batch, length, r = 3, 200, decoder.residual_channels
    width = 2 * r * len(decoder.layers) + 7  # extra columns: the head's rows, not the layers'
    shapes = [(batch, length, r), (batch * length, decoder.skip_channels)]
    shapes.append((batch, length // decoder.hop, width))
    # Drawn in float64 whatever the dtype: both precisions see the same numbers.
    return tuple(torch.randn(s, dtype=torch.float64).to(dtype).requires_grad_() for s in shapes)


def _run(decoder: WaveNetDecoder, one_node: bool, dtype: torch.dtype) -> list[torch.Tensor]:
    """The skip sum after the layers, weighted and summed, and every gradient."""
    h, s0, table = _inputs(decoder, dtype)
    decoder.zero_grad(set_to_none=True)
    s = s0.clone()  # the layers add into their skip-sum argument in place
    if one_node:
        out = gated_stack.gated_layers(h, s, table, decoder.layers, decoder.kernel)
        assert type(out.grad_fn).__name__ == "_GatedStackBackward"
    else:
        out = decoder._gated_layers_per_op(h, s, table, h.shape[1])
    weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).view(out.shape)
    (out * weights).sum().backward()
    # The layers read these; the conv biases and conditioning come in with the table.
    used = [(layer.dilated.weight, layer.skip.weight) for layer in decoder.layers]
    used += [(layer.res.weight, layer.res.bias) for layer in decoder.layers[:-1]]
    params = [p.grad for pair in used for p in pair]
    assert decoder.layers[-1].res is None
    return [out.detach(), h.grad, s0.grad, table.grad, *params]


@pytest.mark.parametrize("kernel", [2, 3])
def test_one_node_matches_the_per_op_layers_in_float64(kernel: int, node_threads: int) -> None:
    decoder = _decoder(kernel, torch.float64)
    ref = _run(decoder, False, torch.float64)
    new = _run(decoder, True, torch.float64)
    assert len(ref) == len(new)
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        assert b is not None and a is not None, i
        assert float(a.abs().max()) > 0, i  # every gradient is exercised
        assert torch.allclose(a, b, rtol=0, atol=1e-10 * float(a.abs().max())), i
    # The table's extra columns (the head's) get no gradient from the layers.
    assert float(new[3][..., 2 * 6 * 5 :].abs().max()) == 0.0


@pytest.mark.skipif(not gate_fused.available(), reason="the fused float32 gate needs numba")
@pytest.mark.parametrize("kernel", [2, 3])
def test_one_node_with_the_fused_gate_matches_float64(kernel: int, node_threads: int) -> None:
    ref = _run(_decoder(kernel, torch.float64), False, torch.float64)
    new = _run(_decoder(kernel, torch.float32), True, torch.float32)
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        assert float((b.double() - a).abs().max()) <= 1e-5 * float(a.abs().max()), i


def test_the_node_is_a_training_path_only() -> None:
    decoder = _decoder(2, torch.float32)
    codes = torch.randint(0, 256, (2, 400))
    cond = torch.randn(2, 3, 10)
    h = torch.zeros(2, 400, 6)
    assert gated_stack.applies(h, decoder.layers)
    with torch.no_grad():
        assert not gated_stack.applies(h, decoder.layers)
    logits = decoder.logits_time_major(codes, cond)
    nodes, stack = set(), [logits.grad_fn]
    while stack:  # the training graph has the one-node layers in it
        fn = stack.pop()
        if fn is not None and fn not in nodes:
            nodes.add(fn)
            stack += [f for f, _ in fn.next_functions]
    assert "_GatedStackBackward" in {type(f).__name__ for f in nodes}
    with torch.no_grad():  # inference: the per-op layers, same logits
        assert torch.allclose(decoder.logits_time_major(codes, cond), logits, atol=1e-5)
