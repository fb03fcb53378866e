"""The harmonic model: its synthesizer in numbers, a tiny model learning one note at the right
pitch, checkpoints through ``latentmusic.load``, the CLI verbs and ``eval nsynth`` on it."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import latentmusic
from latentmusic.errors import InputError, LatentMusicWarning
from latentmusic.nsynth.config import HARMONIC_PRESETS, PRESETS
from latentmusic.nsynth.evaluate import cents_off, median_f0
from latentmusic.nsynth.harmonic import (
    HarmonicAutoencoder,
    augment_parity,
    filtered_noise,
    harmonic_levels,
    harmonic_mask,
    harmonic_synth,
    odd_harmonic_comb,
    parity_basis,
)
from latentmusic.nsynth.model import NSynthWaveNetAE
from latentmusic.nsynth.train import export

TINY = HARMONIC_PRESETS["tiny"]
PITCH = 57  # A3, 220 Hz
SR = 16000


@pytest.fixture(autouse=True)
def one_thread():
    """Tests share busy cores: one torch thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tone(pitch: float, amps: list[float], n: int = 7936) -> np.ndarray:
    """A harmonic tone (10 ms attack, slow decay, peak 0.5) of ``n`` samples."""
    t = np.arange(n) / SR
    f = 440.0 * 2.0 ** ((pitch - 69) / 12)
    x = sum(a * np.sin(2 * np.pi * f * k * t) for k, a in enumerate(amps, 1) if a)
    return (0.5 * x / np.abs(x).max() * np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)).astype(
        np.float32
    )


INSTRUMENTS = (  # (split, family, family id, harmonic amplitudes)
    ("train", "flute", 2, [1.0, 0.3, 0.1]),
    ("train", "brass", 1, [1.0 / k for k in range(1, 12)]),
    ("valid", "organ", 6, [1.0, 0.0, 0.5]),
    ("test", "organ", 6, [1.0, 0.0, 0.4, 0.0, 0.4]),
)


def make_note_set(root: Path, pitches: tuple[int, ...]) -> Path:
    """An NSynth-format set of harmonic tones, split by instrument as NSynth is."""
    examples: dict[str, dict] = {"train": {}, "valid": {}, "test": {}}
    for inst, (split, family, family_id, amps) in enumerate(INSTRUMENTS):
        (root / split / "audio").mkdir(parents=True, exist_ok=True)
        for pitch in pitches:
            name = f"{family}_acoustic_{inst:03d}"
            key = f"{name}-{pitch:03d}-100"
            sf.write(root / split / "audio" / f"{key}.wav", tone(pitch, amps), SR)
            examples[split][key] = {
                "note": len(examples[split]), "note_str": key, "instrument": inst,
                "instrument_str": name, "instrument_family": family_id,
                "instrument_family_str": family, "instrument_source": 0,
                "instrument_source_str": "acoustic", "pitch": pitch, "velocity": 100,
                "sample_rate": SR, "qualities": [0] * 10, "qualities_str": [],
            }  # fmt: skip
    for split, notes in examples.items():
        (root / split / "examples.json").write_text(json.dumps(notes))
    return root


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``latentmusic ARGS`` in this process: (exit code, stdout, stderr)."""
    from latentmusic.cli.main import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _power_at(audio: np.ndarray, hz: float, sr: int = SR) -> float:
    """Hann-windowed power spectrum at the bin nearest ``hz`` (max over +-1 bin)."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(audio.size))) ** 2
    b = int(round(hz * audio.size / sr))
    return float(spec[max(b - 1, 0) : b + 2].max())


