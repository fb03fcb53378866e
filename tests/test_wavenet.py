"""WaveNet stacks in latentmusic.nn.wavenet: shapes, causality, errors, and that they learn."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from latentmusic.errors import ConfigError, InputError
from latentmusic.nn.wavenet import NonCausalWaveNetEncoder, WaveNetDecoder


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    """Tiny models: on a shared 2-core CPU a second torch thread only adds contention."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_nsynth_encoder_turns_a_four_second_note_into_125_frames_of_16() -> None:
    torch.manual_seed(0)
    enc = NonCausalWaveNetEncoder(channels=16, layers=4, cycle=2, out_channels=16, pool=512)
    z = enc(torch.rand(2, 64000) * 2 - 1)
    assert z.shape == (2, 16, 125)
    assert torch.isfinite(z).all()


def test_paper_size_encoders_give_frame_rate_latents() -> None:
    torch.manual_seed(0)
    nsynth = NonCausalWaveNetEncoder()  # 30 layers, 128 channels, kernel 3, 16 out, pool 512
    assert len(nsynth.dilated) == 30 and nsynth.dilations[9] == 512 and nsynth.dilations[10] == 1
    assert nsynth(torch.zeros(1, 2048)).shape == (1, 16, 4)
    umt = NonCausalWaveNetEncoder(channels=32, layers=30, out_channels=64, pool=800, style="umt")
    z = umt(torch.rand(1, 16000) * 2 - 1)  # one second at 16 kHz -> 20 Hz latents
    assert z.shape == (1, 64, 20)


def test_encoder_pools_by_averaging() -> None:
    enc = NonCausalWaveNetEncoder(channels=8, layers=2, cycle=2, out_channels=4, pool=100)
    audio = torch.rand(1, 1000) * 2 - 1
    with torch.no_grad():
        x = enc._same(enc.start, audio.unsqueeze(1), 1)
        for conv, res, d in zip(enc.dilated, enc.residual, enc.dilations, strict=True):
            x = x + res(F.relu(enc._same(conv, F.relu(x), d)))
        full = enc.bottleneck(x)
        z = enc(audio)
    assert torch.allclose(z[0, :, 3], full[0, :, 300:400].mean(-1), atol=1e-6)


def test_encoder_rejects_bad_input_with_one_sentence() -> None:
    enc = NonCausalWaveNetEncoder(channels=8, layers=2, cycle=2, pool=512)
    with pytest.raises(InputError, match=r"Encoder input has 100 samples, fewer than one latent"):
        enc(torch.zeros(1, 100))
    with pytest.raises(InputError, match=r"shape \(batch, samples\)"):
        enc(torch.zeros(1, 2, 3, 4))
    with pytest.raises(ConfigError, match="Encoder style must be 'nsynth' or 'umt', got 'x'"):
        NonCausalWaveNetEncoder(style="x")  # type: ignore[arg-type]


def test_decoder_config_errors() -> None:
    with pytest.raises(ConfigError, match="kernel must be at least 2, got 1"):
        WaveNetDecoder(kernel=1)
    with pytest.raises(ConfigError, match="WaveNet residual must be a positive integer, got 0"):
        WaveNetDecoder(residual=0)


def _tiny(kernel: int = 2, embedding: bool = False, hop: int = 8) -> WaveNetDecoder:
    return WaveNetDecoder(
        residual=16,
        skip=16,
        layers=6,
        cycle=3,
        kernel=kernel,
        cond_channels=4,
        hop=hop,
        input_embedding=embedding,
    )


@pytest.mark.parametrize("kernel,embedding", [(2, False), (3, False), (2, True), (3, True)])
def test_decoder_is_causal_and_conditioned_per_frame(kernel: int, embedding: bool) -> None:
    torch.manual_seed(0)
    dec = _tiny(kernel, embedding).eval()
    codes = torch.randint(0, 256, (2, 64))
    cond = torch.randn(2, 4, 8)
    with torch.no_grad():
        base = dec(codes, cond)
        assert base.shape == (2, 256, 64)
        changed = codes.clone()
        changed[:, 30] = (changed[:, 30] + 100) % 256
        out = dec(changed, cond)
        # logits at t predict codes[t] from codes[<t]: position 30 itself is unaffected
        assert torch.equal(out[:, :, :31], base[:, :, :31])
        assert (out[:, :, 31] - base[:, :, 31]).abs().max() > 1e-4
        cond2 = cond.clone()
        cond2[:, :, 5] += 1.0  # frame 5 covers samples 40..47 (hop 8)
        out = dec(codes, cond2)
        assert torch.equal(out[:, :, :40], base[:, :, :40])
        assert (out[:, :, 40:48] - base[:, :, 40:48]).abs().amax(dim=1).min() > 1e-5


