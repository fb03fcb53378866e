"""Translation family without training: presets, shapes, chunked translation, files, checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import latentmusic
from latentmusic.audio.formats import AUDIO_SUFFIXES, container
from latentmusic.errors import CheckpointError, ConfigError, InputError
from latentmusic.train.checkpoint import save_checkpoint
from latentmusic.train.config import resolve_config
from latentmusic.translation.config import PRESETS, TranslationConfig
from latentmusic.translation.confusion import DomainConfusion, confusion_losses
from latentmusic.translation.model import UniversalTranslator, load_translator
from latentmusic.translation.streaming import output_paths, stream_latents, translate_file
from latentmusic.translation.train import export_model

DOMAINS = ["flute", "organ", "piano"]


@pytest.fixture(scope="module")
def model() -> UniversalTranslator:
    torch.manual_seed(0)
    return UniversalTranslator(PRESETS["tiny"], DOMAINS).eval()


def _tone(n: int, sr: int = 16000, f: float = 330.0) -> np.ndarray:
    return (0.4 * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def test_paper_preset_has_the_published_hyperparameters() -> None:
    c = PRESETS["paper"]
    assert (c.sample_rate, c.segment, c.mu) == (16000, 12000, 255)
    assert (c.encoder_channels, c.encoder_layers, c.encoder_cycle, c.encoder_kernel) == (
        128,
        30,
        10,
        3,
    )
    assert (c.latent_dim, c.pool) == (64, 800)
    assert (c.decoder_layers, c.decoder_cycle, c.decoder_residual, c.decoder_skip, c.decoder_kernel) == (
        56, 14, 128, 128, 2,
    )  # fmt: skip
    assert (c.confusion_layers, c.confusion_channels, c.confusion_lambda) == (3, 100, 0.01)
    assert c.pitch_augment and c.augment_semitones == 0.5
    assert (c.lr, c.lr_decay, c.lr_decay_steps, c.grad_clip) == (1e-3, 0.995, 1000, 1.0)
    # The ablations change exactly one thing.
    assert PRESETS["paper-noconfusion"] == dataclasses.replace(c, confusion_lambda=0.0)
    assert PRESETS["small-noconfusion"] == dataclasses.replace(
        PRESETS["small"], confusion_lambda=0.0
    )
    assert PRESETS["small-noaug"] == dataclasses.replace(PRESETS["small"], pitch_augment=False)
    for preset in PRESETS.values():
        preset.validate()


def test_paper_model_shapes_and_bad_configs() -> None:
    m = UniversalTranslator(PRESETS["paper"], ["a", "b"])
    assert len(m.encoder.dilations) == 30 and m.encoder.dilations[:11] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1,
    ]
    assert m.encoder.style == "umt"
    dec = m.decoders[0]
    assert len(dec.dilations) == 56 and max(dec.dilations) == 2**13 and dec.input_embedding
    assert m.confusion.n_domains == 2 and m.confusion.head.in_channels == 100
    with pytest.raises(
        ConfigError, match="'segment' \\(12345\\) must be a multiple of 'pool' \\(800\\)"
    ):
        resolve_config(PRESETS, "paper", ["segment=12345"])
    with pytest.raises(ConfigError, match="Unknown preset 'huge'"):
        resolve_config(PRESETS, "huge")


def test_encode_shape_and_too_short_input(model: UniversalTranslator) -> None:
    z = model.encode(_tone(1050))
    assert z.shape == (1, 11, 8)  # ceil(1050 / 100) frames of 8 dims, time first
    assert model.encode(torch.zeros(3, 400)).shape == (3, 4, 8)
    with pytest.raises(InputError) as err:
        model.translate(_tone(99), "piano")
    assert str(err.value) == (
        "The input is 99 samples long at 16000 Hz; the model needs at least one latent frame of 100 "
        "samples (6 ms)."
    )


def test_unknown_domain_lists_the_known_ones(model: UniversalTranslator) -> None:
    with pytest.raises(InputError) as err:
        model.translate(_tone(800), "banjo")
    assert str(err.value) == "Unknown domain 'banjo'; this model knows: flute, organ, piano."
    with pytest.raises(InputError, match="this model knows: flute, organ, piano"):
        model.decode(model.encode(_tone(800)), "tuba")


def test_translate_keeps_length_and_carries_state_across_chunks(model: UniversalTranslator) -> None:
    x = _tone(1234)
    whole = model.translate(x, "organ", seed=5, chunk_seconds=10.0)
    chunked = model.translate(x, "organ", seed=5, chunk_seconds=0.02)  # 300-sample chunks
    assert whole.shape == (1234,) and whole.dtype == np.float32
    # Decoder state carried over, encoder context on both sides: no seam, identical output.
    np.testing.assert_array_equal(whole, chunked)
    # ... and it is the same as decoding the whole file's latents in one go.
    one_go = model.decode(model.encode(x), "organ", seed=5 + 1000003 * 1)[0, :1234].numpy()
    np.testing.assert_array_equal(whole, one_go)
    several = model.translate(torch.from_numpy(x), ["piano", "flute"], seed=1)
    assert set(several) == {"piano", "flute"} and all(v.shape == (1234,) for v in several.values())
    assert isinstance(several["piano"], torch.Tensor)
    resampled = model.translate(x[:1000], "all", sr=22050, seed=1)
    assert set(resampled) == set(DOMAINS) and all(v.shape == (1000,) for v in resampled.values())


def test_streamed_latents_equal_whole_file_latents(model: UniversalTranslator) -> None:
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal(2345)).astype(np.float32)
    blocks = [x[i : i + 170] for i in range(0, len(x), 170)]  # ragged blocks
    streamed = torch.cat(list(stream_latents(model, iter(blocks), chunk_frames=2)), dim=1)
    whole = model.encode(x)
    assert streamed.shape == whole.shape == (1, 24, 8)
    torch.testing.assert_close(streamed, whole, rtol=1e-5, atol=1e-6)


def test_silent_input_translates_to_silence(model: UniversalTranslator) -> None:
    out = model.translate(np.zeros(900, np.float32), "flute")
    assert out.shape == (900,) and not out.any()


def test_translate_file_stereo_22k_streams_and_keeps_length(
    model: UniversalTranslator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sr, frames = 22050, 2207  # not a multiple of anything the model uses
    t = np.arange(frames) / sr
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], 1)
    src = tmp_path / "in.wav"
    sf.write(src, stereo, sr)

    import latentmusic.audio.io as audio_io

    def no_whole_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("translate_file must stream, not load the whole file")

    monkeypatch.setattr(audio_io, "load", no_whole_load)
    result = translate_file(model, src, "all", tmp_path / "out.wav", seed=0, block_seconds=0.03)
    assert set(result.outputs) == set(DOMAINS)
    for domain, path in result.outputs.items():
        assert path == tmp_path / f"out_{domain}.wav"
        info = sf.info(path)
        assert (info.samplerate, info.frames, info.channels) == (sr, frames, 1)
    assert any("2 channels; they were mixed to mono" in n for n in result.notes)
    assert any("22050 Hz; it was resampled to the model's 16000 Hz" in n for n in result.notes)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temp files behind

    one = translate_file(model, src, "piano", tmp_path / "piano", seed=0)
    assert (
        one.outputs == {"piano": tmp_path / "piano.wav"}
        and sf.info(one.outputs["piano"]).frames == frames
    )


def test_translate_file_errors_and_silence(model: UniversalTranslator, tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, np.full(60, 0.1, np.float32), 16000)
    with pytest.raises(InputError) as err:
        translate_file(model, short, "piano", tmp_path / "o.wav")
    assert str(err.value) == (
        "short.wav is 60 samples long at 16000 Hz; the model needs at least one latent frame of "
        "100 samples (6 ms)."
    )
    assert not (tmp_path / "o.wav").exists()
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1600, np.float32), 16000)
    result = translate_file(model, silent, "piano", tmp_path / "s.wav")
    audio, rate = sf.read(result.outputs["piano"])
    assert rate == 16000 and len(audio) == 1600 and not audio.any()
    assert "is silent" in result.notes[0]


def test_output_paths_for_many_targets() -> None:
    assert output_paths(Path("x/out.wav"), ["a", "b"], True) == {
        "a": Path("x/out_a.wav"),
        "b": Path("x/out_b.wav"),
    }
    assert output_paths(Path("x/outdir"), ["a"], True) == {"a": Path("x/outdir/a.wav")}
    assert output_paths(Path("x/one"), ["a"], False) == {"a": Path("x/one.wav")}


def test_checkpoint_round_trip_and_wrong_family(model: UniversalTranslator, tmp_path: Path) -> None:
    export_model(model, tmp_path / "run", "tiny", {"steps": 0})
    loaded = latentmusic.load(tmp_path / "run")
    assert isinstance(loaded, UniversalTranslator) and loaded.domains == DOMAINS
    assert loaded.config == PRESETS["tiny"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = _tone(700)
    np.testing.assert_array_equal(
        loaded.translate(x, "piano", seed=3), model.translate(x, "piano", seed=3)
    )

    save_checkpoint(
        tmp_path / "other",
        torch.nn.Linear(2, 2),
        family="nsynth",
        model_type="wavenet",
        preset="tiny",
        config={},
    )
    with pytest.raises(CheckpointError) as err:
        load_translator(tmp_path / "other")
    assert (
        str(err.value) == f"{tmp_path / 'other'} is a 'nsynth' checkpoint, not a 'translation' one."
    )


def test_confusion_losses_split_the_gradients() -> None:
    torch.manual_seed(0)
    net = DomainConfusion(8, 3, channels=16)
    latents = torch.randn(6, 8, 5, requires_grad=True)
    domains = torch.tensor([0, 1, 2, 0, 1, 2])
    adversarial, classifier, accuracy = confusion_losses(net, latents, domains)
    assert torch.allclose(adversarial, classifier)  # same net, same latents
    assert 0.0 <= float(accuracy) <= 1.0
    # The adversarial term reaches only the latents; the classifier term only the net.
    adversarial.backward(retain_graph=True)
    assert latents.grad is not None and latents.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    latents.grad = None
    classifier.backward()
    assert latents.grad is None and all(p.grad is not None for p in net.parameters())


def test_confusion_net_grows_for_a_new_domain() -> None:
    torch.manual_seed(0)
    net = DomainConfusion(8, 2, channels=16)
    z = torch.randn(2, 8, 4)
    before = net(z)
    net.grow(1)
    after = net(z)
    assert after.shape == (2, 3) and torch.allclose(after[:, :2], before)


def test_add_domain_to_model_validates_names() -> None:
    m = UniversalTranslator(
        TranslationConfig(**{**dataclasses.asdict(PRESETS["tiny"])}), ["a", "b"]
    )
    assert m.add_domain("c") == 2 and m.domains == ["a", "b", "c"] and len(m.decoders) == 3
    with pytest.raises(InputError, match="already has a domain called 'a'"):
        m.add_domain("a")


@pytest.mark.parametrize("suffix", AUDIO_SUFFIXES)
def test_translate_file_writes_every_advertised_container(
    model: UniversalTranslator, tmp_path: Path, suffix: str
) -> None:
    """The streamed writer takes every name the command line accepts (one list for all)."""
    sr, frames = 16000, 4000
    src = tmp_path / "in.wav"
    sf.write(src, 0.3 * np.sin(2 * np.pi * 220 * np.arange(frames) / sr), sr)
    result = translate_file(model, src, "piano", tmp_path / f"out{suffix}", seed=0)
    info = sf.info(result.outputs["piano"])
    assert info.format == container(Path(f"x{suffix}")) and info.samplerate == sr
    assert abs(info.frames - frames) <= 1152  # MP3 frames pad the end
