"""MusicVAE's fused inference path (numba kernels) against the reference torch path.

The fast path must be a pure speed-up: the same tokens as the step-by-step decoder and the
teacher-forced argmax, the same encoder outputs as ``nn.LSTM`` to float rounding, the same
seeded samples, and fresh results after the weights change.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from latentmusic.latent import interpolate, slerp
from latentmusic.musicvae.config import PRESETS, MusicVAEConfig
from latentmusic.musicvae.model import MusicVAE
from latentmusic.nn import rnn, rnn_fused


def _model(config: MusicVAEConfig, seed: int = 0) -> MusicVAE:
    torch.manual_seed(seed)
    return MusicVAE(config).eval()


def _tokens(model: MusicVAE, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    columns = [
        torch.randint(0, d, (n, model.steps, 1), generator=g) for d in model.representation.depths
    ]
    return torch.cat(columns, dim=-1)


def _hier(representation: str, **overrides: object) -> MusicVAEConfig:
    return dataclasses.replace(
        PRESETS["small-trio"], representation=representation, bars=2, z_size=8,
        enc_rnn_size=(16,), dec_rnn_size=(16, 16), conductor_rnn_size=(16,),
        conductor_output_size=12, **overrides,
    )  # fmt: skip


@pytest.fixture(scope="module")
def paper() -> MusicVAE:
    """cat-mel_2bar_small with random weights: the benchmark's model."""
    torch.set_num_threads(1)
    return _model(PRESETS["cat-mel_2bar_small"])


def test_numba_kernels_are_available() -> None:
    assert rnn_fused.available() and rnn.fused_kernels() is rnn_fused


def test_interpolation_decodes_the_same_tokens_as_the_reference(paper: MusicVAE) -> None:
    tokens = _tokens(paper, 2)
    with torch.no_grad():
        z = {fast: paper.encode_tokens(tokens, fast=fast)[0] for fast in (True, False)}
        assert torch.allclose(z[True], z[False], atol=1e-7, rtol=1e-5)
        path = paper.interpolation_latents(z[False], 8)
        fast = paper.decode_tokens(path, 0.0, fast=True)
        reference = paper.decode_tokens(path, 0.0, fast=False)
        assert torch.equal(fast, reference)
        # Random weights barely depend on z: spread the codes to get varied decodings.
        wide = torch.randn(8, 256, generator=torch.Generator().manual_seed(1)) * 3
        fast = paper.decode_tokens(wide, 0.0)
        assert torch.equal(fast, paper.decode_tokens(wide, 0.0, fast=False))
        assert len(torch.unique(fast)) > 5
        logits = paper.track_logits(fast, wide)[0]  # teacher forcing on the chosen tokens
    chosen = logits.gather(-1, fast)[..., 0]
    assert torch.allclose(chosen, logits.max(-1).values, atol=1e-4)


