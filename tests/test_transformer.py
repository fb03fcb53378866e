"""Pre-LN transformer: causality, the KV cache matches full recomputation, cross-attention."""

from __future__ import annotations

import pytest
import torch

from latentmusic.nn.transformer import Transformer


def _model(**kw) -> Transformer:
    torch.manual_seed(0)
    return Transformer(32, 3, 4, m_attn=0.5, **kw).double().eval()


def test_causal_outputs_do_not_see_the_future() -> None:
    model = _model()
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    y = model(x)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 32, dtype=torch.float64)
    y2 = model(x2)
    assert torch.allclose(y[:, :6], y2[:, :6])
    assert not torch.allclose(y[:, 6:], y2[:, 6:])


def test_kv_cache_in_chunks_equals_full_pass_with_cross_attention() -> None:
    model = _model(context_width=16, cross_every=2)
    assert model.cross_layers == {1}
    x = torch.randn(2, 12, 32, dtype=torch.float64)
    ctx = torch.randn(2, 5, 16, dtype=torch.float64)
    ctx_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    full = model(x, context=ctx, context_mask=ctx_mask)
    cache = model.new_cache(2, 12, dtype=torch.float64)
    parts = [
        model(x[:, a:b], context=ctx, context_mask=ctx_mask, cache=cache)
        for a, b in ((0, 5), (5, 6), (6, 12))
    ]
    assert cache.length == 12
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-10)
    # masked context positions are ignored
    ctx2 = ctx.clone()
    ctx2[1, 3:] = 99.0
    assert torch.allclose(model(x, context=ctx2, context_mask=ctx_mask)[1], full[1])


def test_bidirectional_encoder_ignores_padding_and_cache_overflow_is_an_error() -> None:
    model = _model(causal=False)
    x = torch.randn(1, 6, 32, dtype=torch.float64)
    mask = torch.tensor([[True, True, True, True, False, False]])
    y = model(x, key_mask=mask)
    x2 = x.clone()
    x2[:, 4:] = 5.0
    assert torch.allclose(model(x2, key_mask=mask)[:, :4], y[:, :4])
    causal = _model()
    cache = causal.new_cache(1, 4, dtype=torch.float64)
    causal(x[:, :4], cache=cache)
    with pytest.raises(ValueError, match="KV cache holds 4 positions"):
        causal(x[:, 4:5], cache=cache)


def test_attention_width_follows_m_attn() -> None:
    model = Transformer(64, 1, 2, m_attn=0.25, m_mlp=1.0)
    block = model.blocks[0]
    assert block.attn.qkv.out_features == 3 * 16  # 0.25 x 64
    assert block.mlp.fc.out_features == 64  # 1 x width
