"""MusicVAE model: magenta's schedules and loss, decoding, learning, the verbs, checkpoints."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import latentmusic
from latentmusic.errors import CheckpointError, ConfigError, InputError
from latentmusic.midi.io import read_sequence
from latentmusic.midi.representations import MELODY, pitch_to_class
from latentmusic.musicvae.attributes import compute_vectors, measure
from latentmusic.musicvae.config import PRESETS, preset_for
from latentmusic.musicvae.model import MusicVAE, kl_beta, load_model, sampling_probability
from latentmusic.musicvae.train import MusicVAEModule

FIXTURES = Path(__file__).parent / "fixtures" / "midi"
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def _melody(rng: np.random.Generator, durations: list[int]) -> np.ndarray:
    """A 2-bar C-major melody whose notes last one of ``durations`` 16ths."""
    events = np.zeros(32, np.int64)
    t = 0
    while t < 32:
        events[t] = pitch_to_class(int(rng.choice(SCALE)))
        t += int(rng.choice(durations))
    return events[:, None]


def _train(model: MusicVAE, windows: np.ndarray, steps: int, batch: int, stop=None) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=model.config.lr)
    tokens = torch.from_numpy(windows.astype(np.int64))
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = (
            torch.randint(0, len(tokens), (batch,), generator=gen)
            if batch < len(tokens)
            else slice(None)
        )
        loss = model.loss({"tokens": tokens[idx]}, step=step)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if stop is not None and step % 50 == 49 and stop(model):
            break
    model.eval()


def _exact(model: MusicVAE, tokens: torch.Tensor) -> bool:
    with torch.no_grad():
        return bool(torch.equal(model.decode_tokens(model.encode_tokens(tokens)[0], 0.0), tokens))


@pytest.fixture(scope="module")
def overfit() -> tuple[MusicVAE, np.ndarray]:
    """The tiny preset trained on a handful of melodies: 4 bars of "Ode to Joy" + 4 others."""
    torch.set_num_threads(1)
    ode = MELODY.windows(MELODY.encode(read_sequence(FIXTURES / "melody.mid")), 2)[:4]
    rng = np.random.default_rng(1)
    windows = np.stack(ode + [_melody(rng, [2, 4]) for _ in range(4)])
    torch.manual_seed(0)
    model = MusicVAE(PRESETS["tiny"])
    tokens = torch.from_numpy(windows)
    _train(model, windows, steps=800, batch=len(windows), stop=lambda m: _exact(m, tokens))
    return model, windows


def test_schedules_are_magentas() -> None:
    cfg = PRESETS["cat-mel_2bar_small"]
    assert sampling_probability(cfg, 0) == pytest.approx(1 - 1000 / 1001)
    assert sampling_probability(cfg, round(1000 * math.log(1000))) == pytest.approx(0.5, abs=1e-3)
    assert sampling_probability(cfg, 20000) > 0.99
    assert kl_beta(cfg, 0) == 0.0
    assert kl_beta(cfg, 100_000) == pytest.approx(0.2 * (1 - 0.99999**100_000))
    drums = PRESETS["cat-drums_2bar_small"]
    assert kl_beta(drums, 1) == 0.2 and drums.free_bits == 48
    exp = dataclasses.replace(cfg, sampling_schedule="exponential", sampling_rate=0.999)
    assert sampling_probability(exp, 1000) == pytest.approx(1 - 0.999**1000)


def test_presets_mirror_magentas_configs() -> None:
    small, big = PRESETS["cat-mel_2bar_small"], PRESETS["cat-mel_2bar_big"]
    assert (small.enc_rnn_size, small.dec_rnn_size, small.z_size, small.max_beta) == (
        (512,),
        (256, 256),
        256,
        0.2,
    )
    assert (small.lr, small.decay_rate, small.min_lr, small.batch_size, small.steps) == (
        1e-3,
        0.9999,
        1e-5,
        512,
        32,
    )
    assert (big.enc_rnn_size, big.dec_rnn_size, big.z_size, big.max_beta) == (
        (2048,),
        (2048,) * 3,
        512,
        0.5,
    )
    mel16, trio = PRESETS["hierdec-mel_16bar"], PRESETS["hierdec-trio_16bar"]
    assert mel16.hierarchical and mel16.steps == 256 and mel16.free_bits == 256
    assert (mel16.enc_rnn_size, mel16.conductor_sizes, mel16.conductor_output_size, mel16.dec_rnn_size) == (
        (2048, 2048), (1024, 1024), 512, (1024, 1024)
    )  # fmt: skip
    assert trio.representation == "trio" and trio.batch_size == 256 and trio.z_size == 512
    assert PRESETS["paper"] == small and small.transpose_range == 5
    assert preset_for("tiny", "hierdec").hierarchical and not preset_for("tiny", None).hierarchical
    with pytest.raises(ConfigError, match="Unknown MusicVAE model type 'transformer'"):
        preset_for("tiny", "transformer")
    model = MusicVAE(small)
    assert model.encoder.layers[0].weight_hh_l0.shape == (4 * 512, 512)
    assert model.decoders[0].rnn.layers[1].weight_hh_l0.shape == (4 * 256, 256)
    assert model.mu.out_features == 256 and model.input_size == 90


def test_loss_applies_free_bits_and_beta() -> None:
    torch.manual_seed(0)
    tokens = torch.from_numpy(
        np.stack([_melody(np.random.default_rng(i), [2, 4]) for i in range(4)])
    )
    free = MusicVAE(dataclasses.replace(PRESETS["tiny"], free_bits=1000.0))
    with torch.no_grad():
        out = free.loss({"tokens": tokens}, step=500)
    assert float(out["kl"]) > 0 and float(out["loss"]) == pytest.approx(float(out["recon"]))
    paid = MusicVAE(
        dataclasses.replace(PRESETS["tiny"], free_bits=0.0, beta_rate=0.0, max_beta=0.5)
    )
    with torch.no_grad():
        out = paid.loss({"tokens": tokens}, step=10)
    assert float(out["loss"]) == pytest.approx(float(out["recon"] + 0.5 * out["kl"]), rel=1e-5)
    assert out["kl_bits"] == pytest.approx(float(out["kl"]) / math.log(2))


def _small_hierarchical(representation: str, bars: int) -> MusicVAE:
    cfg = dataclasses.replace(
        PRESETS["small-trio"], representation=representation, bars=bars, z_size=8, enc_rnn_size=(16,),
        dec_rnn_size=(16, 16), conductor_rnn_size=(16,), conductor_output_size=12,
    )  # fmt: skip
    return MusicVAE(cfg)


@pytest.mark.parametrize("kind", ["flat-melody", "flat-drums", "hier-trio", "hier-satb"])
def test_greedy_decoding_agrees_with_teacher_forcing(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "flat-melody":
        model = MusicVAE(dataclasses.replace(PRESETS["tiny"], dec_rnn_size=(32, 32)))
    elif kind == "flat-drums":
        model = MusicVAE(
            dataclasses.replace(PRESETS["small-drums"], enc_rnn_size=(16,), dec_rnn_size=(16,))
        )
    else:
        model = _small_hierarchical(kind.split("-")[1], bars=3)
    with torch.no_grad():
        z = torch.randn(3, model.config.z_size) * 3
        tokens = model.decode_tokens(z, 0.0)
        assert tokens.shape == (3, model.steps, len(model.representation.tracks))
        logits = model.track_logits(tokens, z, 0.0)
    for k, lg in enumerate(logits):  # each chosen token has the highest teacher-forced logit
        chosen = lg.gather(-1, tokens[..., k : k + 1])[..., 0]
        assert torch.allclose(chosen, lg.max(-1).values, atol=1e-4)
    assert len(torch.unique(tokens)) > 1


def test_hierarchical_bars_are_decoded_independently() -> None:
    torch.manual_seed(0)
    model = _small_hierarchical("melody", bars=2)
    tokens = torch.randint(0, 90, (2, 32, 1))
    changed = tokens.clone()
    changed[:, :16] = torch.randint(0, 90, (2, 16, 1))
    z = torch.randn(2, model.config.z_size)
    with torch.no_grad():
        a, b = model.track_logits(tokens, z)[0], model.track_logits(changed, z)[0]
    assert torch.equal(a[:, 16:], b[:, 16:])  # bar 2 does not see bar 1's notes
    assert not torch.equal(a[:, 1:16], b[:, 1:16])


def test_scheduled_sampling_feeds_the_decoders_own_samples() -> None:
    torch.manual_seed(0)
    model = MusicVAE(PRESETS["tiny"])
    decoder = model.decoders[0]
    targets = torch.randint(0, 90, (4, 32))
    cond = torch.randn(4, 32)
    forced = decoder(targets, cond, 0.0)
    torch.manual_seed(1)
    sampled = decoder(targets, cond, 1.0)
    assert torch.allclose(forced[:, 0], sampled[:, 0], atol=1e-6)  # the first input is zeros
    assert not torch.allclose(forced[:, 1:], sampled[:, 1:])
    sampled.sum().backward()
    assert decoder.rnn.layers[0].weight_ih_l0.grad.abs().sum() > 0


def test_tiny_preset_overfits_a_handful_of_melodies(overfit: tuple[MusicVAE, np.ndarray]) -> None:
    model, windows = overfit
    tokens = torch.from_numpy(windows)
    with torch.no_grad():
        mu = model.encode_tokens(tokens)[0]
        accuracy = (model.track_logits(tokens, mu)[0].argmax(-1) == tokens[..., 0]).float().mean()
        greedy = model.decode_tokens(mu, 0.0)
    assert accuracy >= 0.95
    assert (greedy == tokens).float().mean() >= 0.95


def test_interpolation_endpoints_decode_to_the_inputs(overfit: tuple[MusicVAE, np.ndarray]) -> None:
    model, windows = overfit
    seqs = [MELODY.decode(w, qpm=96) for w in windows[:4]]
    path = model.interpolate(seqs[:2], steps=6)
    assert len(path) == 6 and all(s.qpm == 96 for s in path)
    assert np.array_equal(MELODY.encode(path[0]), windows[0])
    assert np.array_equal(MELODY.encode(path[-1]), windows[1])
    middle = [MELODY.encode(s) for s in path[1:-1]]
    assert any(
        not np.array_equal(m, windows[0]) and not np.array_equal(m, windows[1]) for m in middle
    )
    grid = model.interpolate(seqs, steps=3)
    assert len(grid) == 9
    for corner, source in zip((0, 2, 6, 8), range(4), strict=True):
        assert np.array_equal(MELODY.encode(grid[corner]), windows[source])
    with pytest.raises(InputError, match="2 inputs .* or 4"):
        model.interpolate(seqs[:3], steps=3)


def test_similar_sample_and_reconstruct(overfit: tuple[MusicVAE, np.ndarray]) -> None:
    model, windows = overfit
    seq = MELODY.decode(windows[2])
    assert np.array_equal(MELODY.encode(model.reconstruct(seq)[0]), windows[2])
    same = model.similar(seq, n=3, similarity=1.0, temperature=0.0, seed=0)
    assert all(np.array_equal(MELODY.encode(s), windows[2]) for s in same)
    far = model.similar(seq, n=3, similarity=0.0, temperature=0.0, seed=0)
    assert any(not np.array_equal(MELODY.encode(s), windows[2]) for s in far)
    with pytest.raises(InputError, match="between 0 and 1"):
        model.similar(seq, similarity=1.5)
    a, b = model.sample(4, temperature=0.8, seed=5), model.sample(4, temperature=0.8, seed=5)
    assert [s.notes for s in a] == [s.notes for s in b] and all(s.total_steps == 32 for s in a)
    assert model.decode(torch.zeros(32), length=16)[0].total_steps == 16


def test_checkpoint_round_trip_through_latentmusic_load(overfit, tmp_path: Path) -> None:  # noqa: ANN001
    model, windows = overfit
    module = MusicVAEModule(model.config, preset="tiny")
    module.model.load_state_dict(model.state_dict())
    module.export_checkpoint(tmp_path / "run", {"steps": 123})
    loaded = latentmusic.load(tmp_path / "run")
    assert (
        isinstance(loaded, MusicVAE) and loaded.preset == "tiny" and loaded.config == model.config
    )
    assert loaded.extra["representation"] == "melody" and loaded.extra["tracks"][0]["classes"] == 90
    tokens = torch.from_numpy(windows)
    assert torch.equal(loaded.encode(tokens), model.encode(tokens))
    from latentmusic.train.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "other", torch.nn.Linear(2, 2), family="nsynth", model_type="wavenet",
                    preset="tiny", config={})  # fmt: skip
    with pytest.raises(CheckpointError, match="is a 'nsynth' checkpoint, not a 'musicvae' one"):
        load_model(tmp_path / "other")


def test_note_density_vector_raises_density_of_decodings() -> None:
    """A model trained on melodies of varied density learns a density direction (paper 5.4)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    choices = ([1, 2], [2, 4], [4, 8], [8, 16])
    windows = np.stack([_melody(rng, choices[i % 4]) for i in range(96)])
    torch.manual_seed(0)
    model = MusicVAE(PRESETS["tiny"])
    _train(model, windows, steps=200, batch=32)
    vectors = compute_vectors(model, windows, ["note_density", "pitch_range"])
    info = vectors["note_density"]
    assert info["high_mean"] > info["low_mean"] and info["examples"] == 96
    held_out = torch.from_numpy(np.stack([_melody(rng, choices[i % 4]) for i in range(32)]))
    vector = torch.from_numpy(info["vector"])
    with torch.no_grad():
        z = model.encode(held_out)
        decoded = {m: model.decode_tokens(z + m * vector, 0.0).numpy() for m in (-1.0, 0.0, 1.0)}
    density = {
        m: measure([MELODY.decode(t) for t in d], "note_density").mean() for m, d in decoded.items()
    }
    assert density[1.0] > density[0.0] > density[-1.0]
    assert density[1.0] - density[-1.0] > 0.1  # notes per 16th step: a large, audible change