# ------------------------------------------------------------------------------ synthesizer
def test_model_and_synthesizer_shapes() -> None:
    torch.manual_seed(0)
    model = HarmonicAutoencoder(TINY)
    audio = torch.randn(2, 1024) * 0.1
    z = model.embed(audio)
    assert z.shape == (2, 16, 1024 // TINY.hop)
    harmonics, noise, f0 = model.controls(z, torch.tensor([60.0, 72.0]))
    frames = 1024 // TINY.control_hop
    assert harmonics.shape == (2, frames, TINY.n_harmonics)
    assert noise.shape == (2, frames, TINY.noise_bands)
    assert torch.allclose(f0, torch.tensor([261.6256, 523.2511]), atol=1e-3)
    assert model.synthesize(z, torch.tensor([60.0, 72.0])).shape == (2, 1024)
    assert filtered_noise(noise, TINY.control_hop).shape == (2, 1024)
    zs = model.encode(audio[0].numpy())
    assert zs.shape == (1024 // TINY.hop, 16)
    assert model.decode(zs, pitch=60).shape == (1024,)
    assert model.decode(model.encode(audio), pitch=[60, 64]).shape == (2, 1024)
    with pytest.raises(InputError, match="--pitch"):
        model.decode(zs)


def test_harmonic_amplitudes_give_peaks_at_f0_and_its_harmonics() -> None:
    f0, n = 220.0, SR  # one second: 1 Hz bins
    amps = torch.tensor([1.0, 0.5, 0.25, 0.0])[None, None].expand(1, 10, 4)  # constant
    audio = harmonic_synth(amps, torch.tensor([f0]), n, SR)[0].numpy()
    peaks = [_power_at(audio, k * f0) for k in (1, 2, 3)]
    assert np.allclose(np.sqrt(np.array(peaks) / peaks[0]), [1.0, 0.5, 0.25], atol=0.01)
    spec = np.abs(np.fft.rfft(audio * np.hanning(n))) ** 2
    assert int(spec.argmax()) == 220
    # Nothing between the harmonics, nothing at the silent 4th.
    for hz in (110.0, 330.0, 550.0, 880.0, 1500.0):
        assert _power_at(audio, hz) < 1e-6 * peaks[0]
    # Sample 0 is sin(0) (phase starts at 0); the level is the sum of sines' amplitudes.
    assert abs(audio[0]) < 1e-6 and np.abs(audio).max() <= 1.75 + 1e-4


def test_framewise_synthesis_equals_upsampling_every_harmonic() -> None:
    """The fast path (a matrix product per control frame, in blocks) is the reference
    formula -- every harmonic's amplitude upsampled to the sample rate -- in value and
    gradient, for whole frames of any size, one frame, several blocks and a batch."""
    from latentmusic.nsynth.harmonic import upsample

    def reference(amps: torch.Tensor, f0: torch.Tensor, n: int) -> torch.Tensor:
        k = torch.arange(1, amps.shape[-1] + 1, dtype=amps.dtype)
        omega = (2.0 * math.pi * f0.double() / SR)[:, None].expand(-1, n)
        phase = torch.remainder(torch.cumsum(omega, dim=-1) - omega, 2.0 * math.pi)
        waves = torch.sin(phase.to(amps.dtype)[:, None, :] * k[None, :, None])
        return (upsample(amps, n) * waves).sum(dim=1)

    torch.manual_seed(0)
    for batch, frames, hop, harmonics in ((1, 150, 64, 40), (3, 7, 3, 10), (2, 1, 64, 8)):
        amps = (torch.rand(batch, frames, harmonics) / harmonics).requires_grad_()
        f0 = torch.linspace(60.0, 90.0, batch)  # every harmonic below Nyquist
        fast = harmonic_synth(amps, f0, frames * hop, SR)
        slow = reference(amps, f0, frames * hop)
        assert torch.allclose(fast, slow, atol=1e-6), (batch, frames, hop)
        (g_fast,) = torch.autograd.grad(fast.pow(2).sum(), amps)
        (g_slow,) = torch.autograd.grad(slow.pow(2).sum(), amps)
        assert torch.allclose(g_fast, g_slow, atol=1e-5 * float(g_slow.abs().max()))
    # A fractional frame takes the reference path itself.
    amps = torch.rand(1, 3, 4)
    f0 = torch.tensor([100.0])
    assert torch.allclose(harmonic_synth(amps, f0, 100, SR), reference(amps, f0, 100), atol=1e-6)


def test_harmonics_above_nyquist_are_masked_and_do_not_alias() -> None:
    f0 = torch.tensor([3000.0, 100.0])
    mask = harmonic_mask(f0, 8, SR)
    assert mask[0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]  # 3, 6 kHz below 8 kHz; 9 kHz+ not
    assert mask[1].tolist() == [1] * 8
    # Through the model: masked harmonics get zero amplitude whatever the network says.
    torch.manual_seed(0)
    model = HarmonicAutoencoder(TINY)
    z = torch.randn(1, 16, 8)
    harmonics, _, _ = model.controls(z, torch.tensor([90.0]))  # 1480 Hz: 5 harmonics fit
    assert (harmonics[..., 5:] == 0).all() and (harmonics[..., :5] > 0).all()
    # Equal amplitudes on all 8 harmonics of 3 kHz, masked: only 3 and 6 kHz sound, none of
    # the aliases of 9, 12, 15 kHz (at 7, 4, 1 kHz).
    amps = torch.ones(1, 10, 8) * mask[:1, None, :]
    audio = harmonic_synth(amps, f0[:1], SR, SR)[0].numpy()
    top = _power_at(audio, 3000.0)
    assert _power_at(audio, 6000.0) > 0.5 * top
    for alias in (7000.0, 4000.0, 1000.0):
        assert _power_at(audio, alias) < 1e-6 * top


def test_noise_filter_follows_its_magnitudes() -> None:
    """Frequency-sampled FIR: low-pass magnitudes (1 below 2 kHz, 0 above) shape white noise."""
    bands = TINY.noise_bands  # 17 bands over 0..8 kHz: 500 Hz apart
    mags = (torch.arange(bands) * 500.0 < 2000.0).float()[None, None].expand(1, 250, bands)
    gen = torch.Generator().manual_seed(0)
    audio = filtered_noise(mags, 64, gen)[0].numpy()
    spec = np.abs(np.fft.rfft(audio)) ** 2
    hz = np.fft.rfftfreq(audio.size, 1 / SR)
    low, high = spec[(hz > 200) & (hz < 1500)].mean(), spec[hz > 4000].mean()
    assert high < 1e-3 * low
    assert 0.05 < audio.std() < 1.0


# ------------------------------------------------------------------------------ learning
@pytest.fixture(scope="module")
def overfit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny model trained on one harmonic note; its losses and exported run."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    target = torch.from_numpy(tone(PITCH, [1.0, 0.6, 0.4, 0.25, 0.1]))[None]
    pitch = torch.tensor([float(PITCH)])
    model = HarmonicAutoencoder(TINY)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = model.loss({"audio": target, "pitch": pitch})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    run = export(model, tmp_path_factory.mktemp("harmonic") / "run", "tiny")
    return {"model": model, "losses": losses, "target": target[0].numpy(), "run": run}


def test_a_tiny_model_learns_one_note_at_its_pitch(overfit: dict) -> None:
    first, last = np.mean(overfit["losses"][:5]), np.mean(overfit["losses"][-5:])
    assert last < 0.6 * first, (first, last)
    model = overfit["model"]
    recon = model.reconstruct(overfit["target"], pitch=PITCH, seed=0).numpy()
    f0 = median_f0(recon, SR, PITCH)
    assert abs(cents_off(f0, PITCH)) < 50, f0
    # Its spectrum is the note's: the same loss as training reached, on the decoded audio.
    dist = float(
        model.spectral_loss(
            torch.from_numpy(recon)[None], torch.from_numpy(overfit["target"])[None]
        )
    )
    assert dist < 0.6 * first
    # Without a pitch, reconstruct plays the pitch it estimates from the sound.
    estimated = float(model.estimate_pitch(overfit["target"])[0])
    assert abs(estimated - PITCH) < 0.25
    again = model.reconstruct(overfit["target"], seed=0).numpy()
    assert abs(cents_off(median_f0(again, SR, PITCH), PITCH)) < 50


def test_save_and_load_round_trip(overfit: dict) -> None:
    loaded = latentmusic.load(overfit["run"])
    assert isinstance(loaded, HarmonicAutoencoder) and loaded.preset == "tiny"
    assert not loaded.training
    for key, value in overfit["model"].state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    z = loaded.encode(overfit["target"])
    assert torch.equal(
        loaded.decode(z, pitch=PITCH, seed=3), overfit["model"].decode(z, pitch=PITCH, seed=3)
    )


def test_train_command_trains_the_harmonic_type(tmp_path: Path) -> None:
    from latentmusic.nsynth.train import train
    from latentmusic.train.harness import TrainJob, TrainSettings

    data = make_note_set(tmp_path / "notes", pitches=(55, 60))
    settings = TrainSettings(
        out=tmp_path / "run", max_steps=3, batch_size=2, val_every=3, ckpt_every=3,
        val_batches=1, progress=False, accelerator="cpu", threads=1,
    )  # fmt: skip
    run = train(TrainJob(data, settings, "tiny", "harmonic"))
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "harmonic" and config["preset"] == "tiny"
    model = latentmusic.load(run)
    assert model.model_type == "harmonic" and model.config == TINY

    # --init grows it into the model with the odd/even control, which starts out silent.
    grown_settings = dataclasses.replace(settings, out=tmp_path / "grown", max_steps=1)
    job = TrainJob(
        data, grown_settings, "tiny", "harmonic", ("parity_bands=4", "parity_augment=0.5"), run
    )
    grown = latentmusic.load(train(job))
    assert grown.config.parity_bands == 4 and grown.parity_head is not None
    assert json.loads((tmp_path / "grown" / "meta.json").read_text())["steps"] == 4


# ------------------------------------------------------------------------------ CLI and eval
def test_cli_encode_decode_interpolate(
    overfit: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = overfit["run"]
    a = tmp_path / "a.wav"
    b = tmp_path / "b.wav"
    sf.write(a, overfit["target"], SR)
    sf.write(b, tone(PITCH, [1.0, 0.0, 0.5, 0.0, 0.3]), SR)
    code, out, _ = run_cli(capsys, "nsynth", "encode", a, "-m", run, "-o", tmp_path / "a.npy")
    assert code == 0 and "Embedding 62x16" in out

    code, _, err = run_cli(
        capsys, "nsynth", "decode", tmp_path / "a.npy", "-m", run, "-o", tmp_path / "d.wav"
    )
    assert code != 0 and "--pitch" in err
    code, _, _ = run_cli(
        capsys,
        "nsynth",
        "decode",
        tmp_path / "a.npy",
        "-m",
        run,
        "-o",
        tmp_path / "d.wav",
        "--pitch",
        "64",
    )
    assert code == 0
    audio, sr = sf.read(tmp_path / "d.wav")
    assert sr == SR and audio.shape == (62 * TINY.hop,)
    assert abs(cents_off(median_f0(audio, SR, 64), 64)) < 50  # played at the asked pitch

    # The morph keeps A's pitch (estimated) at every step while the embedding moves.
    code, _, _ = run_cli(
        capsys,
        "nsynth",
        "interpolate",
        a,
        b,
        "-m",
        run,
        "-o",
        tmp_path / "morph",
        "--steps",
        "3",
        "--no-rainbowgrams",
    )
    assert code == 0
    steps = [sf.read(tmp_path / "morph" / f"latent_{i}.wav")[0] for i in range(3)]
    for clip in steps:
        assert abs(cents_off(median_f0(clip, SR, PITCH), PITCH)) < 50
    # The timbre did move: the ends differ by more than the 16-bit WAVs' rounding (a model
    # overfitted to one note barely uses its embedding: ~30 steps of 2**-15 on one machine,
    # just under the 1e-3 this test once asked for).
    assert np.abs(steps[0] - steps[2]).max() > 10 / 32768

    # --pitch moves the whole morph; it is refused for a model whose embedding holds the pitch.
    code, _, _ = run_cli(
        capsys, "nsynth", "interpolate", a, b, "-m", run, "-o", tmp_path / "up", "--steps", "2",
        "--no-rainbowgrams", "--pitch", "62",
    )  # fmt: skip
    assert code == 0
    assert abs(cents_off(median_f0(sf.read(tmp_path / "up" / "latent_1.wav")[0], SR, 62), 62)) < 50
    wavenet = export(NSynthWaveNetAE(PRESETS["tiny"]), tmp_path / "wn", "tiny")
    code, _, err = run_cli(
        capsys, "nsynth", "reconstruct", a, "-m", wavenet, "-o", tmp_path / "w.wav", "--pitch", "60"
    )
    assert code != 0 and "--pitch is for models that are told the pitch" in err
    assert "wavenet model's embedding carries the pitch itself" in err


def test_eval_measures_the_harmonic_model(overfit: dict, tmp_path: Path) -> None:
    from latentmusic.evaluation import EvalJob
    from latentmusic.nsynth.evaluate import evaluate

    data = make_note_set(tmp_path / "notes", pitches=(PITCH, 64))
    results = evaluate(
        EvalJob(
            overfit["run"],
            data,
            "test",
            tmp_path / "eval",
            [],
            {"seconds": "0.25", "page_notes": "1"},
        )
    )
    system = results["systems"]["harmonic"]
    assert results["options"]["pitch"] == "label"
    assert system["pitch_accuracy"] == 1.0  # both test notes played at their labelled pitch
    assert 0.0 <= system["family_accuracy"] <= 1.0
    assert math.isfinite(system["spectral_distance"]) and system["spectral_distance"] > 0
    estimated = evaluate(
        EvalJob(
            overfit["run"],
            data,
            "test",
            tmp_path / "eval2",
            [],
            {"seconds": "0.25", "page_notes": "0", "pitch": "estimate"},
        )
    )
    assert estimated["systems"]["harmonic"]["pitch_accuracy"] == 1.0
    with pytest.raises(InputError, match="'pitch' must be one of label, estimate, not 'guess'"):
        evaluate(EvalJob(overfit["run"], data, "test", tmp_path / "eval3", [], {"pitch": "guess"}))


def test_harmonic_levels_read_each_partial_and_the_loss_weighs_them() -> None:
    """A clarinet-like tone (odd partials only): the levels at its even harmonics sit far
    below the odd ones; the extra loss term prices a copy that plays the even partials."""
    odd = torch.from_numpy(tone(PITCH, [1.0, 0.0, 0.5, 0.0, 0.3]))[None]
    every = torch.from_numpy(tone(PITCH, [1.0, 0.5, 0.5, 0.3, 0.3]))[None]
    f0 = torch.tensor([220.0])
    levels, mask = harmonic_levels(odd, f0, 8, SR)
    assert levels.shape[:2] == (1, 8) and mask.shape == (1, 8) and bool(mask.all())
    mid = levels[0, :, 4:-4].mean(dim=-1)  # frames inside the tone
    assert mid[1] < mid[0] - 5.0 and mid[3] < mid[2] - 5.0  # > 40 dB down (natural log)
    # The 3rd partial at half level, to within the Hann window's scalloping between bins.
    assert abs(float(mid[2] - mid[0]) - math.log(0.5)) < 0.2
    # 3 of 80 harmonics of 3 kHz would lie above Nyquist: masked.
    assert harmonic_levels(odd, torch.tensor([3000.0]), 80, SR)[1].sum() == 2

    cfg = dataclasses.replace(TINY, harmonic_loss_weight=1.0)
    model = HarmonicAutoencoder(cfg)
    parts = model.loss({"audio": odd, "pitch": torch.tensor([float(PITCH)])})
    assert set(parts) == {"loss", "spectral", "harmonics"}
    assert torch.allclose(parts["loss"], parts["spectral"] + parts["harmonics"])
    assert set(HarmonicAutoencoder(TINY).loss({"audio": odd, "pitch": torch.tensor([57.0])})) == {
        "loss"
    }  # weight 0 (every preset): the loss is the spectral one alone, as before
    right = (levels - harmonic_levels(odd * 0.9, f0, 8, SR)[0]).abs().mean()
    wrong = (levels - harmonic_levels(every, f0, 8, SR)[0]).abs().mean()
    assert wrong > 5 * right


def _level_change_db(before: torch.Tensor, after: torch.Tensor, f0: torch.Tensor, k: int):
    """(B, k) change in dB of each harmonic's level, frames inside the tone."""
    a, _ = harmonic_levels(before, f0, k, SR)
    b, _ = harmonic_levels(after, f0, k, SR)
    return (b - a)[..., 4:-4].mean(dim=-1) * 20.0 / math.log(10.0)


def test_the_comb_lowers_the_even_harmonics_and_keeps_the_odd_ones() -> None:
    """Half a period's comb (36.36 samples at A3: a fractional delay) scales the even partials
    by (1 - g) / (1 + g) and leaves the odd ones, as a closed pipe does."""
    full = torch.from_numpy(tone(PITCH, [1.0, 0.5, 0.5, 0.3, 0.3, 0.2]))[None].repeat(2, 1)
    f0 = torch.tensor([220.0, 220.0])
    depth = torch.tensor([0.9, 0.5])
    change = _level_change_db(full, odd_harmonic_comb(full, f0, depth, SR), f0, 6)
    expected = 20.0 * torch.log10((1 - depth) / (1 + depth))  # -25.6 and -9.5 dB
    assert change[:, 0::2].abs().max() < 0.5, change  # harmonics 1, 3, 5
    assert (change[:, 1::2] - expected[:, None]).abs().max() < 1.0, change  # 2, 4, 6


def test_parity_augmentation_combs_training_crops_only() -> None:
    x = torch.from_numpy(tone(PITCH, [1.0, 0.5, 0.5, 0.3]))[None].repeat(4, 1)
    f0 = torch.full((4,), 220.0)
    torch.manual_seed(0)
    assert torch.equal(augment_parity(x, f0, 0.0, SR), x)
    cut = -_level_change_db(x, augment_parity(x, f0, 1.0, SR), f0, 4)[:, 1]
    assert bool(((cut > 9.0) & (cut < 31.0)).all()), cut  # 10-30 dB, each crop its own
    assert float(cut.max() - cut.min()) > 1.0

    plain = HarmonicAutoencoder(TINY)
    augmented = HarmonicAutoencoder(dataclasses.replace(TINY, parity_augment=1.0))
    augmented.load_state_dict(plain.state_dict())
    batch = {"audio": x[:, :4096], "pitch": torch.full((4,), float(PITCH))}

    def loss(model: HarmonicAutoencoder) -> float:
        torch.manual_seed(1)  # the same synthesizer noise
        with torch.no_grad():
            return float(model.loss(batch)["loss"])

    plain.eval(), augmented.eval()
    assert loss(augmented) == loss(plain)  # validation hears the real notes
    augmented.train()
    assert loss(augmented) != loss(plain)
    torch.manual_seed(1)  # the same draws: which crops, how deep, then the noise
    combed = {**batch, "audio": augment_parity(batch["audio"], f0, 1.0, SR)}
    with torch.no_grad():
        expected = float(plain.loss(combed)["loss"])  # plain.eval(): hears them as given
    assert loss(augmented) == pytest.approx(expected, rel=1e-6)  # training hears combed crops


def test_colour_augmentation_recolours_training_crops_only() -> None:
    from latentmusic.nsynth.harmonic import augment_colour

    x = torch.from_numpy(tone(PITCH, [1.0 / k for k in range(1, 13)]))[None].repeat(4, 1)
    f0 = torch.full((4,), 220.0)
    torch.manual_seed(0)
    assert torch.equal(augment_colour(x, 0.0, 12.0, SR), x)
    change = _level_change_db(x, augment_colour(x, 1.0, 12.0, SR), f0, 12)  # (4, 12) dB
    assert float(change.abs().max()) > 3.0 and float(change.abs().max()) < 24.5, change
    assert float((change[0] - change[1]).abs().max()) > 1.0  # each crop its own EQ
    # Peaks kept: the EQ recolours, it does not make crops louder or softer overall.
    recoloured = augment_colour(x, 1.0, 12.0, SR)
    assert torch.allclose(recoloured.abs().amax(-1), x.abs().amax(-1), rtol=1e-4)

    plain = HarmonicAutoencoder(TINY)
    augmented = HarmonicAutoencoder(dataclasses.replace(TINY, colour_augment=1.0))
    augmented.load_state_dict(plain.state_dict())
    batch = {"audio": x[:, :4096], "pitch": torch.full((4,), float(PITCH))}

    def loss(model: HarmonicAutoencoder) -> float:
        torch.manual_seed(1)
        with torch.no_grad():
            return float(model.loss(batch)["loss"])

    plain.eval(), augmented.eval()
    assert loss(augmented) == loss(plain)  # validation hears the real notes
    augmented.train()
    torch.manual_seed(1)  # the same draws: which crops, their EQs, then the noise
    recoloured = {**batch, "audio": augment_colour(batch["audio"], 1.0, 12.0, SR)}
    with torch.no_grad():
        expected = float(plain.loss(recoloured)["loss"])
    assert loss(augmented) == pytest.approx(expected, rel=1e-6)  # in and out recoloured
    assert loss(augmented) != loss(plain)


def test_the_parity_control_sets_the_even_harmonics_and_starts_silent() -> None:
    from latentmusic.nsynth.train import grow_harmonic
    from latentmusic.train.config import config_to_dict

    basis = parity_basis(torch.tensor([1000.0]), 8, 5, SR)  # bands every 2 kHz
    assert torch.allclose(basis.sum(-1), torch.ones(1, 8))  # all below Nyquist
    assert float(basis[0, 1, 1]) == 1.0  # 2 kHz sits on the second band's centre
    assert torch.allclose(basis[0, 0], torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]))

    plain = HarmonicAutoencoder(TINY)
    grown = HarmonicAutoencoder(dataclasses.replace(TINY, parity_bands=4))
    state, saved = dict(plain.state_dict()), config_to_dict(TINY)
    assert grow_harmonic(grown, saved, state) and saved["parity_bands"] == 4
    grown.load_state_dict(state)
    assert not grow_harmonic(grown, saved, state)  # already grown: nothing to do
    z, pitch = torch.randn(1, TINY.bottleneck, 3), torch.tensor([float(PITCH)])
    with torch.no_grad():
        before, _, _ = plain.controls(z, pitch)
        after, _, _ = grown.controls(z, pitch)
        assert torch.allclose(before, after)  # zero offsets: plays exactly as before
        grown.parity_head.bias.fill_(-4.0)  # every band: even harmonics down
        odd_only, _, _ = grown.controls(z, pitch)
    even_share = odd_only[..., 1::2].sum() / odd_only.sum()
    assert float(even_share) < 1e-3 < float(before[..., 1::2].sum() / before.sum())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("parity_bands", 1, "0 \\(none\\) or at least 2"),
        ("parity_augment", 1.5, "between 0 and 1"),
        ("parity_input", -1, "0 \\(none\\) or a number of bands"),
        ("harmonic_input", -2, "0 \\(none\\) or a number of harmonics"),
        ("colour_augment", -0.1, "between 0 and 1"),
        ("colour_eq_db", -1.0, "at least 0"),
        ("harmonic_skip", True, "'harmonic_skip' needs 'harmonic_input' between 1 and"),
    ],
)
def test_bad_parity_settings_are_named_in_one_sentence(field: str, value: float, message: str):
    from latentmusic.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(TINY, **{field: value}).validate()


