"""The note-bank translation decoder: its synthesizer, streaming, learning, and the CLI path."""

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
from latentmusic.translation.notebank import NoteBankDecoder
from tests.conftest import SR, make_domains, run_cli, wave

TINY = PRESETS["notebank-tiny"]


def _decoder(**kw: int) -> NoteBankDecoder:
    size = dict(pool=100, hop=20, channels=16, layers=2, low_pitch=48, pitches=24, harmonics=8,
                noise_bands=17, sample_rate=SR, reverb_seconds=0.02)  # fmt: skip
    size.update(kw)
    return NoteBankDecoder(8, **size)


def test_partials_above_nyquist_are_left_out() -> None:
    dec = _decoder(low_pitch=96, pitches=12, harmonics=8)  # C7 .. B7: 2093 .. 3951 Hz
    hz = 440.0 * 2.0 ** ((96 + np.arange(12) - 69) / 12)
    expected = sum(int(np.sum(f * np.arange(1, 9) < SR / 2)) for f in hz)
    assert dec.n_partials == expected < 12 * 8
    assert float(dec.partial_hz.max()) < SR / 2


def test_chunked_decoding_equals_one_shot(one_thread: None) -> None:
    torch.manual_seed(0)
    dec = _decoder()
    with torch.no_grad():  # loud, varied notes, a loud room (320 taps: it rings over chunks)
        dec.level.bias.fill_(0.0)
        dec.level.weight.normal_(std=0.5)
        dec.noise.bias.fill_(-40.0)  # no noise: the harmonic part and the reverb alone
        dec.reverb_log_gain.fill_(0.0)  # a loud room
    dec.eval()
    z = torch.randn(2, 8, 12)
    whole, _ = dec.decode(z)
    parts, state = [], None
    for start in (0, 5, 6, 11):  # uneven chunks, one of a single frame
        stop = {0: 5, 5: 6, 6: 11, 11: 12}[start]
        audio, state = dec.decode(z[..., start:stop], state)
        parts.append(audio)
    chunked = torch.cat(parts, dim=-1)
    assert chunked.shape == whole.shape == (2, 12 * 100)
    assert whole.abs().max() > 0.1
    assert torch.allclose(chunked, whole, atol=1e-4 * float(whole.abs().max()))


def test_a_decoder_learns_to_play_the_note_it_hears(one_thread: None) -> None:
    """Fixed latents, an A4 target: the loudest voice becomes A4 and the loss falls."""
    torch.manual_seed(0)
    dec = _decoder()
    z = torch.randn(1, 8, 8)
    t = np.arange(800) / SR
    target = torch.from_numpy((0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32))[None]
    loss_fn = MultiResolutionSTFTLoss(((512, 128, 512), (256, 64, 256)))
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = loss_fn(dec(z), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])
    with torch.no_grad():
        h = dec.control_convs(dec.up(dec.latent_convs(dec.inp(z))))
        level = dec.level(h).mean(dim=-1)[0]
    assert int(level.argmax()) + 48 == 69  # A4


def test_config_rejects_a_hop_that_does_not_divide_the_pool() -> None:
    with pytest.raises(
        ConfigError, match=r"'pool' \(100\) must be a multiple of 'notebank_hop' \(30\)"
    ):
        resolve_config(PRESETS, "notebank-tiny", ["notebank_hop=30"])
    with pytest.raises(ConfigError, match="pitches must lie within MIDI 0..127"):
        resolve_config(PRESETS, "notebank-tiny", ["notebank_low_pitch=120"])
    with pytest.raises(
        ConfigError, match="'decoder' must be one of wavenet, notebank, notegrid, not 'diffusion'"
    ):
        resolve_config(PRESETS, "notebank-tiny", ["decoder=diffusion"])


def test_decode_ignores_temperature_and_returns_whole_frames() -> None:
    model = UniversalTranslator(TINY, ["a", "b"]).eval()
    z = torch.randn(1, 4, TINY.latent_dim)
    a = model.decode(z, "b", temperature=0.0, seed=3)
    b = model.decode(z, "b", temperature=1.0, seed=3)
    assert a.shape == (1, 4 * TINY.pool) and torch.equal(a, b)


