"""The time-major fast path's own kernels against plain torch: the fused gate and the
tap convolution whose covering tap writes the output (no zero fill, bias fused)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F

from latentmusic.nn import gate_fused, timemajor


def _reference_gate(a: torch.Tensor) -> torch.Tensor:
    r = a.shape[-1] // 2
    return torch.tanh(a[..., :r]) * torch.sigmoid(a[..., r:])


def _assert_same_gradients(
    got: torch.Tensor,
    expected: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    atol: float,
) -> None:
    """The gradients of ``got`` and ``expected`` for ``inputs`` under one random output
    gradient agree to ``atol``."""
    grad = torch.randn_like(expected)
    for a, b in zip(
        torch.autograd.grad(got, inputs, grad),
        torch.autograd.grad(expected, inputs, grad),
        strict=True,
    ):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=atol)


def test_fused_gate_matches_torch_in_value_and_gradient() -> None:
    assert gate_fused.available()  # numba is a dependency: the fast path must be there
    torch.manual_seed(0)
    # Large magnitudes too: tanh and the sigmoid saturate there, the approximation must not.
    a = (torch.randn(3, 517, 24) * 4).requires_grad_()
    assert timemajor._fused_gate_applies(a)
    grad = torch.randn(3, 517, 12)
    out = timemajor.gate(a)
    (d_fused,) = torch.autograd.grad(out, a, grad)

    ref = _reference_gate(a)
    (d_ref,) = torch.autograd.grad(ref, a, grad)
    assert torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(d_fused, d_ref, atol=2e-6)
    assert d_fused.shape == (3, 517, 24)


def test_fused_gate_reads_a_non_contiguous_input() -> None:
    torch.manual_seed(1)
    a = torch.randn(20, 2, 16).transpose(0, 1)  # (2, 20, 16), not contiguous
    assert torch.allclose(timemajor.gate(a), _reference_gate(a), atol=1e-6)


def test_fused_gate_leaves_torchs_thread_count_as_it_was() -> None:
    """numba's OpenMP layer shares torch's runtime: a launch must not leave a --threads 1 run
    on numba's team size (it did: every later torch op ran on two threads)."""
    before = torch.get_num_threads()
    a = torch.randn(4096, 64)
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            gate_fused.gate_forward(a)
            gate_fused.gate_backward(a, torch.randn(4096, 32))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_gate_falls_back_to_torch_off_float32_and_when_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a64 = torch.randn(2, 9, 8, dtype=torch.float64)
    assert not timemajor._fused_gate_applies(a64)
    assert torch.equal(timemajor.gate(a64), _reference_gate(a64))  # bit for bit: torch path

    monkeypatch.setattr(timemajor, "FUSED_GATE", False)
    a = torch.randn(2, 9, 8)
    assert not timemajor._fused_gate_applies(a)
    assert torch.equal(timemajor.gate(a), _reference_gate(a))