def test_comb_input_splits_the_note_into_even_and_odd_harmonics() -> None:
    from latentmusic.nsynth.harmonic import comb_channels

    x = torch.from_numpy(tone(PITCH, [1.0, 0.5, 0.5, 0.3, 0.3, 0.2]))[None]
    f0 = torch.tensor([220.0])
    channels = comb_channels(x, f0, SR)
    assert channels.shape == (1, 3, x.shape[-1]) and torch.equal(channels[:, 0], x)
    assert torch.allclose(channels[:, 1] + channels[:, 2], x, atol=1e-6)
    levels = [harmonic_levels(channels[:, i], f0, 6, SR)[0][0, :, 4:-4].mean(-1) for i in (1, 2)]
    even, odd = (lv * 20 / math.log(10) for lv in levels)
    assert bool((even[1::2] - odd[1::2] > 40).all()), (even, odd)  # 2, 4, 6 in the even part
    assert bool((odd[0::2] - even[0::2] > 40).all()), (even, odd)  # 1, 3, 5 in the odd part


def test_parity_features_read_the_even_to_odd_balance_per_band() -> None:
    from latentmusic.nsynth.harmonic import parity_features

    saw = torch.from_numpy(tone(PITCH, [1.0 / k for k in range(1, 17)]))[None]  # to 3.5 kHz
    f0 = torch.tensor([220.0])
    combed = odd_harmonic_comb(saw, f0, torch.tensor([0.95]), SR)
    low = slice(0, 3)  # 0-3 kHz of 8 bands: each holds several partials of both kinds
    plain = parity_features(saw, f0, 512, 8, SR)[0, low, 2:-2]
    closed = parity_features(combed, f0, 512, 8, SR)[0, low, 2:-2]
    assert plain.shape[0] == 3 and float(plain.abs().max()) < 1.5, plain  # balanced: near 0
    assert float(closed.max()) < -4.0, closed  # even partials 32 dB down: ln ratio < -4
    silence = parity_features(torch.zeros(1, 4096), f0, 512, 8, SR)
    assert silence.shape == (1, 8, 8) and float(silence.abs().max()) == 0.0


