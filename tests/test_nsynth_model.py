"""NSynth models: presets, shapes, learning, latent verbs, the spectral baseline, checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import latentmusic
from latentmusic.errors import CheckpointError, ConfigError, InputError
from latentmusic.nsynth.config import PRESETS, SPECTRAL_PRESETS, NSynthConfig, lr_factor
from latentmusic.nsynth.model import NSynthWaveNetAE
from latentmusic.nsynth.spectral_ae import SpectralAutoencoder
from latentmusic.nsynth.train import export
from latentmusic.train.config import resolve_config
from tests.conftest import tone

pytestmark = pytest.mark.usefixtures("one_thread")


def test_paper_preset_is_the_published_model() -> None:
    p = PRESETS["paper"]
    assert (p.sample_rate, p.mu, p.crop, p.bottleneck, p.hop) == (16000, 255, 6144, 16, 512)
    assert (p.encoder_layers, p.encoder_cycle, p.encoder_channels, p.encoder_kernel) == (
        30,
        10,
        128,
        3,
    )
    assert (
        p.decoder_layers,
        p.decoder_cycle,
        p.decoder_residual,
        p.decoder_skip,
        p.decoder_kernel,
    ) == (
        30,
        10,
        512,
        256,
        3,
    )
    lrs = [
        p.lr * lr_factor(s, p.lr_decay_steps, p.lr_decay_factors)
        for s in (0, 119_999, 120_000, 180_000, 240_000, 300_000)
    ]
    assert lrs == pytest.approx([2e-4, 2e-4, 6e-5, 2e-5, 6e-6, 2e-6])
    assert p.receptive_field() == 2 * 3 * 1023 + 3
    for name, cfg in {**PRESETS, **SPECTRAL_PRESETS}.items():
        cfg.validate()  # every preset builds
        assert cfg.crop % cfg.hop == 0, name


def test_small_decoder_is_the_benchmarked_real_time_size() -> None:
    from latentmusic.nn.wavenet import DECODER_SIZES

    s = PRESETS["small"]
    ours = dict(
        residual=s.decoder_residual,
        skip=s.decoder_skip,
        layers=s.decoder_layers,
        cycle=s.decoder_cycle,
        kernel=s.decoder_kernel,
        cond_channels=s.bottleneck,
        hop=s.hop,
    )
    assert ours == DECODER_SIZES["nsynth-small"]


def test_config_errors_are_one_sentence() -> None:
    with pytest.raises(ConfigError, match="multiple of 'hop'"):
        resolve_config(PRESETS, "tiny", ["crop=1000"])
    with pytest.raises(ConfigError, match="Unknown preset 'huge'"):
        resolve_config(PRESETS, "huge")
    with pytest.raises(ConfigError, match="same length"):
        dataclasses.replace(NSynthConfig(), lr_decay_steps=(10,), lr_decay_factors=()).validate()
    with pytest.raises(ConfigError, match="below one"):
        dataclasses.replace(SPECTRAL_PRESETS["tiny"], channels=(8,) * 8).validate()


def test_paper_encoder_maps_a_4s_note_to_125x16() -> None:
    torch.manual_seed(0)
    model = NSynthWaveNetAE(PRESETS["paper"]).eval()
    assert sum(p.numel() for p in model.encoder.parameters()) > 1_000_000  # the real 30-layer stack
    note = tone(60, [1.0, 0.5, 0.25], seconds=4.0)
    assert note.shape == (64000,)
    z = model.encode(note)
    assert z.shape == (125, 16)


def _tiny(seed: int = 0) -> NSynthWaveNetAE:
    torch.manual_seed(seed)
    return NSynthWaveNetAE(PRESETS["tiny"])


def test_tiny_reconstruction_loss_falls_on_a_held_out_note() -> None:
    """Learning, not running: train on tones, measure on a pitch never seen in training."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    timbres = ([1.0, 0.5, 0.3, 0.2], [1.0, 0.0, 0.4, 0.0, 0.3])
    train = [tone(p, a) for p in (48, 52, 55, 60, 67, 72) for a in timbres]
    held_out = torch.from_numpy(tone(64, timbres[0]))[None]
    model = _tiny()
    cfg = model.config
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def held_out_loss() -> float:
        model.eval()
        with torch.no_grad():
            value = float(model.loss({"audio": held_out})["loss"])
        model.train()
        return value

    initial = held_out_loss()
    assert initial == pytest.approx(np.log(256), abs=0.2)  # chance: uniform over 256 codes
    for _ in range(100):
        idx = rng.integers(0, len(train), 8)
        starts = rng.integers(0, len(train[0]) - cfg.crop, 8)
        batch = torch.from_numpy(
            np.stack([train[i][s : s + cfg.crop] for i, s in zip(idx, starts, strict=True)])
        )
        loss = model.loss({"audio": batch})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = held_out_loss()
    assert final < 0.7 * initial, (initial, final)


