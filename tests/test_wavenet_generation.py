"""Cached WaveNet generation: exactness against teacher forcing, both backends, state
carry-over, sampling, chunked decoding and priming (latentmusic.nn.wavenet)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentmusic.audio.mulaw import mu_law_decode
from latentmusic.audio.spectral import multi_resolution_stft_distance
from latentmusic.errors import InputError
from latentmusic.nn import wavenet_fused
from latentmusic.nn.wavenet import DECODER_SIZES, WaveNetDecoder
from latentmusic.nn.wavenet_generation import WaveNetState, _sample, decode, resolve_backend

BACKENDS = ["torch", "fused"]


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    """One-sample steps are tiny ops: on a shared CPU extra threads only contend."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _make(name: str, seed: int = 0) -> WaveNetDecoder:
    torch.manual_seed(seed)
    return WaveNetDecoder(**DECODER_SIZES[name]).eval()


def _tiny(kernel: int = 2, embedding: bool = False, hop: int = 4, seed: int = 0) -> WaveNetDecoder:
    torch.manual_seed(seed)
    return WaveNetDecoder(
        residual=16,
        skip=24,
        layers=6,
        cycle=3,
        kernel=kernel,
        cond_channels=4,
        hop=hop,
        input_embedding=embedding,
    ).eval()


def test_numba_kernel_is_available_and_auto_picks_it() -> None:
    assert wavenet_fused.available()
    assert resolve_backend(_tiny(), "auto") == "fused"
    assert resolve_backend(_tiny().double(), "auto") == "torch"


@pytest.mark.parametrize(
    "name,backend,steps",
    [
        ("nsynth-small", "fused", 600),
        ("nsynth-small", "torch", 300),
        ("umt-small", "fused", 900),
        ("umt-small", "torch", 300),
        ("nsynth-paper", "fused", 200),
        ("nsynth-paper", "torch", 24),
        ("umt-paper", "fused", 200),
        ("umt-paper", "torch", 60),
    ],
)
def test_incremental_logits_equal_teacher_forced_for_reference_sizes(
    name: str, backend: str, steps: int
) -> None:
    dec = _make(name)
    cond = torch.randn(1, dec.cond_channels, math.ceil(steps / dec.hop))
    codes, _, logits = decode(
        dec, cond, steps, temperature=1.0, seed=1, backend=backend, collect_logits=True
    )
    with torch.no_grad():
        ref = dec(codes, cond)
    assert logits.shape == ref.shape == (1, 256, steps)
    assert (logits - ref).abs().max() < 1e-4
    assert len(set(codes[0].tolist())) > 10  # it really sampled a varied history


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel,embedding", [(2, False), (3, False), (2, True), (3, True)])
def test_exact_across_many_frames_blocks_and_a_batch(
    backend: str, kernel: int, embedding: bool
) -> None:
    dec = _tiny(kernel, embedding)
    cond = torch.randn(3, 4, 160)  # 640 samples, 160 frames: several 32-frame blocks
    codes, state, logits = decode(dec, cond, 600, seed=2, backend=backend, collect_logits=True)
    with torch.no_grad():
        ref = dec(codes, cond)
    assert (logits - ref).abs().max() < 1e-4
    assert state.t == 600 and codes.shape == (3, 600)


def test_torch_and_fused_sample_the_same_codes() -> None:
    dec = _make("nsynth-small")
    cond = torch.randn(2, 16, 1)
    for temperature in (1.0, 0.7):
        a = dec.generate(cond, temperature=temperature, seed=11, backend="torch")
        b = dec.generate(cond, temperature=temperature, seed=11, backend="fused")
        assert torch.equal(a, b)


def test_fused_batch_groups_on_two_threads_match_one_thread() -> None:
    dec = _tiny(kernel=3)
    cond = torch.randn(5, 4, 40)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = dec.generate(cond, seed=4, backend="fused")
        torch.set_num_threads(2)
        two = dec.generate(cond, seed=4, backend="fused")
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, two)