@pytest.mark.parametrize(
    "config",
    [
        dataclasses.replace(PRESETS["tiny"], dec_rnn_size=(24,)),  # one decoder layer
        dataclasses.replace(PRESETS["tiny"], enc_rnn_size=(20, 12), dec_rnn_size=(32, 16, 24)),
        dataclasses.replace(PRESETS["small-drums"], enc_rnn_size=(16,), dec_rnn_size=(16, 8)),
        _hier("trio"),  # three decoders, 512-way drum one-hot in the encoder
        _hier("satb"),  # four 90-class voices
        _hier("melody", drum_roll_input=True),
    ],
    ids=["tiny-1layer", "stack-3layers", "drums-roll", "hier-trio", "hier-satb", "hier-melody"],
)
def test_every_architecture_matches_the_reference(config: MusicVAEConfig) -> None:
    model = _model(config)
    tokens = _tokens(model, 3)
    with torch.no_grad():
        x = model.encoder_input(tokens)
        columns = model._hot_columns(tokens)
        fast_h = model.encoder(x, fast=True, columns=columns)
        assert torch.allclose(fast_h, model.encoder(x, fast=False), atol=1e-6)
        z = torch.randn(4, config.z_size, generator=torch.Generator().manual_seed(2)) * 3
        fast = model.decode_tokens(z, 0.0)
        assert torch.equal(fast, model.decode_tokens(z, 0.0, fast=False))
        short = model.decode_tokens(z, 0.0, length=model.steps // 2 + 1)
        assert torch.equal(short, fast[:, : model.steps // 2 + 1])
        with pytest.raises(ValueError, match=r"One-hot columns must lie in \[0, "):
            model.encoder(x, columns=torch.full_like(tokens, x.shape[-1]))
    if config.representation == "drums":
        assert columns is None  # the drum roll is not one-hot: input GEMM instead of lookup
    else:
        assert columns is not None and columns.shape[-1] == len(model.representation.tracks)


def test_encoder_kernel_matches_nn_lstm_on_saturating_inputs() -> None:
    """Large weights drive the gates into saturation, where the tanh approximation clamps."""
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(7, 12, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(8.0)
        x = torch.randn(3, 9, 7) * 2
        reference, _ = lstm(x)
        proj = [
            torch.nn.functional.linear(x, w, bi + bh).numpy()
            for w, bi, bh in (
                (lstm.weight_ih_l0, lstm.bias_ih_l0, lstm.bias_hh_l0),
                (lstm.weight_ih_l0_reverse, lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse),
            )
        ]
        out = rnn_fused.bilstm_layer(
            proj[0], proj[1], lstm.weight_hh_l0.numpy(), lstm.weight_hh_l0_reverse.numpy()
        )
    assert out.shape == (3, 9, 24)
    np.testing.assert_allclose(out, reference.numpy(), atol=2e-6)
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 37), (13, 37), (13,)))
    np.testing.assert_allclose(rnn_fused.linear(x, w, b), x @ w.T + b, rtol=1e-5, atol=1e-5)
    rows = rng.standard_normal((10, 6)).astype(np.float32)
    bias = np.arange(6, dtype=np.float32)
    columns = np.array([[[0, 4], [9, 9]]])
    np.testing.assert_allclose(
        rnn_fused.hot_rows(rows, bias, columns),
        [[rows[0] + rows[4] + bias, 2 * rows[9] + bias]],
        rtol=1e-6,
    )


def test_seeded_sampling_is_unchanged(paper: MusicVAE) -> None:
    z = torch.randn(4, 256, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        a = paper.decode_tokens(z, 0.8, generator=torch.Generator().manual_seed(5))
        b = paper.decode_tokens(z, 0.8, generator=torch.Generator().manual_seed(5), fast=False)
    assert torch.equal(a, b) and len(torch.unique(a)) > 5
    assert [s.notes for s in paper.sample(3, 0.7, seed=9)] == [
        s.notes for s in paper.sample(3, 0.7, seed=9)
    ]


def test_packed_weights_follow_parameter_updates() -> None:
    model = _model(PRESETS["tiny"])
    z = torch.randn(2, 32)
    tokens = _tokens(model, 2)
    with torch.no_grad():
        before = model.decode_tokens(z)
        model.decoders[0].output.bias[37] += 100.0  # in place, as an optimizer step would be
        assert torch.equal(model.decode_tokens(z), torch.full_like(before, 37))
        h_before = model.encoder(model.encoder_input(tokens), columns=model._hot_columns(tokens))
        model.encoder.layers[0].weight_ih_l0.add_(0.5)
        x, columns = model.encoder_input(tokens), model._hot_columns(tokens)
        h_after = model.encoder(x, columns=columns)
        assert not torch.allclose(h_before, h_after)
        assert torch.allclose(h_after, model.encoder(x, fast=False), atol=1e-6)
    model.load_state_dict(_model(PRESETS["tiny"], seed=1).state_dict())
    with torch.no_grad():
        assert torch.equal(model.decode_tokens(z), model.decode_tokens(z, fast=False))


def test_the_fused_path_runs_only_where_it_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"greedy": 0, "bilstm": 0}
    for name, key in (("greedy_decode", "greedy"), ("bilstm_layer", "bilstm")):
        original = getattr(rnn_fused, name)

        def counted(*args, _original=original, _key=key, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls[_key] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(rnn_fused, name, counted)
    model = _model(PRESETS["tiny"])
    small = _tokens(model, rnn.ENCODER_FUSED_MAX_BATCH)
    with torch.no_grad():
        model.encode_tokens(small)
        model.decode_tokens(torch.zeros(8, 32))
        assert calls == {"greedy": 1, "bilstm": 1}
        model.encode_tokens(_tokens(model, rnn.ENCODER_FUSED_MAX_BATCH + 1))
        model.decode_tokens(torch.zeros(rnn.DECODER_FUSED_MAX_BATCH + 1, 32))
        model.decode_tokens(torch.zeros(8, 32), temperature=0.5)  # sampling keeps torch's RNG
        model.encode_tokens(small, fast=False)
        model.decode_tokens(torch.zeros(8, 32), fast=False)
        assert calls == {"greedy": 1, "bilstm": 1}
    mu, _ = model.encode_tokens(small)  # autograd on: training goes through nn.LSTM
    assert calls["bilstm"] == 1 and mu.requires_grad
    mu.sum().backward()
    assert model.encoder.layers[0].weight_hh_l0.grad.abs().sum() > 0
    monkeypatch.setattr(rnn_fused, "available", lambda: False)  # no numba: torch everywhere
    with torch.no_grad():
        model.decode_tokens(torch.zeros(8, 32))
        model.encode_tokens(small)
    assert calls == {"greedy": 1, "bilstm": 1}


def test_batched_interpolate_equals_slerp_step_by_step() -> None:
    g = torch.Generator().manual_seed(6)
    a = torch.randn(256, generator=g)
    for b in (torch.randn(256, generator=g) * 2, 3 * a, -a):  # general, parallel, opposite
        for steps in (2, 3, 8):
            path = interpolate(a, b, steps, "slerp")
            one_by_one = torch.stack([slerp(a, b, float(t)) for t in torch.linspace(0, 1, steps)])
            one_by_one[0], one_by_one[-1] = a, b
            assert torch.equal(path, one_by_one)
            assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_fast_decode_takes_less_cpu_time(paper: MusicVAE) -> None:
    """The point of the kernel (the benchmark measures it properly): fastest of 5 runs."""
    z = torch.randn(8, 256)

    def best(fast: bool) -> float:
        times = []
        for _ in range(5):
            start = time.process_time()
            paper.decode_tokens(z, 0.0, fast=fast)
            times.append(time.process_time() - start)
        return min(times)

    with torch.no_grad():
        paper.decode_tokens(z, 0.0)  # compile or load the kernel outside the timing
        assert best(True) < best(False)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_two_threads_give_the_same_codes_and_tokens_as_one(
    paper: MusicVAE, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a thread budget of two, the encoder's directions and the decoder's batch halves
    run on two threads: the same kernels on disjoint outputs, so bit-identical results."""
    tokens = _tokens(paper, n, seed=n)
    z = torch.randn(n, 256, generator=torch.Generator().manual_seed(n))
    threads_of = {}
    split = rnn_fused._on_two_threads

    def spied(here, there):  # noqa: ANN001, ANN202
        def on_worker() -> None:
            threads_of["there"] = threading.get_ident()
            there()

        split(here, on_worker)

    monkeypatch.setattr(rnn_fused, "_on_two_threads", spied)
    results = {}
    old = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            threads_of.clear()
            with torch.no_grad():
                mu, sigma = paper.encode_tokens(tokens, fast=True)
                results[threads] = (mu, sigma, paper.decode_tokens(z, 0.0, fast=True))
            assert ("there" in threads_of) is (threads == 2)  # really split, and only then
            assert threads_of.get("there") != threading.get_ident()
    finally:
        torch.set_num_threads(old)
    for one, two in zip(results[1], results[2], strict=True):
        assert torch.equal(one, two)
    with torch.no_grad():
        assert torch.equal(results[2][2], paper.decode_tokens(z, 0.0, fast=False))
