"""The fast time-major training path computes the same model as the reference path.

Same parameters, same loss, same gradient for every parameter, for the tiny presets of the
three audio families (NSynth WaveNet autoencoder, music translation, Jukebox VQ-VAE), and
the time-major conv kernels against torch's own convolutions. In float32 the two paths
differ only by summation order (checked to 1e-4 of each gradient's largest entry); in
float64 the kernels agree to 1e-10, which shows the maths is identical.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.jukebox.config import VQVAE_PRESETS
from latentmusic.jukebox.train import VQVAEModule
from latentmusic.nn import timemajor as tm
from latentmusic.nn.wavenet import NonCausalWaveNetEncoder, WaveNetDecoder
from latentmusic.nsynth.config import PRESETS as NSYNTH_PRESETS
from latentmusic.nsynth.model import NSynthWaveNetAE
from latentmusic.translation.config import PRESETS as TRANSLATION_PRESETS
from latentmusic.translation.train import TranslationModule


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _loss_and_grads(
    model: nn.Module, loss_fn: Callable[[], torch.Tensor], fast: bool
) -> tuple[float, dict[str, torch.Tensor]]:
    tm.use_fast_path(model, fast)
    model.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


def _assert_same_step(
    model: nn.Module, loss_fn: Callable[[], torch.Tensor], rel: float = 1e-4
) -> None:
    """Reference and fast path: equal loss, and every parameter gets the same gradient."""
    state = copy.deepcopy(model.state_dict())  # the VQ's EMA codebook moves on every pass
    ref_loss, ref = _loss_and_grads(model, loss_fn, fast=False)
    model.load_state_dict(state)
    fast_loss, fast = _loss_and_grads(model, loss_fn, fast=True)
    assert math.isfinite(ref_loss)
    assert fast_loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(ref) == set(fast) == trainable
    for name, g in ref.items():
        scale = float(g.abs().max())
        assert scale > 0, name
        assert float((fast[name] - g).abs().max()) <= rel * scale, name


def test_nsynth_wavenet_autoencoder_step_is_the_same_on_both_paths() -> None:
    torch.manual_seed(0)
    model = NSynthWaveNetAE(NSYNTH_PRESETS["tiny"])
    audio = (torch.rand(3, 1024) * 2 - 1) * 0.7
    _assert_same_step(model, lambda: model.loss({"audio": audio})["loss"])
    # The logits of forward() (the (B, 256, T) layout other callers use) agree too.
    tm.use_fast_path(model, False)
    ref, codes = model(audio)
    tm.use_fast_path(model, True)
    fast, _ = model(audio)
    assert fast.shape == ref.shape == (3, 256, 1024)
    assert torch.allclose(fast, ref, atol=1e-5)
    assert torch.allclose(F.cross_entropy(fast, codes), F.cross_entropy(ref, codes), atol=1e-6)


def test_translation_step_with_confusion_is_the_same_on_both_paths() -> None:
    torch.manual_seed(0)
    config = TRANSLATION_PRESETS["tiny"]
    module = TranslationModule(config, ["a", "b", "c"])
    n = config.segment
    batch = {
        "audio": (torch.rand(4, n) * 2 - 1) * 0.5,
        "domain": torch.tensor([0, 2, 0, 1]),
        "encoder_audio": (torch.rand(4, n) * 2 - 1) * 0.5,
    }
    _assert_same_step(module, lambda: module.losses(batch)["loss"])


def test_jukebox_vqvae_step_with_all_levels_is_the_same_on_both_paths() -> None:
    torch.manual_seed(0)
    module = VQVAEModule(VQVAE_PRESETS["tiny"], "tiny", power=0.05)
    audio = (torch.rand(3, 4096) * 2 - 1) * 0.3
    with torch.no_grad():
        module.model.loss(
            {"audio": audio}, module.power
        )  # k-means start of the codebooks, shared by both passes
    # Seven conv layers deep, float32 summation order shows at ~1e-4 (the same as float32
    # against float64 on the reference path alone); float64 below pins the maths.
    _assert_same_step(
        module, lambda: module.model.loss({"audio": audio}, module.power)["loss"], rel=1e-3
    )


def test_jukebox_vqvae_paths_agree_to_float64_precision() -> None:
    torch.manual_seed(0)
    module = VQVAEModule(VQVAE_PRESETS["tiny"], "tiny", power=0.05)
    audio = (torch.rand(2, 4096) * 2 - 1) * 0.3
    with torch.no_grad():
        module.model.loss({"audio": audio}, module.power)
    module.eval()  # a frozen codebook: the EMA update works in float32 only
    module.double()
    _assert_same_step(
        module,
        lambda: module.model.loss({"audio": audio.double()}, module.power)["loss"],
        rel=1e-10,
    )


@pytest.mark.parametrize(
    "kw",
    [
        dict(residual=8, skip=12, layers=5, cycle=3, kernel=3, cond_channels=4, hop=64),
        dict(residual=8, skip=8, layers=4, cycle=2, kernel=2, cond_channels=4, hop=50, input_embedding=True),
    ],
    ids=["kernel3-scalar-input", "kernel2-embedding"],
)  # fmt: skip
def test_decoders_agree_off_the_training_shapes(kw: dict) -> None:
    """Kernel 3, the embedding input, 1000 samples: not a multiple of hop 64 (padded)."""
    torch.manual_seed(0)
    decoder = WaveNetDecoder(**kw)
    codes = torch.randint(0, 256, (2, 1000))
    cond = torch.randn(2, 4, 21)
    _assert_same_step(decoder, lambda: F.cross_entropy(decoder(codes, cond), codes))
    _assert_same_step(decoder, lambda: decoder.logits_time_major(codes, cond).pow(2).mean())


@pytest.mark.parametrize("style", ["nsynth", "umt"])
def test_encoders_agree_when_the_pool_drops_samples(style: str) -> None:
    torch.manual_seed(0)
    encoder = NonCausalWaveNetEncoder(
        channels=8, layers=4, cycle=2, kernel=3, out_channels=4, pool=100, style=style
    )
    audio = torch.rand(2, 1050) * 2 - 1  # 10 frames and 50 samples the pool drops
    weights = torch.randn(2, 4, 10)
    _assert_same_step(encoder, lambda: (encoder(audio) * weights).sum())


def test_time_major_kernels_match_torch_convolutions_in_float64() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 8, 64, dtype=torch.float64)
    convs = [
        nn.Conv1d(8, 6, 3, padding=3, dilation=3),
        nn.Conv1d(8, 6, 4, stride=2, padding=1),
        nn.ConvTranspose1d(8, 6, 4, stride=2, padding=1),
        nn.Conv1d(8, 6, 8, stride=4, padding=2),
        nn.ConvTranspose1d(8, 6, 8, stride=4, padding=2),
    ]
    for conv in convs:
        conv.double()
        xr = x.clone().requires_grad_(True)
        ref = conv(xr)
        ref_grads = torch.autograd.grad(ref.pow(2).sum(), [xr, conv.weight, conv.bias])
        xf = x.transpose(1, 2).clone().requires_grad_(True)
        if isinstance(conv, nn.ConvTranspose1d):
            out = tm.transposed_conv1d(xf, conv)
        elif conv.stride[0] > 1:
            out = tm.strided_conv1d(xf, conv)
        else:
            out = tm.conv1d(xf, conv, conv.padding[0])
        assert out.shape == ref.transpose(1, 2).shape, conv
        assert torch.allclose(out, ref.transpose(1, 2), atol=1e-12)
        grads = torch.autograd.grad(out.pow(2).sum(), [xf, conv.weight, conv.bias])
        assert torch.allclose(grads[0], ref_grads[0].transpose(1, 2), atol=1e-10)
        assert torch.allclose(grads[1], ref_grads[1], atol=1e-10)
        assert torch.allclose(grads[2], ref_grads[2], atol=1e-10)


def test_tap_conv_and_gate_pass_gradcheck() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 9, 3, dtype=torch.float64, requires_grad=True)
    mats = [torch.randn(3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    rows = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)  # 3 frames of 3 rows

    def conv(x: torch.Tensor, rows: torch.Tensor, *mats: torch.Tensor) -> torch.Tensor:
        return tm.tap_conv(x, list(mats), [(0, 0, 0), (-2, 0, 0), (4, 0, 0)], 9, 4, rows)

    assert torch.autograd.gradcheck(conv, (x, rows, *mats))
    a = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tm.gate, (a,))
    assert torch.allclose(tm.gate(a), torch.tanh(a[..., :3]) * torch.sigmoid(a[..., 3:]))


def test_training_uses_the_fast_path_by_default() -> None:
    models = [
        NSynthWaveNetAE(NSYNTH_PRESETS["tiny"]),
        TranslationModule(TRANSLATION_PRESETS["tiny"], ["a"]),
        VQVAEModule(VQVAE_PRESETS["tiny"], "tiny", power=0.05),
    ]
    for model in models:
        flags = [m.fast_path for m in model.modules() if hasattr(m, "fast_path")]
        assert flags and all(flags)


def test_vqvae_trains_its_convs_by_onednn_and_infers_with_the_taps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In training every conv of the VQ-VAE stacks goes through oneDNN on the channels-last
    view (the residual blocks' inside their fused node); encoding without grad keeps the
    tap GEMMs."""
    convs: list[str] = []
    blocks: list[bool] = []
    onednn_conv1d, block_forward = tm.onednn_conv1d, tm.BlockConv.forward

    def spy_conv(x: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        convs.append(type(conv).__name__)
        return onednn_conv1d(x, conv)

    def spy_block(self: tm.BlockConv, *args: object) -> torch.Tensor:
        blocks.append(self.taps is None)
        return block_forward(self, *args)

    monkeypatch.setattr(tm, "onednn_conv1d", spy_conv)
    monkeypatch.setattr(tm.BlockConv, "forward", spy_block)
    torch.manual_seed(0)
    module = VQVAEModule(VQVAE_PRESETS["tiny"], "tiny", power=0.05)
    audio = (torch.rand(2, 4096) * 2 - 1) * 0.3
    with torch.no_grad():
        module.model.loss({"audio": audio}, module.power)
    assert convs == [] and blocks == []
    module.model.loss({"audio": audio}, module.power)["loss"].backward()
    assert {"Conv1d", "ConvTranspose1d"} <= set(convs)
    assert blocks and all(blocks)