def test_naive_full_recompute_samples_the_same_codes() -> None:
    dec = _tiny(kernel=3)
    cond = torch.randn(2, 4, 25)
    naive = dec.generate_naive(cond, n_samples=100, seed=9)
    cached = dec.generate(cond, n_samples=100, seed=9)
    assert torch.equal(naive, cached)


@pytest.mark.parametrize(
    "first,second", [("torch", "torch"), ("fused", "fused"), ("fused", "torch")]
)
def test_state_carried_across_chunks_equals_one_shot(first: str, second: str) -> None:
    dec = _tiny(kernel=3, embedding=first == second == "torch")
    cond = torch.randn(2, 4, 50)
    whole = dec.generate(cond, seed=3, backend="fused")
    a, state = dec.generate(cond[:, :, :17], seed=3, return_state=True, backend=first)
    b, state = dec.generate(cond[:, :, 17:40], state=state, return_state=True, backend=second)
    c = dec.generate(cond[:, :, 40:], state=state, backend=first)
    assert torch.equal(torch.cat([a, b, c], 1), whole)
    assert isinstance(state, WaveNetState) and state.t == 40 * 4


def test_generate_leaves_the_given_state_untouched() -> None:
    dec = _tiny()
    cond = torch.randn(1, 4, 10)
    _, state = dec.generate(cond, seed=1, return_state=True)
    again = state.clone()
    x = dec.generate(cond, state=state)
    y = dec.generate(cond, state=again)
    assert torch.equal(x, y) and state.t == 40


def test_greedy_is_deterministic_and_follows_the_argmax() -> None:
    dec = _tiny(kernel=2, embedding=True)
    cond = torch.randn(2, 4, 30)
    a = dec.generate(cond, temperature=0.0, seed=1)
    b = dec.generate(cond, temperature=0.0, seed=2, backend="torch")
    assert torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(dec(a, cond).argmax(1), a)


def test_seeds_repeat_and_differ() -> None:
    dec = _tiny()
    cond = torch.randn(1, 4, 20)
    assert torch.equal(dec.generate(cond, seed=5), dec.generate(cond, seed=5))
    assert not torch.equal(dec.generate(cond, seed=5), dec.generate(cond, seed=6))
    torch.manual_seed(123)
    x = dec.generate(cond)
    torch.manual_seed(123)
    assert torch.equal(x, dec.generate(cond))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampling_follows_the_tempered_softmax(backend: str, temperature: float) -> None:
    dec = _tiny(seed=3)
    n = 4000
    cond = torch.randn(1, 4, 1).expand(n, 4, 1)  # identical first step for every batch item
    codes, _, logits = decode(
        dec, cond, 1, temperature, seed=0, backend=backend, collect_logits=True
    )
    p = torch.softmax(logits[0, :, 0].double() / temperature, 0)
    values = torch.arange(256, dtype=torch.float64)
    mean, std = (
        float((p * values).sum()),
        float((p * (values - (p * values).sum()) ** 2).sum()) ** 0.5,
    )
    assert abs(codes[:, 0].double().mean().item() - mean) < 4 * std / n**0.5
    hist = torch.bincount(codes[:, 0], minlength=256).double() / n
    top = p.argsort(descending=True)[:5]
    assert (hist[top] - p[top]).abs().max() < 0.03


def test_inverse_cdf_sampler_edges() -> None:
    logits = torch.tensor([[0.0, math.log(3.0), -1e9]])
    assert _sample(logits, 1.0, torch.tensor([0.2499], dtype=torch.float64)).item() == 0
    assert _sample(logits, 1.0, torch.tensor([0.2501], dtype=torch.float64)).item() == 1
    assert _sample(logits, 1.0, torch.tensor([0.99999], dtype=torch.float64)).item() == 1
    assert _sample(logits, 0.0, None).item() == 1


