"""latentmusic.audio DSP: mu-law, spectral features/losses, rainbowgram, pitch-shift augment."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from latentmusic.audio import augment, mulaw, rainbowgram, spectral
from latentmusic.errors import InputError

SR = 16000


def sine(freq: float, seconds: float, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    n_fft = 1 << 18
    spec = np.log(np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft)) + 1e-12)
    k = int(np.argmax(spec))
    a, b, c = spec[k - 1], spec[k], spec[k + 1]
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n_fft


# ---- mu-law -----------------------------------------------------------------------------


def test_mulaw_code_centres_roundtrip_exactly_numpy_and_torch():
    codes = np.arange(256)
    centres = mulaw.mu_law_decode(codes)
    assert centres.dtype == np.float32 and centres[0] == -1.0 and centres[-1] == 1.0
    assert np.all(np.diff(centres) > 0)
    enc = mulaw.mu_law_encode(centres)
    assert enc.dtype == np.int64
    np.testing.assert_array_equal(enc, codes)
    np.testing.assert_array_equal(mulaw.mu_law_decode(enc), centres)

    t_codes = torch.arange(256)
    t_centres = mulaw.mu_law_decode(t_codes)
    assert isinstance(t_centres, torch.Tensor) and t_centres.dtype == torch.float32
    t_enc = mulaw.mu_law_encode(t_centres)
    assert isinstance(t_enc, torch.Tensor) and t_enc.dtype == torch.int64
    assert torch.equal(t_enc, t_codes)
    assert torch.equal(mulaw.mu_law_decode(t_enc), t_centres)
    np.testing.assert_allclose(t_centres.numpy(), centres, atol=1e-6)


def test_mulaw_values_clipping_and_quantisation_error():
    enc = mulaw.mu_law_encode(np.array([-3.0, -1.0, 0.0, 1.0, 3.0]))
    np.testing.assert_array_equal(enc, [0, 0, 128, 255, 255])
    x = sine(440, 0.25, amp=0.8)
    y = mulaw.mu_law_decode(mulaw.mu_law_encode(x))
    err = y - x
    assert np.abs(err).max() < 0.02  # half the widest cell near full scale
    snr_db = 10 * np.log10(np.mean(x**2) / np.mean(err**2))
    assert snr_db > 35
    # Quiet signals keep relative precision (the point of companding).
    quiet = 0.01 * x
    q_err = mulaw.mu_law_decode(mulaw.mu_law_encode(quiet)) - quiet
    assert np.abs(q_err).max() < 0.0005
    assert np.array_equal(mulaw.mu_law_encode(torch.from_numpy(x)).numpy(), mulaw.mu_law_encode(x))


# ---- spectral features --------------------------------------------------------------------


def test_stft_mel_cqt_find_the_tone():
    x = sine(1000, 1.0)
    mag = spectral.stft_magnitude(x, n_fft=2048, hop_length=512)
    assert isinstance(mag, np.ndarray) and mag.shape == (1025, 1 + SR // 512)
    assert int(np.argmax(mag[:, 10])) == round(1000 / (SR / 2048))
    t_mag = spectral.stft_magnitude(torch.from_numpy(x)[None, None])
    assert isinstance(t_mag, torch.Tensor) and t_mag.shape == (1, 1, 1025, 32)

    mel = spectral.mel_spectrogram(x, SR, n_mels=64)
    assert mel.shape == (64, 1 + SR // 256)
    mel_bin = int(np.argmax(mel[:, 10]))
    import librosa

    centres = librosa.mel_frequencies(64 + 2, fmax=SR / 2)[1:-1]
    assert abs(centres[mel_bin] - 1000) < 120

    c = spectral.cqt(sine(440, 2.0), SR)  # C1 .. B7, 12 bins per octave
    assert np.iscomplexobj(c) and c.shape == (84, 1 + 2 * SR // 256)
    assert int(np.argmax(np.abs(c[:, 30]))) == 45  # A4 is 3 octaves + 9 semitones above C1


def test_multi_resolution_loss_behaviour():
    loss = spectral.MultiResolutionSTFTLoss()
    g = torch.Generator().manual_seed(0)
    t = torch.arange(8000) / SR
    clean = (0.5 * torch.sin(2 * np.pi * 440 * t) + 0.2 * torch.sin(2 * np.pi * 1230 * t))[None]
    assert loss(clean, clean).item() == 0.0
    scaled = loss(0.95 * clean, clean).item()
    noise = loss(0.5 * torch.randn(1, 8000, generator=g), clean).item()
    assert 0 < scaled < 0.1 < noise
    # (B, 1, T) and (B, T) give the same value; short inputs (< n_fft) are padded.
    batch = torch.randn(3, 8000, generator=g)
    est = batch + 0.1 * torch.randn(3, 8000, generator=g)
    assert torch.allclose(loss(est, batch), loss(est[:, None], batch[:, None]))
    short = loss(est[:, :300], batch[:, :300])
    assert torch.isfinite(short) and short > 0
    # Gradients flow and descending them makes the estimate closer.
    x = (0.1 * torch.randn(1, 4000, generator=g)).requires_grad_()
    target = clean[:, :4000]
    opt = torch.optim.Adam([x], lr=1e-2)
    first = loss(x, target)
    first.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for _ in range(30):
        opt.zero_grad()
        value = loss(x, target)
        value.backward()
        opt.step()
    assert loss(x, target).item() < 0.85 * first.item()
    identical = clean.clone().requires_grad_()
    loss(identical, clean).backward()
    assert torch.isfinite(identical.grad).all()
    assert not list(loss.state_dict())  # windows are not saved into checkpoints


def test_eval_distances():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(16000).astype(np.float32)
    assert spectral.multi_resolution_stft_distance(a, a[:-100]) == 0.0  # trimmed to shorter
    near = spectral.multi_resolution_stft_distance(a, a + 0.01 * rng.standard_normal(16000))
    far = spectral.multi_resolution_stft_distance(a, a + 0.3 * rng.standard_normal(16000))
    assert isinstance(near, float) and 0 < near < far
    assert abs(spectral.spectral_convergence_db(a, 0.9 * a) - (-20.0)) < 0.01
    assert spectral.spectral_convergence_db(a, a) == -200.0
    small = spectral.spectral_convergence_db(a, a + 0.01 * rng.standard_normal(16000))
    large = spectral.spectral_convergence_db(a, a + 0.3 * rng.standard_normal(16000))
    assert small < large < 0


# ---- rainbowgram --------------------------------------------------------------------------


def test_rainbowgram_image_and_png(tmp_path):
    import librosa

    chirp = librosa.chirp(fmin=100, fmax=3000, sr=SR, duration=2.0).astype(np.float32)
    img = rainbowgram.rainbowgram_image(chirp, SR)
    assert img.dtype == np.uint8 and img.shape == (7 * 24, 1 + len(chirp) // 256, 3)
    rows = img.astype(float).sum(axis=2)[:, 8:-8].argmax(axis=0)  # brightest row per frame
    start, end = rows[: len(rows) // 4].mean(), rows[-len(rows) // 4 :].mean()
    assert end < start - 60  # rising pitch moves up the picture (row 0 is the top)
    assert np.all(np.diff(rows) <= 2)

    path = rainbowgram.save_rainbowgram(chirp, SR, tmp_path / "chirp.png", min_size=256)
    assert path.exists() and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    png = np.asarray(Image.open(path))
    assert png.shape == (2 * img.shape[0], 3 * img.shape[1], 3)
    np.testing.assert_array_equal(png[::2, ::3], img)


def test_rainbowgram_tone_has_steady_colour_and_silence_is_black():
    bright, inst_freq = rainbowgram.rainbowgram(sine(440, 2.0), SR)
    assert bright.shape == inst_freq.shape == (168, 126)
    assert bright.min() >= 0.0 and bright.max() == 1.0
    tone_bin = int(np.argmax(bright[:, 60]))
    assert tone_bin == round(24 * np.log2(440 / rainbowgram.FMIN_HZ))
    steady = inst_freq[tone_bin, 20:-20]
    assert steady.std() < 0.01  # constant instantaneous frequency -> constant colour
    silent = rainbowgram.rainbowgram_image(np.zeros(8000, np.float32), SR)
    assert silent.max() == 0


def test_rainbowgram_errors(tmp_path):
    bad = sine(440, 0.5)
    bad[3] = np.nan
    with pytest.raises(InputError, match="A rainbowgram got audio with NaN or infinite values."):
        rainbowgram.rainbowgram_image(bad, SR)
    with pytest.raises(InputError, match=re.escape("x.jpg should end in .png.")):
        rainbowgram.save_rainbowgram(sine(440, 0.5), SR, tmp_path / "x.jpg")
    with pytest.raises(InputError, match="needs non-empty mono"):
        rainbowgram.rainbowgram_image(np.zeros(0), SR)


# ---- segment pitch shift ------------------------------------------------------------------


def test_draw_segment_ranges():
    rng = np.random.default_rng(0)
    draws = [augment.draw_segment(10000, rng) for _ in range(500)]
    assert all(2500 <= d.length <= 5000 and 0 <= d.start <= 10000 - d.length for d in draws)
    assert all(-0.5 <= d.semitones <= 0.5 for d in draws)
    assert max(d.semitones for d in draws) > 0.45 and min(d.semitones for d in draws) < -0.45


def test_segment_pitch_shift_moves_only_the_segment():
    x = sine(440, 2.0)
    seg = augment.draw_segment(len(x), np.random.default_rng(3), max_semitones=2.0)
    assert abs(seg.semitones) > 0.5, "seed should give a clearly measurable shift"
    y = augment.segment_pitch_shift(x, SR, np.random.default_rng(3), max_semitones=2.0)
    assert y.shape == x.shape and y.dtype == np.float32
    a, b = seg.start, seg.start + seg.length
    np.testing.assert_array_equal(y[:a], x[:a])
    np.testing.assert_array_equal(y[b:], x[b:])
    assert not np.allclose(y[a:b], x[a:b])
    margin = 2048  # skip the crossfades and the phase vocoder's edge frames
    measured = peak_hz(y[a + margin : b - margin])
    cents = 1200 * np.log2(measured / 440.0)
    assert abs(cents - 100 * seg.semitones) < 3.0
    # Crossfades: no click at the edges (slope stays near the sine's own maximum slope).
    max_slope = 0.5 * 2 * np.pi * 440 / SR
    assert np.abs(np.diff(y)).max() < 1.5 * max_slope
    # Deterministic given the generator state; another seed gives another result.
    again = augment.segment_pitch_shift(x, SR, np.random.default_rng(3), max_semitones=2.0)
    np.testing.assert_array_equal(again, y)
    other = augment.segment_pitch_shift(x, SR, np.random.default_rng(4), max_semitones=2.0)
    assert not np.array_equal(other, y)


def test_random_colour_changes_the_timbre_not_the_notes():
    sr, n = 16000, 16000
    t = np.arange(n) / sr
    # A 220 Hz note with 6 partials of equal amplitude.
    x = sum(np.sin(2 * np.pi * 220 * k * t) for k in range(1, 7)).astype(np.float32) / 6
    rng = np.random.default_rng(1)
    y = augment.random_colour(x, sr, rng, eq_db=12.0, envelope_db=12.0)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=1e-5)  # peak kept

    def partials(a: np.ndarray) -> np.ndarray:
        mag = np.abs(np.fft.rfft(a))
        return np.array([mag[220 * k] for k in range(1, 7)])  # 1 Hz bins

    before, after = partials(x), partials(y)
    assert before.std() / before.mean() < 1e-3  # a flat harmonic profile...
    assert after.std() / after.mean() > 0.1  # ...recoloured
    spectrum = np.abs(np.fft.rfft(y))
    bins = np.arange(100, 1400)
    near = np.abs(bins[:, None] - 220 * np.arange(1, 7)[None, :]).min(axis=1) <= 15
    # No new notes: away from the partials (the slow envelope's sidebands stay within
    # 15 Hz of them) the spectrum is quiet.
    assert spectrum[bins[~near]].max() < 0.02 * after.max()
    frames = np.abs(y).reshape(16, -1).max(axis=1)
    assert frames.max() / frames.min() > 1.5  # the steady note now swells and fades
    assert np.array_equal(augment.random_colour(x, sr, rng, 0.0, 0.0), x)  # 0 dB: untouched
    with pytest.raises(InputError, match="Colour augmentation needs"):
        augment.random_colour(np.zeros((2, 100), np.float32), sr, rng)
    with pytest.raises(InputError, match=">= 0 dB"):
        augment.random_colour(x, sr, rng, eq_db=-1.0)


def test_segment_pitch_shift_multichannel_and_errors():
    x = np.stack([sine(440, 0.5), sine(660, 0.5)])
    y = augment.segment_pitch_shift(x, SR, np.random.default_rng(0))
    assert y.shape == x.shape
    with pytest.raises(InputError, match="at least 64 samples"):
        augment.segment_pitch_shift(np.zeros(10, np.float32), SR, np.random.default_rng(0))
    with pytest.raises(InputError, match="max_semitones must be >= 0"):
        augment.segment_pitch_shift(x, SR, np.random.default_rng(0), max_semitones=-1.0)


def test_stft_loss_without_convergence_stays_bounded_on_near_silent_targets() -> None:
    """A near-silent crop: spectral convergence divides by its tiny norm; DDSP's L1 does not."""
    import torch

    from latentmusic.audio.spectral import MultiResolutionSTFTLoss

    torch.manual_seed(0)
    quiet = 1e-5 * torch.randn(1, 4000)
    guess = 0.01 * torch.randn(1, 4000)
    with_sc = float(MultiResolutionSTFTLoss()(guess, quiet))
    without = float(MultiResolutionSTFTLoss(convergence=False)(guess, quiet))
    assert with_sc > 100 and without < 20
    same = MultiResolutionSTFTLoss(convergence=False)(quiet, quiet)
    assert float(same) == 0.0
    linear_only = float(MultiResolutionSTFTLoss(convergence=False, log_weight=0.0)(guess, quiet))
    half_log = float(MultiResolutionSTFTLoss(convergence=False, log_weight=0.5)(guess, quiet))
    assert 0 < linear_only < half_log < without
    assert half_log == pytest.approx((linear_only + without) / 2, rel=1e-5)