def test_train_translate_and_add_domain_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    data = make_domains(tmp_path / "data")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "translation", "--data", data, "--out", run,
                             "--preset", "notebank-tiny", "--steps", "8", "--batch-size", "4",
                             "--val-every", "4", "--ckpt-every", "4", "--no-progress")  # fmt: skip
    assert code == 0, err
    ckpt = read_checkpoint(run)
    assert ckpt.config["decoder"] == "notebank" and ckpt.preset == "notebank-tiny"
    assert (run / "best" / "model.safetensors").exists()  # ranked by val/recon
    model = load_translator(run)
    assert model.domains == ["sine", "square"]

    src = tmp_path / "in.wav"
    sf.write(src, np.stack([wave("sine", [440.0, 330.0], 0.2, sr=44100)] * 2, 1), 44100)  # stereo
    code, out, err = run_cli(capsys, "translate", src, "-m", run, "--to", "square",
                             "-o", tmp_path / "out.wav", "--no-progress")  # fmt: skip
    assert code == 0, err
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == 44100 and audio.shape == (int(0.4 * 44100),)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0

    new = make_domains(tmp_path / "new", kinds=("saw",), pieces=5, seed=1) / "saw"
    code, out, err = run_cli(capsys, "translation", "add-domain", "-m", run, "--data", new,
                             "--out", tmp_path / "run2", "--steps", "3", "--batch-size", "4",
                             "--no-progress")  # fmt: skip
    assert code == 0, err
    grown = load_translator(tmp_path / "run2")
    assert grown.domains == ["sine", "square", "saw"]
    before = model.state_dict()
    for key, value in grown.state_dict().items():
        if key.startswith(("encoder.", "decoders.0.", "decoders.1.")):
            assert torch.equal(value, before[key]), key  # the frozen part, bit for bit


def test_a_long_stereo_ogg_streams_in_bounded_chunks(
    tmp_path: Path, one_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A minute of 44.1 kHz stereo OGG: exact output length at the input's rate, and the
    encoder and decoders only ever see chunk-sized pieces (memory does not grow with length)."""
    from latentmusic.audio import io as audio_io
    from latentmusic.translation.streaming import translate_file

    model = UniversalTranslator(TINY, ["a", "b"]).eval()
    rate, seconds = 44100, 60.0
    t = np.arange(int(seconds * rate)) / rate
    melody = 0.2 * np.sin(2 * np.pi * (330 + 110 * (t // 1 % 3)) * t)
    src = tmp_path / "long.ogg"
    audio_io.save(src, np.stack([melody, 0.5 * melody]), rate)  # blocks: see audio_io.save
    seen = {"encoder": 0, "decoder": 0}
    encode, decode = model.encode_tensor, model.decoders[1].decode

    def spy_encode(x: torch.Tensor) -> torch.Tensor:
        seen["encoder"] = max(seen["encoder"], x.shape[-1])
        return encode(x)

    def spy_decode(z: torch.Tensor, *args: object) -> object:
        seen["decoder"] = max(seen["decoder"], z.shape[-1])
        return decode(z, *args)

    monkeypatch.setattr(model, "encode_tensor", spy_encode)
    monkeypatch.setattr(model.decoders[1], "decode", spy_decode)
    result = translate_file(model, src, "b", tmp_path / "out.flac", chunk_seconds=1.0, seed=0)
    info = sf.info(result.outputs["b"])
    assert (info.frames, info.samplerate, info.channels) == (int(seconds * rate), rate, 1)
    frames_per_chunk = SR // TINY.pool
    assert seen["decoder"] == frames_per_chunk  # one second of latents at a time
    context = 2 * -(-TINY.encoder_context() // TINY.pool) * TINY.pool
    assert seen["encoder"] <= SR + context  # a chunk plus the receptive field, not 60 s
    assert any("mixed to mono" in n for n in result.notes) and not list(tmp_path.glob(".*"))


def test_semitone_spectrum_peaks_at_the_played_note() -> None:
    from latentmusic.translation.spectral_encoder import LOW_PITCH, N_FFT, semitone_filters

    filters = semitone_filters(N_FFT, SR)
    assert torch.allclose(filters.sum(dim=1), torch.ones(filters.shape[0]))
    for hz, midi in ((440.0, 69), (110.0, 45), (1046.5, 84)):
        x = torch.from_numpy(wave("sine", [hz], 0.25).astype(np.float32))
        spec = torch.stft(x, N_FFT, 512, window=torch.hann_window(N_FFT), return_complex=True)
        energy = filters @ spec.abs().mean(dim=-1)
        assert int(energy.argmax()) + LOW_PITCH == midi


def test_spectrum_encoder_streams_exactly_and_rejects_a_bad_hop() -> None:
    from latentmusic.translation.streaming import stream_latents

    config = resolve_config(PRESETS, "notebank-tiny", ["encoder_input=spectrum", "spectrum_hop=20"])
    model = UniversalTranslator(config, ["a", "b"]).eval()
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    whole = model.encode_tensor(torch.from_numpy(audio)[None])
    blocks = [audio[i : i + 3000] for i in range(0, len(audio), 3000)]
    chunked = torch.cat(list(stream_latents(model, blocks, 7)), dim=1).transpose(1, 2)
    assert whole.shape == (1, config.latent_dim, 160)
    assert torch.allclose(chunked, whole, atol=1e-5)
    with pytest.raises(
        ConfigError, match=r"'pool' \(100\) must be a multiple of 'spectrum_hop' \(30\)"
    ):
        resolve_config(PRESETS, "notebank-tiny", ["encoder_input=spectrum", "spectrum_hop=30"])