def test_encode_decode_shapes_and_repeatable_sampling() -> None:
    model = _tiny().eval()
    hop = model.hop
    audio = tone(60, [1.0, 0.5])[: 10 * hop + 37]  # trailing partial frame is dropped
    z = model.encode(audio)
    assert z.shape == (10, 16) and z.dtype == torch.float32
    assert torch.allclose(model.encode(torch.from_numpy(audio)[None])[0], z)
    assert model.encode(np.stack([audio, audio])).shape == (2, 10, 16)
    y1 = model.decode(z, seed=3)
    y2 = model.decode(z, seed=3)
    assert y1.shape == (10 * hop,) and torch.equal(y1, y2)
    assert float(y1.abs().max()) <= 1.0
    assert model.decode(z, temperature=0).shape == (10 * hop,)
    assert model.reconstruct(audio, seed=1).shape == (10 * hop,)
    assert model.decode(z[None].repeat(2, 1, 1), seed=0).shape == (2, 10 * hop)


def test_short_silent_and_malformed_input() -> None:
    model = _tiny().eval()
    with pytest.raises(
        InputError, match=r"shorter than one embedding frame \(128 samples = 8 ms at 16000 Hz\)"
    ):
        model.encode(np.zeros(100, dtype=np.float32))
    silent = model.encode(np.zeros(4 * model.hop, dtype=np.float32))
    assert silent.shape == (4, 16) and torch.isfinite(silent).all()
    assert torch.allclose(silent[1], silent[2])  # silence encodes to one constant frame
    assert model.decode(silent, seed=0).shape == (4 * model.hop,)
    with pytest.raises(InputError, match=r"shape \(frames, 16\)"):
        model.decode(torch.zeros(4, 8))
    with pytest.raises(InputError, match="NaN"):
        model.encode(np.full(512, np.nan, dtype=np.float32))


def test_interpolation_endpoints_equal_the_encodings_and_grid_corners() -> None:
    model = _tiny().eval()
    a = tone(60, [1.0, 0.3, 0.1])
    b = tone(67, [1.0, 0.0, 0.5, 0.0, 0.3])[:3000]  # shorter: paths use the common length
    za, zb = model.encode(a), model.encode(b)
    for method in ("lerp", "slerp"):
        path = model.interpolate(a, b, steps=5, method=method, decode=False)
        n = zb.shape[0]
        assert path.shape == (5, n, 16)
        assert torch.equal(path[0], za[:n]) and torch.equal(path[-1], zb)
    mid = model.interpolate(a, b, steps=3, decode=False)[1]
    assert torch.allclose(mid, 0.5 * (za[: len(zb)] + zb), atol=1e-6)
    audio = model.interpolate(a, b, steps=3, seed=0)
    assert audio.shape == (3, zb.shape[0] * model.hop)

    c, d = tone(55, [1.0, 0.2]), tone(72, [1.0, 0.6, 0.3])
    corners = [a, b, c, d]
    n = min(model.encode(s).shape[0] for s in corners)
    assert torch.allclose(model.grid(corners, 0, 0, decode=False), za[:n])
    assert torch.allclose(model.grid(corners, 1, 1, decode=False), model.encode(d)[:n])
    centre = model.grid(corners, 0.5, 0.5, decode=False)
    assert torch.allclose(centre, sum(model.encode(s)[:n] for s in corners) / 4, atol=1e-6)
    with pytest.raises(InputError, match="between 0 and 1"):
        model.grid(corners, 1.5, 0)
    with pytest.raises(InputError, match="exactly 4"):
        model.grid(corners[:3], 0.5, 0.5)

    fade = model.crossfade(a, b, steps=3)
    assert fade.shape == (3, 3000)
    assert torch.allclose(fade[1], torch.from_numpy(0.5 * a[:3000] + 0.5 * b), atol=1e-6)