@pytest.mark.parametrize("bias", ["none", "channel", "per_frame"])
@pytest.mark.parametrize("left", [0, 1, 2])
def test_tap_conv_equals_conv1d_with_and_without_a_covering_tap(bias: str, left: int) -> None:
    """Taps at offsets (0, 2) and (-2, 0) include one that covers the output (it writes it,
    a channel bias fused); (-1, 1) does not (zero fill first): every branch against torch."""
    torch.manual_seed(2)
    conv = torch.nn.Conv1d(6, 10, kernel_size=2, dilation=2, bias=bias == "channel")
    x = torch.randn(2, 6, 32, requires_grad=True)
    frames = 4
    cond = torch.randn(2, frames, 10, requires_grad=True) if bias == "per_frame" else None

    expected = conv(F.pad(x, (left, 2 - left)))
    if cond is not None:
        expected = expected + cond.repeat_interleave(32 // frames, 1).transpose(1, 2)
    mats, taps = timemajor.conv_taps(conv.weight, conv.dilation[0], left)
    got = timemajor.tap_conv(
        x.transpose(1, 2), mats, taps, 32, 10, conv.bias if cond is None else cond
    ).transpose(1, 2)
    assert torch.allclose(got, expected, atol=1e-5)

    grad = torch.randn_like(expected)
    wrt = [x, conv.weight] + ([cond] if cond is not None else [])
    wrt += [conv.bias] if conv.bias is not None else []
    d_got = torch.autograd.grad(got, wrt, grad)
    d_ref = torch.autograd.grad(expected, wrt, grad)
    for g, r in zip(d_got, d_ref, strict=True):
        assert torch.allclose(g, r, atol=1e-5)


def test_covering_tap_is_found_only_when_one_gemm_covers_everything() -> None:
    mats = [torch.zeros(4, 8), torch.zeros(4, 8)]
    assert timemajor._covering_tap([(-1, 0, 0), (0, 0, 0)], mats, 16, 16, 8, output=True) == 1
    # No tap at offset 0: every tap leaves rows unwritten.
    assert timemajor._covering_tap([(-1, 0, 0), (1, 0, 0)], mats, 16, 16, 8, output=True) is None
    # Output narrower than the tap's columns would leave columns unwritten.
    assert timemajor._covering_tap([(0, 0, 0)], mats[:1], 16, 16, 16, output=True) is None
    # Input gradient: the tap must read every input column.
    assert timemajor._covering_tap([(0, 0, 0)], mats[:1], 16, 16, 4, output=False) == 0
    assert timemajor._covering_tap([(0, 0, 0)], mats[:1], 16, 8, 4, output=False) is None


@pytest.mark.parametrize(
    ("stride", "c_in", "c_mid", "c_out", "kernel"),
    [(2, 5, 7, 1, 3), (4, 3, 6, 2, 3), (2, 4, 4, 1, 5), (2, 3, 8, 1, 1)],
)
def test_transposed_then_conv_is_the_two_convolutions_in_float64(
    stride: int, c_in: int, c_mid: int, c_out: int, kernel: int
) -> None:
    """The VQ-VAE decoder's tail as one linear map: same output and same gradients for the
    input and all four parameters, edges (where the output conv's zero padding cuts) included."""
    torch.manual_seed(3)
    up = torch.nn.ConvTranspose1d(c_in, c_mid, 2 * stride, stride, stride // 2).double()
    conv = torch.nn.Conv1d(c_mid, c_out, kernel, 1, (kernel - 1) // 2).double()
    assert timemajor.fuses_transposed_then_conv(up, conv)
    x = torch.randn(3, 11, c_in, dtype=torch.float64, requires_grad=True)
    expected = conv(up(x.transpose(1, 2))).transpose(1, 2)
    got = timemajor.transposed_then_conv1d(x, up, conv)
    assert got.shape == expected.shape == (3, 11 * stride, c_out)
    assert torch.allclose(got, expected, atol=1e-12)
    _assert_same_gradients(got, expected, [x, up.weight, up.bias, conv.weight, conv.bias], 1e-11)


def test_transposed_then_conv_is_only_taken_for_the_shapes_it_computes() -> None:
    up = torch.nn.ConvTranspose1d(4, 6, 4, 2, 1)
    assert timemajor.fuses_transposed_then_conv(up, torch.nn.Conv1d(6, 1, 3, 1, 1))
    assert not timemajor.fuses_transposed_then_conv(
        up, torch.nn.Conv1d(6, 1, 3, 1, 0)
    )  # not "same"
    assert not timemajor.fuses_transposed_then_conv(
        up, torch.nn.Conv1d(6, 1, 2, 1, 1)
    )  # even kernel
    assert not timemajor.fuses_transposed_then_conv(up, torch.nn.Conv1d(5, 1, 3, 1, 1))  # channels
    odd = torch.nn.ConvTranspose1d(4, 6, 6, 3, 1)
    assert not timemajor.fuses_transposed_then_conv(odd, torch.nn.Conv1d(6, 1, 3, 1, 1))


@pytest.mark.parametrize("pre_relu", [True, False])
@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("pointwise", [True, False])
def test_fused_residual_block_is_the_modules_in_value_and_gradient(
    pre_relu: bool,
    overwrite: bool,
    onednn: bool,
    pointwise: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """x + res(relu(conv(relu?(x)))) as one autograd node with fused element-wise passes,
    its conv by oneDNN on the channels-last view or as tap GEMMs, its 1x1 by oneDNN or
    as MKL GEMMs, against nn.Conv1d: output and the gradients of the input and all four
    parameters."""
    monkeypatch.setattr(timemajor, "ONEDNN_BLOCK_CONV", onednn)
    monkeypatch.setattr(timemajor, "ONEDNN_POINTWISE", pointwise)
    torch.manual_seed(4)
    conv = torch.nn.Conv1d(6, 5, 3, padding=2, dilation=2)
    res = torch.nn.Conv1d(5, 6, 1)
    leaf = torch.randn(4, 40, 6, requires_grad=True)  # 160 rows: 16 images of 10
    expected_in = leaf.transpose(1, 2)
    inner = F.relu(expected_in) if pre_relu else expected_in
    expected = leaf + res(F.relu(conv(inner))).transpose(1, 2)
    x = leaf * 1.0  # an intermediate the block may overwrite
    got = timemajor.residual_block(x, conv, res, 2, pre_relu, overwrite=overwrite)
    assert (got.grad_fn.block_conv.taps is None) == onednn  # the conv the node ran
    assert got.grad_fn.pointwise_onednn == pointwise  # and the 1x1
    assert torch.allclose(got, expected, atol=1e-6)
    if overwrite and pre_relu:
        assert got.data_ptr() == x.data_ptr()  # the sum went into x's memory
    _assert_same_gradients(
        got, expected, [leaf, conv.weight, conv.bias, res.weight, res.bias], 1e-5
    )


@pytest.mark.parametrize(
    "conv",
    [
        torch.nn.Conv1d(3, 5, 3, padding=2, dilation=2),  # the stacks' in and out convs
        torch.nn.Conv1d(3, 5, 4, stride=2, padding=1),  # down-sampling
        torch.nn.ConvTranspose1d(3, 5, 4, stride=2, padding=1),  # up-sampling
        torch.nn.Conv1d(4, 6, 3, padding=1, groups=2),
    ],
    ids=["dilated", "strided", "transposed", "grouped"],
)
def test_onednn_conv_on_the_channels_last_view_is_the_module(conv: torch.nn.Module) -> None:
    """The VQ-VAE stacks' convs by oneDNN on a time-major tensor: the module's output,
    time-major and contiguous with no copy, and the same gradients."""
    torch.manual_seed(7)
    leaf = torch.randn(2, 24, conv.in_channels, requires_grad=True)
    got = timemajor.onednn_conv1d(leaf, conv)
    expected = conv(leaf.transpose(1, 2)).transpose(1, 2)
    assert got.shape == expected.shape and got.is_contiguous()
    assert torch.allclose(got, expected, atol=1e-6)
    _assert_same_gradients(got, expected, [leaf, conv.weight, conv.bias], 1e-5)


def test_one_channel_audio_reaches_onednn_channels_last() -> None:
    """The VQ-VAE's audio, (B, 1, T) seen time-major, as oneDNN's input: torch must read it
    as channels-last (else the first conv's output and gradient are copied across layouts)."""
    torch.manual_seed(9)
    audio = torch.randn(2, 64)
    x = audio[:, None].transpose(1, 2)  # (B, T, 1), the size-1 dim's stride is T
    conv = torch.nn.Conv1d(1, 4, 4, stride=2, padding=1)
    view = timemajor._nhwc(x)
    assert view.data_ptr() == audio.data_ptr()  # still a view
    out = F.conv2d(view, conv.weight.unsqueeze(2), conv.bias, (1, 2), (0, 1))
    assert out.is_contiguous(memory_format=torch.channels_last)
    got = timemajor.onednn_conv1d(x, conv)
    assert torch.allclose(got, conv(audio[:, None]).transpose(1, 2), atol=1e-6)


def test_residual_block_whose_rows_are_not_16_images_takes_the_gemm_1x1() -> None:
    """oneDNN's 1x1 takes the rows as 16 images; 3 x 30 rows cannot be: MKL's GEMMs, same result."""
    assert timemajor.ONEDNN_POINTWISE
    torch.manual_seed(8)
    conv, res = torch.nn.Conv1d(4, 5, 3, padding=1), torch.nn.Conv1d(5, 4, 1)
    leaf = torch.randn(3, 30, 4, requires_grad=True)
    expected = leaf + res(F.relu(conv(F.relu(leaf.transpose(1, 2))))).transpose(1, 2)
    got = timemajor.residual_block(leaf * 1.0, conv, res, 1, pre_relu=True)
    assert not got.grad_fn.pointwise_onednn
    assert torch.allclose(got, expected, atol=1e-6)
    _assert_same_gradients(got, expected, [leaf, conv.weight, res.weight, res.bias], 1e-5)


def test_uncentred_residual_block_convolves_with_taps_and_matches_the_modules() -> None:
    """A causal block (all padding before the input) is not oneDNN's symmetric padding: it
    takes the tap GEMMs, with the same value and gradients as the padded modules."""
    assert timemajor.ONEDNN_BLOCK_CONV
    torch.manual_seed(6)
    conv, res = torch.nn.Conv1d(4, 5, 3, dilation=2), torch.nn.Conv1d(5, 4, 1)
    leaf = torch.randn(2, 30, 4, requires_grad=True)
    expected = leaf + res(F.relu(conv(F.pad(leaf.transpose(1, 2), (4, 0))))).transpose(1, 2)
    got = timemajor.residual_block(leaf * 1.0, conv, res, 4, pre_relu=False)
    assert got.grad_fn.block_conv.taps is not None
    assert torch.allclose(got, expected, atol=1e-6)
    _assert_same_gradients(got, expected, [leaf, conv.weight, conv.bias, res.weight], 1e-5)


def test_residual_block_keeps_the_callers_tensor_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conv, res = torch.nn.Conv1d(4, 4, 3, padding=1), torch.nn.Conv1d(4, 4, 1)
    x = torch.randn(2, 16, 4, requires_grad=True) * 1.0  # an intermediate, on the fused path
    before = x.detach().clone()
    out = timemajor.residual_block(x, conv, res, 1, pre_relu=True)
    assert out.grad_fn is not None and "ResidualBlock" in type(out.grad_fn).__name__
    assert torch.equal(x.detach(), before) and out.data_ptr() != x.data_ptr()
    # Without numba (or off float32) the torch composition computes the same block.
    monkeypatch.setattr(timemajor.relu_fused, "available", lambda: False)
    assert torch.allclose(timemajor.residual_block(x, conv, res, 1, pre_relu=True), out, atol=1e-6)


@pytest.mark.parametrize("bias_batch", [1, 3])
def test_fused_gate_with_per_frame_bias_matches_the_sum_then_the_gate(bias_batch: int) -> None:
    """The decoder's conditioning rows read by the gate kernel (never added into ``a``):
    output, the gradient of ``a`` and the per-frame bias gradient against torch."""
    torch.manual_seed(5)
    a = (torch.randn(3, 40, 16) * 3).requires_grad_()
    bias = torch.randn(bias_batch, 5, 16, requires_grad=True)  # 5 frames of 8 rows
    assert timemajor._fused_gate_applies(a)
    out = timemajor.gate(a, bias)
    summed = (a.view(3, 5, 8, 16) + bias.unsqueeze(2)).view(3, 40, 16)
    ref = _reference_gate(summed)
    assert torch.allclose(out, ref, atol=1e-6)
    grad = torch.randn_like(ref)
    got = torch.autograd.grad(out, (a, bias), grad)
    want = torch.autograd.grad(ref, (a, bias), grad)
    assert got[1].shape == (bias_batch, 5, 16)
    for x, y in zip(got, want, strict=True):
        assert torch.allclose(x, y, atol=1e-5)
    # Off the fused path (float64) the same call adds the rows first, in torch.
    a64, bias64 = a.detach().double(), bias.detach().double()
    assert torch.allclose(timemajor.gate(a64, bias64), ref.detach().double(), atol=1e-6)


def test_inference_keeps_the_torch_ops_in_residual_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """No numba launch without grad: after one, small torch ops in the same process ran
    several times slower (Jukebox sampling after a VQ-VAE encode, 3.3 -> 15.8 CPU s per
    second of audio), so encoding and decoding stay on torch's own kernels."""

    def refuse(*args: object) -> None:
        raise AssertionError("a numba kernel ran in inference")

    monkeypatch.setattr(timemajor.relu_fused, "bias_relu_", refuse)
    conv, res = torch.nn.Conv1d(4, 4, 3, padding=1), torch.nn.Conv1d(4, 4, 1)
    x = torch.randn(2, 16, 4)
    with torch.no_grad():
        out = timemajor.residual_block(x, conv, res, 1, pre_relu=True, overwrite=True)
    expected = x + res(F.relu(conv(F.relu(x.transpose(1, 2))))).transpose(1, 2)
    assert torch.allclose(out, expected, atol=1e-6)
    with pytest.raises(AssertionError, match="numba kernel ran"):  # training does use it
        timemajor.residual_block(x.requires_grad_(), conv, res, 1, pre_relu=True)
