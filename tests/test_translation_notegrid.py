"""The pitch-grid translation model (ours): equivariant latents, the shared per-pitch decoder,
streaming, learning one note, its config rules and the CLI path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.audio.spectral import MultiResolutionSTFTLoss
from latentmusic.errors import ConfigError
from latentmusic.train.checkpoint import read_checkpoint
from latentmusic.train.config import resolve_config
from latentmusic.translation.config import PRESETS
from latentmusic.translation.model import UniversalTranslator, load_translator
from latentmusic.translation.notegrid import NoteGridDecoder, PitchGridEncoder
from latentmusic.translation.streaming import stream_latents
from tests.conftest import SR, make_domains, run_cli

TINY = PRESETS["notegrid-tiny"]


def _tone(midi: float, seconds: float = 0.5, partials: int = 6) -> torch.Tensor:
    """A harmonic tone (1/h partials) at a MIDI pitch."""
    t = np.arange(int(seconds * SR)) / SR
    hz = 440.0 * 2.0 ** ((midi - 69) / 12)
    x = sum(np.sin(2 * np.pi * h * hz * t) / h for h in range(1, partials + 1))
    return torch.from_numpy((0.2 * x).astype(np.float32))


def _encoder() -> PitchGridEncoder:
    torch.manual_seed(0)
    return PitchGridEncoder(channels=8, layers=2, grid_channels=2, low_pitch=48, pitches=24,
                            pool=400, hop=80, sample_rate=SR).eval()  # fmt: skip


def test_grid_latents_move_with_the_pitch() -> None:
    """The same weights read every pitch: a tone two semitones up gives (nearly) the same
    latents two rows up; a far register changes them only through the FFT's resolution."""
    enc = _encoder()
    with torch.no_grad():
        silent = enc.grid(torch.zeros(1, SR // 2))[0].mean(dim=-1)
        low = enc.grid(_tone(57)[None])[0].mean(dim=-1) - silent  # (C, K): what A3 adds
        high = enc.grid(_tone(59)[None])[0].mean(dim=-1) - silent  # B3
    shifted = high[:, 2:]
    same_rows = low[:, :-2]
    error = (shifted - same_rows).norm() / same_rows.norm()
    unshifted = (high[:, :-2] - same_rows).norm() / same_rows.norm()
    assert error < 0.25 < unshifted  # equivariant to a small error, and the shift matters


def test_the_grid_encoder_streams_exactly() -> None:
    model = UniversalTranslator(TINY, ["a", "b"]).eval()
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    whole = model.encode_tensor(torch.from_numpy(audio)[None])
    blocks = [audio[i : i + 3000] for i in range(0, len(audio), 3000)]
    chunked = torch.cat(list(stream_latents(model, blocks, 7)), dim=1).transpose(1, 2)
    assert whole.shape == (1, TINY.grid_channels * TINY.notebank_pitches, 160)
    assert torch.allclose(chunked, whole, atol=1e-5)


def _decoder() -> NoteGridDecoder:
    return NoteGridDecoder(2, pool=100, hop=20, channels=8, layers=2, low_pitch=48, pitches=24,
                           harmonics=8, noise_bands=17, sample_rate=SR, reverb_seconds=0.02)  # fmt: skip


def test_every_pitch_is_read_by_the_same_network() -> None:
    """Latents on row k only -> only voice k plays (the pitch embedding starts at zero)."""
    torch.manual_seed(0)
    dec = _decoder()
    with torch.no_grad():
        dec.level.weight.normal_(std=1.0)
        dec.level.bias.fill_(-6.0)  # silent unless the latents say otherwise
    z = torch.zeros(1, 2, 24, 6)
    z[:, :, 5] = 3.0  # pitch 48 + 5
    amps = dec.controls(z.flatten(1, 2))["amplitudes"]  # (1, N, partials)
    per_voice = torch.zeros(24)
    owner = dec.audible // dec.harmonics
    per_voice.index_add_(0, owner, amps[0].sum(dim=0))
    z2 = torch.zeros(1, 2, 24, 6)
    z2[:, :, 17] = 3.0
    amps2 = dec.controls(z2.flatten(1, 2))["amplitudes"]
    per_voice2 = torch.zeros(24).index_add_(0, owner, amps2[0].sum(dim=0))
    assert int(per_voice.argmax()) == 5 and int(per_voice2.argmax()) == 17
    assert torch.allclose(per_voice[5], per_voice2[17], rtol=1e-4)  # same network, same level


def test_chunked_decoding_equals_one_shot(one_thread: None) -> None:
    torch.manual_seed(0)
    dec = _decoder()
    with torch.no_grad():
        dec.level.bias.fill_(0.0)
        dec.level.weight.normal_(std=0.5)
        dec.noise.bias.fill_(-40.0)
        dec.reverb_log_gain.fill_(0.0)
    dec.eval()
    z = torch.randn(2, 48, 12)
    whole, _ = dec.decode(z)
    parts, state = [], None
    for start, stop in ((0, 5), (5, 6), (6, 11), (11, 12)):
        audio, state = dec.decode(z[..., start:stop], state)
        parts.append(audio)
    chunked = torch.cat(parts, dim=-1)
    assert chunked.shape == whole.shape == (2, 1200) and whole.abs().max() > 0.05
    assert torch.allclose(chunked, whole, atol=1e-4 * float(whole.abs().max()))


def test_a_tiny_model_learns_to_play_the_note_it_hears(one_thread: None) -> None:
    """Encoder and decoder together on one A4 tone: the loss falls and the loudest voice
    the decoder plays is A4."""
    torch.manual_seed(0)
    model = UniversalTranslator(TINY, ["a", "b"])
    target = _tone(69, 0.2)[None]
    loss_fn = MultiResolutionSTFTLoss(((512, 128, 512), (256, 64, 256)), log_weight=0.25)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(120):
        loss = loss_fn(model.decoders[0](model.encode_tensor(target)), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])
    with torch.no_grad():
        amps = model.decoders[0].controls(model.encode_tensor(target))["amplitudes"][0]
    dec = model.decoders[0]
    per_voice = torch.zeros(dec.pitches).index_add_(0, dec.audible // dec.harmonics, amps.sum(0))
    assert int(per_voice.argmax()) + dec.low_pitch == 69


def test_config_rules() -> None:
    with pytest.raises(ConfigError, match=r"'latent_dim' \(40\) must be grid_channels x notebank"):
        resolve_config(PRESETS, "notegrid-tiny", ["latent_dim=40"])
    with pytest.raises(ConfigError, match="A 'notegrid' decoder reads grid latents"):
        resolve_config(PRESETS, "notegrid-tiny", ["encoder_input=spectrum"])
    with pytest.raises(ConfigError, match="'grid_channels' must be positive"):
        resolve_config(PRESETS, "notegrid-tiny", ["grid_channels=-2", "notebank_pitches=24"])


def test_train_and_translate_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    data = make_domains(tmp_path / "data")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "translation", "--data", data, "--out", run,
                             "--preset", "notegrid-tiny", "--steps", "6", "--batch-size", "4",
                             "--val-every", "3", "--ckpt-every", "3", "--no-progress")  # fmt: skip
    assert code == 0, err
    ckpt = read_checkpoint(run)
    assert ckpt.config["decoder"] == "notegrid" and ckpt.config["encoder_input"] == "grid"
    model = load_translator(run)
    assert model.domains == ["sine", "square"]
    src = tmp_path / "in.wav"
    sf.write(src, _tone(64, 0.3).numpy(), SR)
    code, out, err = run_cli(capsys, "translate", src, "-m", run, "--to", "square",
                             "-o", tmp_path / "out.wav", "--no-progress")  # fmt: skip
    assert code == 0, err
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == SR and audio.shape == (int(0.3 * SR),) and np.isfinite(audio).all()