def test_harmonic_features_read_each_harmonics_level_under_the_loudest() -> None:
    from latentmusic.nsynth.harmonic import harmonic_features

    amps = [1.0, 0.5, 0.0, 0.1]  # 0, -6, absent, -20 dB
    note = torch.from_numpy(tone(PITCH, amps))[None]
    f0 = torch.tensor([220.0])
    features = harmonic_features(note, f0, 512, 6, SR)
    assert features.shape == (1, 6, note.shape[-1] // 512)
    db = (features[0, :, 2:-2] - 1.0) * 30.0  # back to dB under the loudest
    assert torch.allclose(db[0], torch.zeros_like(db[0]))
    assert float((db[1] + 6.0).abs().max()) < 1.5, db[1]  # Hann scalloping: to 1.4 dB
    assert float((db[3] + 20.0).abs().max()) < 1.5, db[3]
    assert float(db[2].max()) < -45.0 and float(db[4].max()) < -45.0  # absent partials
    # Above Nyquist: -1; silence: 0 (nothing to tell).
    high = torch.from_numpy(tone(PITCH + 36, [1.0, 0.5]))[None]  # 1760 Hz: harmonic 5 aliases
    high = harmonic_features(high, torch.tensor([1760.0]), 512, 6, SR)
    assert bool((high[0, 4:, 2:-2] == -1.0).all())
    silent = harmonic_features(torch.zeros(1, 4096), f0, 512, 6, SR)
    assert silent.shape == (1, 6, 8) and float(silent.abs().max()) == 0.0


@pytest.mark.parametrize(
    ("field", "value"), [("comb_input", True), ("parity_input", 4), ("harmonic_input", 6)]
)
def test_a_pitch_reading_encoder_grows_from_a_plain_one_and_encodes_at_the_sounds_pitch(
    field: str, value: object
) -> None:
    from latentmusic.nsynth.train import grow_harmonic
    from latentmusic.train.config import config_to_dict

    plain = HarmonicAutoencoder(TINY)
    grown = HarmonicAutoencoder(dataclasses.replace(TINY, **{field: value}))
    state, saved = dict(plain.state_dict()), config_to_dict(TINY)
    assert grow_harmonic(grown, saved, state) and saved[field] == value
    grown.load_state_dict(state)
    note = tone(PITCH, [1.0, 0.0, 0.5, 0.0, 0.3])
    # Zero weights for the new inputs: the same embedding as the plain model's ...
    assert torch.allclose(grown.encode(note), plain.encode(note), atol=1e-6)
    with torch.no_grad():  # ... and once they are used, the pitch pyin hears is the one read.
        if field == "comb_input":
            grown.encoder.start.weight[:, 1:] = 0.1
        elif field == "parity_input":
            grown.parity_in.weight.fill_(0.1)
        else:
            grown.harmonic_in.weight.fill_(0.1)
    assert torch.allclose(grown.encode(note), grown.encode(note, pitch=PITCH), atol=1e-3)
    assert not torch.allclose(grown.encode(note), grown.encode(note, pitch=PITCH + 5))
    silence = np.zeros(4096, dtype=np.float32)
    noise = (0.2 * np.random.default_rng(0).standard_normal(8192)).astype(np.float32)
    if field == "comb_input":  # its very input is split at the pitch: no pitch, no embedding
        with pytest.raises(InputError, match="No pitch found"):
            grown.encode(noise)
    else:  # a drum or noise: encoded without its measurements (they read 0), with a warning
        with pytest.warns(LatentMusicWarning, match="No pitch found in 1 of 1 sound"):
            unpitched = grown.encode(noise)
        assert torch.allclose(unpitched, plain.encode(noise), atol=1e-6)
        assert not torch.allclose(unpitched, grown.encode(noise, pitch=60), atol=1e-3)
    assert grown.encode(silence, pitch=60).shape == (4096 // TINY.hop, TINY.bottleneck)
    # reconstruct estimates the source's pitch once and hands it to the encoder and decoder.
    calls: list[int] = []
    estimate = grown.estimate_pitch
    grown.estimate_pitch = lambda audio: calls.append(1) or estimate(audio)
    with torch.no_grad():
        played = grown.reconstruct(note)
    assert len(calls) == 1 and played.shape == (note.size // TINY.hop * TINY.hop,)
    assert grown.reads_pitch and not plain.reads_pitch


def test_harmonic_skip_plays_the_measured_levels_and_at_zero_mix_the_decoders_own() -> None:
    from latentmusic.nsynth.harmonic import SKIP_RATE
    from latentmusic.nsynth.train import grow_harmonic
    from latentmusic.train.config import config_to_dict

    measured = dataclasses.replace(TINY, harmonic_input=6)
    plain = HarmonicAutoencoder(measured)
    grown = HarmonicAutoencoder(dataclasses.replace(measured, harmonic_skip=True))
    state, saved = dict(plain.state_dict()), config_to_dict(measured)
    assert grow_harmonic(grown, saved, state) and saved["harmonic_skip"] is True
    grown.load_state_dict(state)
    assert torch.allclose(grown.skip_mix * SKIP_RATE, torch.ones(6))  # grown full, as fresh
    note = tone(PITCH, [1.0, 0.5, 0.0, 0.1])  # harmonics at 0, -6, absent, -20 dB
    z = grown.encode(note, pitch=PITCH)
    learned = TINY.bottleneck
    assert z.shape[-1] == grown.bottleneck == learned + 6  # the measured levels ride along
    assert torch.allclose(z[:, :learned], plain.encode(note, pitch=PITCH), atol=1e-6)
    pitch = torch.tensor([float(PITCH)])
    with torch.no_grad():
        copied, _, _ = grown.controls(z.T[None], pitch)
    frame = copied[0, copied.shape[1] // 2]  # mid-note: the measured levels, as they are
    db = 20.0 * torch.log10(frame[:6] / frame[0])
    assert abs(float(db[1]) + 6.0) < 1.5 and abs(float(db[3]) + 20.0) < 1.5, db
    assert float(db[2]) < -45.0 and float(db[4]) < -45.0  # absent partials stay absent
    # Harmonics past the measured ones keep the decoder's own pattern ...
    own, _, _ = plain.controls(z[:, :learned].T[None], pitch)
    mine = own[0, own.shape[1] // 2, 6:]
    assert torch.allclose(frame[6:] / frame[6:].sum(), mine / mine.sum(), atol=1e-6)
    # ... and with the mix at zero the grown model plays exactly as the one it grew from.
    with torch.no_grad():
        grown.skip_mix.zero_()
    assert torch.allclose(
        grown.decode(z, pitch=PITCH), plain.decode(z[:, :learned], pitch=PITCH), atol=1e-6
    )


def test_the_loss_trains_under_bf16_autocast_with_the_synthesizer_in_float32() -> None:
    """``--precision bf16-mixed``: the MLPs and GRU may run in bfloat16; the synthesizer's
    FFTs (which refuse bfloat16) and its phase run in float32, so the loss matches."""
    torch.manual_seed(0)
    model = HarmonicAutoencoder(TINY)
    batch = {"audio": torch.from_numpy(tone(PITCH, [1.0, 0.5, 0.3]))[None, :4096].repeat(2, 1),
             "pitch": torch.tensor([57.0, 57.0])}  # fmt: skip
    full = model.loss(batch)["loss"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        recon = model.synthesize(model.embed(batch["audio"]), batch["pitch"])
        mixed = model.loss(batch)["loss"]
    assert recon.dtype == torch.float32
    mixed.backward()
    gap = float((mixed - full).abs().detach())
    assert torch.isfinite(mixed) and gap < 0.05 * float(full.detach())
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
