"""Jukebox models: the VQ-VAE learns, the prior learns, sampling is exact and windowed."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import latentmusic
from latentmusic.errors import CheckpointError, InputError
from latentmusic.jukebox.config import PRIOR_PRESETS, UPSAMPLER_PRESETS, VQVAE_PRESETS
from latentmusic.jukebox.labels import BOS, PAD, LabelVocab, lyric_ids, lyrics_window
from latentmusic.jukebox.prior import Conditioning, Prior
from latentmusic.jukebox.sampling import sample_level, window_starts
from latentmusic.jukebox.train import VQVAEModule
from latentmusic.jukebox.vqvae import VQVAE
from latentmusic.train.checkpoint import save_checkpoint
from latentmusic.train.config import config_to_dict

SR = 16000


def _tones(n: int, length: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    out = []
    for _ in range(n):
        f = rng.uniform(150, 700)
        x = 0.5 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(
            2 * np.pi * 2 * f * t + rng.uniform(0, 6)
        )
        out.append(x * np.exp(-t * rng.uniform(0.5, 3)))
    return torch.tensor(np.stack(out), dtype=torch.float32)


def _prior(ratio: int = 0, **kw) -> Prior:
    base = UPSAMPLER_PRESETS["tiny"] if ratio else PRIOR_PRESETS["tiny"]
    cfg = dataclasses.replace(base, n_artists=2, n_genres=3, **kw)
    vocab = LabelVocab(("bach", "folk"), ("organ", "piano", "strings"))
    torch.manual_seed(0)
    return Prior(cfg, vocab)


def _cond(batch: int, genre: int = 0, **kw) -> Conditioning:
    return Conditioning(
        artist=torch.zeros(batch, dtype=torch.long),
        genre=torch.full((batch,), genre, dtype=torch.long),
        total=torch.full((batch,), 10.0 * SR, dtype=torch.float64),
        start=torch.zeros(batch, dtype=torch.float64),
        **kw,
    )


def test_vqvae_shapes_hops_and_nested_codes() -> None:
    cfg = VQVAE_PRESETS["tiny"]
    assert cfg.hops == (8, 32, 128) == VQVAE_PRESETS["paper"].hops
    paper = VQVAE(VQVAE_PRESETS["paper"])
    assert [lvl.quantizer.codebook.shape for lvl in paper.levels] == [(2048, 64)] * 3
    model = VQVAE(cfg).eval()
    codes = model.encode(torch.zeros(1000))  # padded to 1024 = 8 top tokens
    assert [c.shape[1] for c in codes] == [128, 32, 8]
    assert model.decode(codes[1], 1).shape == (1, 1024)
    assert model.reconstruct(torch.zeros(1000), 2).shape == (1, 1000)


def _chords(n: int, length: int, seed: int) -> torch.Tensor:
    """Tones from a small set of pitches with random phase and level (train and held-out)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    out = []
    for _ in range(n):
        f = rng.choice([220.0, 330.0, 440.0, 660.0])
        x = rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        out.append(x + 0.15 * np.sin(2 * np.pi * 2 * f * t + rng.uniform(0, 2 * np.pi)))
    return torch.tensor(np.stack(out), dtype=torch.float32)


def test_tiny_vqvae_spectral_convergence_improves_with_training() -> None:
    from latentmusic.audio.spectral import spectral_convergence_db

    torch.manual_seed(0)
    cfg = VQVAE_PRESETS["tiny"]
    module = VQVAEModule(cfg, "tiny", power=0.1)
    held_out = _chords(4, 4096, seed=99)

    def sc_db() -> list[float]:
        module.model.eval()
        out = [
            spectral_convergence_db(held_out, module.model.reconstruct(held_out, level))
            for level in range(3)
        ]
        module.model.train()
        return out

    opt = torch.optim.Adam(module.model.parameters(), lr=cfg.lr)
    module.model.train()
    module.model.loss({"audio": _chords(4, cfg.segment, seed=0)})  # initialises the codebooks
    before = sc_db()
    for step in range(45):
        parts = module.model.loss({"audio": _chords(4, cfg.segment, seed=step + 1)}, module.power)
        opt.zero_grad()
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(module.model.parameters(), 1.0)
        opt.step()
    after = sc_db()
    assert after[0] < before[0] - 3.0, (before, after)  # bottom level (hop 8): clearly better
    assert after[0] < min(after[1:]), (before, after)  # the least compressed level is best
    for key in ("sc_db", "used", "alive", "entropy_bits", "commit", "spectral", "l2"):
        assert {f"l{level}/{key}" for level in range(3)} <= set(parts)  # each level's parts
    assert parts["l0/used"] > 4