def test_receptive_field_matches_the_conv_stack() -> None:
    """The logits at t depend on exactly codes[t - rf : t]: checked on the gradient, because
    the oldest code's effect on the output (~1e-7) is below float32 resolution of a forward diff."""
    torch.manual_seed(0)
    dec = _tiny(kernel=3).eval()
    rf = dec.receptive_field
    assert rf == 2 * (1 + 2 + 4) * 2 + 3
    cond = torch.randn(1, 4, 16)
    codes = torch.randint(0, 256, (1, 100))
    with torch.no_grad():
        base = dec(codes, cond)[:, :, 99]
        old = codes.clone()
        old[:, 99 - rf - 1] = (old[:, 99 - rf - 1] + 7) % 256  # just outside: no effect
        assert torch.equal(dec(old, cond)[:, :, 99], base)
    scaled = {}
    to_unit = dec._scale

    def leaf_scale(prev: torch.Tensor) -> torch.Tensor:
        scaled["x"] = to_unit(prev).requires_grad_()
        return scaled["x"]

    dec._scale = leaf_scale  # the scaled previous-code signal becomes a leaf we can differentiate
    dec(codes, cond)[0, :, 99].sum().backward()
    seen = (scaled["x"].grad[0] != 0).nonzero().flatten() - 1  # prev[j] holds codes[j - 1]
    assert seen.tolist() == list(range(99 - rf, 99))


def test_forward_rejects_mismatched_inputs() -> None:
    dec = _tiny()
    with pytest.raises(InputError, match=r"Conditioning must have shape \(batch, 4, frames\)"):
        dec(torch.zeros(1, 16, dtype=torch.long), torch.zeros(1, 3, 2))
    with pytest.raises(InputError, match="disagree on batch size: 1 vs 2"):
        dec(torch.zeros(1, 16, dtype=torch.long), torch.zeros(2, 4, 2))
    with pytest.raises(InputError, match=r"17 samples need 3 conditioning frames \(hop 8\), got 2"):
        dec(torch.zeros(1, 17, dtype=torch.long), torch.zeros(1, 4, 2))


def test_a_tiny_decoder_overfits_one_conditioned_sequence() -> None:
    torch.manual_seed(0)
    dec = _tiny(kernel=2, hop=64)
    t = torch.arange(512, dtype=torch.float32)
    audio = 0.6 * torch.sin(2 * math.pi * 440 * t / 16000) * (t < 256) + 0.3 * torch.sin(
        2 * math.pi * 660 * t / 16000
    ) * (t >= 256)
    from latentmusic.audio.mulaw import mu_law_encode

    codes = mu_law_encode(audio).unsqueeze(0)
    cond = torch.zeros(1, 4, 8)
    cond[:, 0, :4] = 1.0  # the conditioning says which tone is playing
    cond[:, 1, 4:] = 1.0
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = F.cross_entropy(dec(codes, cond), codes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 5.0  # about ln 256 at initialisation
    assert losses[-1] < 0.35 * losses[0]
    assert min(losses[-10:]) < min(losses[:50])


def test_bf16_autocast_trains_through_the_reference_path() -> None:
    """Under autocast the time-major kernels (one dtype, in-place accumulation) step aside:
    the step runs in bf16 and matches the float32 logits to bf16's precision."""
    from latentmusic.nn.timemajor import fast_path_applies

    torch.manual_seed(0)
    dec, enc = (
        _tiny(),
        NonCausalWaveNetEncoder(channels=8, layers=3, cycle=3, out_channels=4, pool=8),
    )
    codes, cond = torch.randint(0, 256, (2, 64)), torch.randn(2, 4, 8)
    audio = torch.randn(2, 64)
    exact = dec(codes, cond)
    assert fast_path_applies(dec, codes)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fast_path_applies(dec, codes)
        mixed = dec(codes, cond)
        z = enc(audio)
    mixed.float().sum().backward()  # the gradient flows (the fast path failed right here)
    assert z.shape == (2, 4, 8)
    assert (mixed.float() - exact).abs().max() < 0.05 * exact.abs().max()
