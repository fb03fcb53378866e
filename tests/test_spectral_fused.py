"""The spectral losses' fused CPU path against the torch.stft path it replaces."""

from __future__ import annotations

import pytest
import torch

from latentmusic.audio import spectral_fused
from latentmusic.audio.spectral import (
    DEFAULT_RESOLUTIONS,
    NormalisedSpectralLoss,
    _stft_mag,
    frame_spectrum,
)
from latentmusic.errors import InputError


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(2048, 240, 1200), (512, 50, 240), (64, 16, 64)])
def test_frame_spectrum_has_torch_stfts_magnitudes(n_fft: int, hop: int, win: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4000, dtype=torch.float64)
    window = torch.hann_window(win, dtype=torch.float64)
    ours = frame_spectrum(x, n_fft, hop, window).abs()
    ref = _stft_mag(x, n_fft, hop, win, window)
    assert ours.shape == (3, ref.shape[2], n_fft // 2 + 1)  # (batch, frames, bins)
    assert torch.allclose(ours.transpose(1, 2), ref, atol=1e-9)


def _loss_and_grad(loss: NormalisedSpectralLoss, est: torch.Tensor, ref: torch.Tensor, fast: bool):
    loss.fast_path = fast
    x = est.clone().requires_grad_()
    value = loss(x, ref)
    (grad,) = torch.autograd.grad(value, x)
    return float(value.detach()), grad


def test_normalised_spectral_loss_fused_path_matches_the_stft_path() -> None:
    assert spectral_fused.available()  # numba is a dependency: the fused path must be there
    torch.manual_seed(1)
    loss = NormalisedSpectralLoss(DEFAULT_RESOLUTIONS)
    ref = 0.3 * torch.randn(4, 6000)
    est = 0.3 * torch.randn(4, 6000)
    est[1, :2500] = 0.0  # silence: magnitudes under the floor, whose gradient is zero
    assert loss.fast_path_applies(est)
    slow_value, slow_grad = _loss_and_grad(loss, est, ref, fast=False)
    fast_value, fast_grad = _loss_and_grad(loss, est, ref, fast=True)
    assert fast_value == pytest.approx(slow_value, rel=1e-5)
    scale = float(slow_grad.abs().max())
    assert scale > 0
    assert float((fast_grad - slow_grad).abs().max()) <= 1e-4 * scale


def test_normalised_spectral_loss_reuses_a_precomputed_reference() -> None:
    torch.manual_seed(2)
    loss = NormalisedSpectralLoss(DEFAULT_RESOLUTIONS)
    ref, est = torch.randn(2, 5000), torch.randn(2, 5000)
    spectra = loss.reference(ref)
    assert [s.shape[-1] for s, _ in spectra] == [n // 2 + 1 for n, _, _ in DEFAULT_RESOLUTIONS]
    assert float(loss(est, ref, spectra)) == pytest.approx(float(loss(est, ref)), rel=1e-6)


def test_an_exact_estimate_has_a_near_zero_loss_and_a_finite_gradient() -> None:
    loss = NormalisedSpectralLoss(DEFAULT_RESOLUTIONS)
    ref = torch.randn(2, 5000)
    x = ref.clone().requires_grad_()
    value = loss(x, ref)
    (grad,) = torch.autograd.grad(value, x)
    assert float(value.detach()) == pytest.approx(
        0.0, abs=1e-5
    )  # float32 rounding of two magnitudes
    assert torch.isfinite(grad).all()


def test_a_zero_distance_has_a_zero_gradient_not_nan() -> None:
    """At distance 0 the norm has no direction: torch's norm gives 0 there, and so must we."""
    padded = torch.zeros(2, 1000, requires_grad=True)  # silence: every magnitude is the floor
    window = torch.hann_window(256)
    frames, bins = 1 + (1000 - 256) // 64, 129
    floor = torch.full((2, frames, bins), 1e-7).sqrt()
    distance = spectral_fused.framed_distance(padded, window, floor, 64)
    (grad,) = torch.autograd.grad(distance.sum(), padded)
    assert distance.tolist() == [0.0, 0.0]
    assert torch.equal(grad, torch.zeros_like(grad))


def test_the_stft_path_runs_where_the_fused_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the fused distance ran")

    monkeypatch.setattr(spectral_fused, "framed_distance", refuse)
    loss = NormalisedSpectralLoss(DEFAULT_RESOLUTIONS)
    est64, ref64 = (
        torch.randn(2, 3000, dtype=torch.float64),
        torch.randn(2, 3000, dtype=torch.float64),
    )
    assert not loss.fast_path_applies(est64)
    loss.fast_path = True
    fused_off = float(loss(est64, ref64))  # float64: torch.stft, never the kernel
    assert fused_off == pytest.approx(float(loss._stft_path(est64, ref64)), rel=1e-12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not loss.fast_path_applies(est64.float())
    with pytest.raises(AssertionError, match="fused distance ran"):  # float32 does take it
        loss(est64.float(), ref64.float())


def test_the_fused_distance_refuses_a_reference_of_another_shape() -> None:
    padded = torch.randn(2, 1000)
    window = torch.hann_window(256)
    with pytest.raises(InputError, match="do not match"):
        spectral_fused.framed_distance(padded, window, torch.rand(2, 5, 129), 64)