def test_prior_loss_falls_on_a_tiny_code_set() -> None:
    """Two genres, two deterministic patterns: the prior must learn them and the genre."""
    prior = _prior()
    patterns = {0: torch.arange(32) % 4, 1: (torch.arange(32) * 7) % 16 + 20}
    opt = torch.optim.Adam(prior.parameters(), lr=3e-3)
    losses = []
    for _step in range(80):
        genre = torch.randint(0, 2, (8,))
        tokens = torch.stack([patterns[int(g)] for g in genre])
        cond = Conditioning(
            torch.zeros(8, dtype=torch.long), genre, torch.full((8,), 5.0 * SR), torch.zeros(8)
        )
        loss = prior.nll(tokens, cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > math.log(64) - 0.5  # starts near uniform over 64 codes
    assert np.mean(losses[-5:]) < 0.5 * losses[0], losses[::10]
    # greedy sampling reproduces the pattern of the requested genre
    prior.eval()
    for g in (0, 1):
        out = prior.sample_window(32, _cond(1, genre=g), temperature=0.0)
        assert (out[0] == patterns[g]).float().mean() > 0.9


def test_cached_and_uncached_sampling_agree_exactly() -> None:
    prior = _prior(lyrics=True).double().eval()
    lyrics = torch.from_numpy(lyrics_window("nun lob mein seel den herren", 16))[None].expand(2, -1)
    cond = _cond(2, lyrics=lyrics)
    cond.total = cond.total.double()
    draws = []
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(7)
        draws.append(
            prior.sample_window(32, cond, generator=gen, use_cache=use_cache, temperature=1.0)
        )
    assert torch.equal(draws[0], draws[1])
    assert len(set(draws[0][0].tolist())) > 3  # a real random draw, not a constant
    gen = torch.Generator().manual_seed(8)
    other = prior.sample_window(32, cond, generator=gen)
    assert not torch.equal(other, draws[0])


def test_windowed_sampling_produces_the_requested_length_and_keeps_the_prime() -> None:
    assert window_starts(100, 32, 16) == [0, 16, 32, 48, 64, 80]
    assert window_starts(100, 32, 16, known=40) == [24, 40, 56, 72]
    assert window_starts(64, 32, 10, align=4) == [0, 8, 16, 24, 32]
    prior = _prior().double().eval()
    prime = torch.randint(0, 64, (2, 10))
    outs, ticks = [], []
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(3)
        ticks.append(0)

        def tick() -> None:
            ticks[-1] += 1

        outs.append(
            sample_level(
                prior,
                101,
                artist="bach",
                genre="piano",
                total_samples=101 * 128,
                batch=2,
                prime=prime,
                generator=gen,
                use_cache=use_cache,
                hop_fraction=0.25,
                on_token=tick,
            )
        )
    assert ticks == [91, 91]  # one progress tick per token drawn (the 10 primed are not)
    assert outs[0].shape == (2, 101)
    assert torch.equal(outs[0][:, :10], prime)
    assert torch.equal(outs[0], outs[1])
    # an upsampler: 4 tokens per upper token, windows aligned to the ratio
    up = _prior(ratio=4).double().eval()
    upper = torch.randint(0, 64, (1, 25))
    z = sample_level(
        up,
        100,
        artist="folk",
        genre="organ",
        total_samples=100 * 32,
        upper=upper,
        generator=torch.Generator().manual_seed(0),
        hop_fraction=0.3,
    )
    assert z.shape == (1, 100)


def test_unknown_labels_list_the_known_ones() -> None:
    prior = _prior()
    with pytest.raises(InputError) as err:
        sample_level(prior, 8, artist="bach", genre="jazz", total_samples=1000)
    assert str(err.value) == "Unknown genre 'jazz'; this model knows: organ, piano, strings."
    with pytest.raises(InputError, match="Unknown artist 'mozart'; this model knows: bach, folk."):
        sample_level(prior, 8, artist="mozart", genre="organ", total_samples=1000)
    with pytest.raises(
        InputError, match="Choose a genre; this model knows: organ, piano, strings."
    ):
        sample_level(prior, 8, artist="bach", genre=None, total_samples=1000)
    assert prior.vocab.genre_id("PIANO") == 1  # case-insensitive match


def test_lyrics_window_is_linearly_aligned() -> None:
    text = "abcdefghij" * 10  # 100 characters
    first = lyrics_window(text, 11, start=0.0, duration=1.0, total=10.0)
    last = lyrics_window(text, 11, start=9.0, duration=1.0, total=10.0)
    assert first[0] == BOS and last[0] == BOS
    assert list(first[1:]) == lyric_ids(text[:10])
    assert list(last[1:]) == lyric_ids(text[-10:])
    short = lyrics_window("Ach Gott", 16)
    assert list(short[1:9]) == lyric_ids("ach gott") and (short[9:] == PAD).all()


def test_checkpoint_round_trip_through_latentmusic_load(tmp_path) -> None:
    vq = VQVAE(VQVAE_PRESETS["tiny"])
    vq.train()
    vq(_tones(2, 1024, 0))  # initialise codebooks so the buffers are non-trivial
    vq.eval()
    save_checkpoint(
        tmp_path / "vq",
        vq,
        family="jukebox",
        model_type="vqvae",
        preset="tiny",
        config=config_to_dict(vq.cfg),
        extra={"sample_rate": SR},
    )
    loaded = latentmusic.load(tmp_path / "vq")
    x = _tones(1, 1024, 5)
    assert torch.equal(loaded.encode(x)[0], vq.encode(x)[0])
    prior = _prior(lyrics=True)
    save_checkpoint(
        tmp_path / "prior",
        prior,
        family="jukebox",
        model_type="prior",
        preset="tiny",
        config=config_to_dict(prior.cfg),
        extra=prior.vocab.to_extra(),
    )
    back = latentmusic.load(tmp_path / "prior")
    assert back.vocab == prior.vocab
    tokens = torch.randint(0, 64, (1, 32))
    cond = _cond(1, lyrics=torch.from_numpy(lyrics_window("amen", 16))[None])
    assert torch.allclose(back(tokens, cond), prior(tokens, cond))
    save_checkpoint(
        tmp_path / "bad",
        prior,
        family="jukebox",
        model_type="decoder",
        preset="tiny",
        config=config_to_dict(prior.cfg),
        extra=prior.vocab.to_extra(),
    )
    with pytest.raises(CheckpointError, match="unknown type 'decoder'"):
        latentmusic.load(tmp_path / "bad")


def test_the_codebook_decay_is_ema_decay_and_old_configs_still_load() -> None:
    """``mu`` meant mu-law in NSynth and translation but the EMA decay here; renamed, and a
    checkpoint or ``--set`` with the old name still reads the same value."""
    from latentmusic.errors import ConfigError
    from latentmusic.jukebox.config import VQVAEConfig
    from latentmusic.train.config import apply_overrides, config_from_dict, config_to_dict

    saved = config_to_dict(VQVAEConfig(ema_decay=0.95))
    assert "mu" not in saved and saved["ema_decay"] == 0.95
    old = {("mu" if k == "ema_decay" else k): v for k, v in saved.items()}
    assert config_from_dict(VQVAEConfig, old).ema_decay == 0.95
    assert apply_overrides(VQVAEConfig(), ["mu=0.9"]).ema_decay == 0.9
    tiny = dataclasses.replace(VQVAE_PRESETS["tiny"], ema_decay=0.9)
    assert {lvl.quantizer.decay for lvl in VQVAE(tiny).levels} == {0.9}
    with pytest.raises(ConfigError, match="'ema_decay' must be in"):
        apply_overrides(VQVAEConfig(), ["ema_decay=1.5"])


def test_old_and_new_name_of_a_renamed_key_together_are_refused() -> None:
    from latentmusic.errors import ConfigError
    from latentmusic.jukebox.config import VQVAEConfig
    from latentmusic.train.config import apply_overrides

    with pytest.raises(ConfigError, match="'mu' is the old name of 'ema_decay'"):
        apply_overrides(VQVAEConfig(), ["mu=0.9", "ema_decay=0.8"])