def test_chunked_output_has_frames_times_hop_samples() -> None:
    dec = _tiny(hop=8)
    for frames in (1, 13, 40):
        cond = torch.randn(2, 4, frames)
        codes = dec.generate_chunked(cond, chunk_frames=6, overlap_frames=4, seed=0)
        assert codes.shape == (2, frames * 8) and codes.dtype == torch.int64
        audio = dec.generate_chunked(
            cond, chunk_frames=6, overlap_frames=4, seed=0, fade="equal_power", return_audio=True
        )
        assert audio.shape == (2, frames * 8) and audio.abs().max() <= 1.0


def test_one_chunk_is_exactly_sequential_decoding() -> None:
    dec = _tiny(hop=8)
    cond = torch.randn(1, 4, 12)
    seq = dec.generate(cond, seed=7)
    one = dec.generate_chunked(cond, chunk_frames=12, overlap_frames=3, seed=7)
    assert torch.equal(one, seq)


def test_chunked_decoding_stays_close_to_sequential_with_the_same_seed() -> None:
    dec = WaveNetDecoder(
        residual=24, skip=24, layers=8, cycle=8, kernel=2, cond_channels=4, hop=128
    )
    cond = torch.randn(1, 4, 64)
    seq = dec.generate(cond, seed=5)
    other = dec.generate(cond, seed=6)
    chunked = dec.generate_chunked(cond, chunk_frames=8, overlap_frames=4, seed=5)
    same = (chunked == seq).double().mean().item()
    assert same > 0.8  # common random numbers lock most chunks onto the sequential path
    d_chunk = multi_resolution_stft_distance(mu_law_decode(seq[0]), mu_law_decode(chunked[0]))
    d_seed = multi_resolution_stft_distance(mu_law_decode(seq[0]), mu_law_decode(other[0]))
    assert d_chunk < 0.5 * d_seed


@pytest.mark.parametrize("backend", BACKENDS)
def test_prime_then_greedy_continues_the_teacher_forced_argmax(backend: str) -> None:
    dec = _tiny(kernel=3)
    cond = torch.randn(1, 4, 20)
    known = torch.randint(0, 256, (1, 32))
    state = dec.prime(known, cond[:, :, :8], backend=backend)
    assert state.t == 32
    rest = dec.generate(cond[:, :, 8:], temperature=0.0, state=state, backend=backend)
    with torch.no_grad():
        full = torch.cat([known, rest], 1)
        assert torch.equal(dec(full, cond).argmax(1)[:, 32:], rest)


def test_generate_rejects_bad_arguments_with_one_sentence() -> None:
    dec = _tiny()
    cond = torch.randn(2, 4, 5)
    with pytest.raises(InputError, match=r"Conditioning must have shape \(batch, 4, frames\)"):
        dec.generate(torch.randn(2, 3, 5))
    with pytest.raises(InputError, match=r"21 samples need 6 conditioning frames \(hop 4\), got 5"):
        dec.generate(cond, n_samples=21)
    with pytest.raises(InputError, match="Temperature must be 0 \\(greedy\\) or positive, got -1"):
        dec.generate(cond, temperature=-1)
    with pytest.raises(InputError, match="Backend must be 'auto', 'torch' or 'fused', got 'gpu'"):
        dec.generate(cond, backend="gpu")  # type: ignore[arg-type]
    _, state = dec.generate(cond[:1], return_state=True)
    with pytest.raises(
        InputError, match="state is for batch size 1, the conditioning has batch size 2"
    ):
        dec.generate(cond, state=state)
    with pytest.raises(InputError, match="fused WaveNet backend runs float32 models on the CPU"):
        _tiny().double().generate(cond.double(), backend="fused")
    with pytest.raises(InputError, match="overlap_frames must be an integer >= 0, got -1"):
        dec.generate_chunked(cond, chunk_frames=2, overlap_frames=-1)


def test_fast_tanh_approximation_is_float32_accurate() -> None:
    x = np.linspace(-20, 20, 200001, dtype=np.float32)
    err = np.abs(wavenet_fused.fast_tanh(x).astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert err.max() < 5e-7