def test_spectral_baseline_learns_and_reconstructs_audio_of_the_right_length() -> None:
    torch.manual_seed(0)
    cfg = SPECTRAL_PRESETS["tiny"]
    model = SpectralAutoencoder(cfg)
    notes = [tone(p, [1.0, 0.5, 0.25]) for p in (55, 60, 64, 67)]
    batch = torch.from_numpy(np.stack([n[: cfg.crop] for n in notes]))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses = []
    for _ in range(30):
        loss = model.loss({"audio": batch})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses
    model.eval()
    z = model.encode(notes[0])
    assert z.shape == (len(notes[0]) // cfg.hop, 16)
    audio = model.reconstruct(notes[0], seed=0)
    assert audio.shape == (len(notes[0]) // cfg.hop * cfg.hop,)
    assert torch.isfinite(audio).all() and float(audio.abs().max()) > 1e-3
    assert torch.equal(audio, model.reconstruct(notes[0], seed=0))  # Griffin-Lim init is seeded
    path = model.interpolate(notes[0], notes[1], steps=4, decode=False)
    assert torch.equal(path[0], z) and torch.equal(path[-1], model.encode(notes[1]))


@pytest.mark.parametrize("model_type", ["wavenet", "spectral"])
def test_checkpoint_round_trip_through_latentmusic_load(tmp_path: Path, model_type: str) -> None:
    torch.manual_seed(0)
    model = _tiny() if model_type == "wavenet" else SpectralAutoencoder(SPECTRAL_PRESETS["tiny"])
    model.eval()
    export(model, tmp_path / "ckpt", "tiny", {"steps": 0})
    loaded = latentmusic.load(tmp_path / "ckpt")
    assert type(loaded) is type(model) and loaded.preset == "tiny" and not loaded.training
    assert loaded.config == model.config
    audio = tone(62, [1.0, 0.4])
    assert torch.equal(loaded.encode(audio), model.encode(audio))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_wrong_family_and_unknown_model_type_are_checkpoint_errors(tmp_path: Path) -> None:
    import json

    from latentmusic.nsynth.verbs import load_model
    from latentmusic.train.checkpoint import save_checkpoint

    save_checkpoint(
        tmp_path / "other",
        torch.nn.Linear(2, 2),
        family="musicvae",
        model_type="flat",
        preset="x",
        config={},
    )
    with pytest.raises(CheckpointError, match="is a 'musicvae' checkpoint, not a 'nsynth' one"):
        load_model(tmp_path / "other")
    export(_tiny(), tmp_path / "odd", "tiny")
    cfg = json.loads((tmp_path / "odd" / "config.json").read_text())
    cfg["model_type"] = "transformer"
    (tmp_path / "odd" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unknown type 'transformer'"):
        latentmusic.load(tmp_path / "odd")


# ---- pitch conditioning (ours: small-pitch) -----------------------------------------------


def _pitched(channels: int = 8, seed: int = 0) -> NSynthWaveNetAE:
    torch.manual_seed(seed)
    return NSynthWaveNetAE(dataclasses.replace(PRESETS["tiny"], pitch_channels=channels))


def test_pitch_conditioning_joins_the_embedding_and_is_required() -> None:
    assert PRESETS["small-pitch"] == dataclasses.replace(PRESETS["small"], pitch_channels=16)
    assert PRESETS["paper"].pitch_channels == 0  # the published autoencoder is not told it
    model = _pitched(8).eval()
    assert model.takes_pitch and not _tiny().takes_pitch
    z = torch.zeros(2, model.bottleneck, 3)
    cond = model.conditioning(z, torch.tensor([60.0, 67.4]))
    assert cond.shape == (2, model.bottleneck + 8, 3)
    vectors = model.pitch_embedding.weight.detach()
    assert torch.equal(cond[0, model.bottleneck :, 2], vectors[60])
    assert torch.equal(cond[1, model.bottleneck :, 0], vectors[67])  # rounded to the note
    embedding = torch.zeros(4, model.bottleneck)
    with pytest.raises(InputError, match="This WaveNet is pitch-conditioned: pass pitch="):
        model.decode(embedding)
    audio = model.decode(embedding, pitch=60, temperature=0.0)
    assert audio.shape == (4 * model.hop,)
    with pytest.raises(InputError, match="not trained with pitch conditioning"):
        _tiny().conditioning(z, 60)
    with pytest.raises(ConfigError, match="'pitch_channels' must be 0"):
        dataclasses.replace(PRESETS["tiny"], pitch_channels=-1).validate()


def test_a_pitch_conditioned_decoder_learns_to_read_the_pitch() -> None:
    """After a little training the teacher-forced loss of a note is clearly lower when the
    decoder is told its own pitch than when it is told another one: it uses the pitch."""
    rng = np.random.default_rng(0)
    pitches = (55, 62, 69)
    notes = {p: tone(p, [1.0, 0.5, 0.3]) for p in pitches}
    model = _pitched(8)
    cfg = model.config
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(150):
        chosen = rng.choice(pitches, 8)
        starts = rng.integers(0, len(notes[55]) - cfg.crop, 8)
        audio = torch.from_numpy(
            np.stack([notes[p][s : s + cfg.crop] for p, s in zip(chosen, starts, strict=True)])
        )
        batch = {"audio": audio, "pitch": torch.tensor(chosen, dtype=torch.float32)}
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    note = torch.from_numpy(notes[62][: cfg.crop])[None]
    with torch.no_grad():
        right = float(model.nll(note, torch.tensor([62.0])))
        wrong = float(model.nll(note, torch.tensor([69.0])))
    assert right < wrong - 0.05, (right, wrong)


def test_a_trained_autoencoder_grows_into_a_pitch_conditioned_one(tmp_path: Path) -> None:
    """--init of a pitch-conditioned run from a plain autoencoder keeps what it learnt: the
    conditioning convs gain zero columns, so it plays exactly as before until it learns."""
    from latentmusic.nsynth.train import add_pitch_conditioning
    from latentmusic.train.init import init_from

    plain = _tiny(seed=1).eval()
    saved = export(plain, tmp_path / "plain", "tiny")
    grown = _pitched(8, seed=2).eval()
    assert not add_pitch_conditioning(_tiny(), {}, {})  # nothing to grow into
    init_from(
        grown,
        saved,
        family="nsynth",
        model_type="wavenet",
        config=grown.config,
        grow=lambda cfg, state: add_pitch_conditioning(grown, cfg, state),
    )
    audio = torch.from_numpy(tone(60, [1.0, 0.5])[: 4 * plain.hop])[None]
    with torch.no_grad():
        assert float(grown.nll(audio, torch.tensor([60.0]))) == pytest.approx(
            float(plain.nll(audio)), rel=1e-6
        )
    with pytest.raises(CheckpointError, match="different network"):  # other changes still refused
        bigger = NSynthWaveNetAE(
            dataclasses.replace(PRESETS["tiny"], pitch_channels=8, decoder_skip=64)
        )
        init_from(
            bigger,
            saved,
            family="nsynth",
            model_type="wavenet",
            config=bigger.config,
            grow=lambda cfg, state: add_pitch_conditioning(bigger, cfg, state),
        )
