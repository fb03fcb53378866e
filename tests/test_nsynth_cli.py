"""``latentmusic nsynth ...`` end to end on a tiny trained run, and its error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentmusic.train.checkpoint import save_checkpoint
from tests.conftest import SR, make_note_set, run_cli, tone, train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nsynth_cli")
    return train_tiny(make_note_set(root / "notes", pitches=(60, 64)), root / "run", steps=2)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


def _wav(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, audio, sr)
    return path


def test_encode_decode_reconstruct_rainbowgram(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = _wav(tmp_path / "a.wav", tone(60, [1.0, 0.5, 0.2], seconds=0.25))
    code, out, _ = _cli(["nsynth", "encode", wav, "--model", run, "-o", tmp_path / "a.npy"], capsys)
    assert code == 0 and "Embedding 31x16" in out
    z = np.load(tmp_path / "a.npy")
    assert z.shape == (31, 16) and z.dtype == np.float32

    code, out, _ = _cli(
        [
            "nsynth",
            "decode",
            tmp_path / "a.npy",
            "-m",
            run,
            "-o",
            tmp_path / "d.wav",
            "--seed",
            "1",
        ],
        capsys,
    )
    assert code == 0
    audio, sr = sf.read(tmp_path / "d.wav")
    assert sr == SR and audio.shape == (31 * 128,)

    code, _, _ = _cli(
        ["nsynth", "reconstruct", wav, "-m", run, "-o", tmp_path / "r.wav", "--temperature", "0"],
        capsys,
    )
    assert code == 0 and sf.info(str(tmp_path / "r.wav")).frames == 31 * 128

    code, _, _ = _cli(["nsynth", "rainbowgram", wav, "-o", tmp_path / "a.png"], capsys)
    assert code == 0 and (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_other_sample_rates_are_resampled_with_a_note(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = _wav(tmp_path / "hi.wav", tone(60, [1.0, 0.5], seconds=0.25, sr=22050), sr=22050)
    code, _, err = _cli(["nsynth", "encode", wav, "-m", run, "-o", tmp_path / "hi.npy"], capsys)
    assert code == 0 and "is 22050 Hz; resampling to the model's 16000 Hz" in err
    assert np.load(tmp_path / "hi.npy").shape == (31, 16)  # 0.25 s at 16 kHz = 4000 samples


def test_interpolate_and_grid_write_every_step(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _wav(tmp_path / "a.wav", tone(60, [1.0, 0.3], seconds=0.1))
    b = _wav(tmp_path / "b.wav", tone(67, [1.0, 0.0, 0.6], seconds=0.1))
    code, out, _ = _cli(
        ["nsynth", "interpolate", a, b, "-m", run, "--steps", 3, "-o", tmp_path / "morph"], capsys
    )
    assert code == 0 and "3 latent and 3 cross-fade steps" in out
    names = sorted(p.name for p in (tmp_path / "morph").iterdir())
    assert names == sorted(
        f"{k}_{i}.{e}" for k in ("latent", "crossfade") for i in range(3) for e in ("wav", "png")
    )
    fade_mid, _ = sf.read(tmp_path / "morph" / "crossfade_1.wav")
    a_audio, b_audio = tone(60, [1.0, 0.3], seconds=0.1), tone(67, [1.0, 0.0, 0.6], seconds=0.1)
    assert np.allclose(fade_mid, 0.5 * (a_audio + b_audio)[: fade_mid.size], atol=2e-4)

    corners = [a, b, a, b]
    code, _, _ = _cli(
        ["nsynth", "grid", *corners, "-m", run, "--x", 0.3, "--y", 0.7, "-o", tmp_path / "pad.wav"],
        capsys,
    )
    assert code == 0 and sf.info(str(tmp_path / "pad.wav")).frames == 12 * 128


def test_errors_are_one_line_and_leave_no_output(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = _wav(tmp_path / "short.wav", tone(60, [1.0], seconds=0.005))
    code, _, err = _cli(["nsynth", "encode", short, "-m", run, "-o", tmp_path / "s.npy"], capsys)
    assert code == 1
    assert (
        err.strip()
        == "error: Audio of 80 samples is shorter than one embedding frame (128 samples = 8 ms at 16000 Hz)."
    )
    assert not (tmp_path / "s.npy").exists()

    code, _, err = _cli(
        ["nsynth", "encode", tmp_path / "missing.wav", "-m", run, "-o", tmp_path / "m.npy"], capsys
    )
    assert code == 1 and "missing.wav does not exist" in err and err.count("\n") == 1

    other = save_checkpoint(
        tmp_path / "vae",
        __import__("torch").nn.Linear(1, 1),
        family="musicvae",
        model_type="flat",
        preset="x",
        config={},
    )
    code, _, err = _cli(["nsynth", "encode", short, "-m", other, "-o", tmp_path / "v.npy"], capsys)
    assert code == 1 and "is a 'musicvae' checkpoint, not a 'nsynth' one" in err

    note = _wav(tmp_path / "note.wav", tone(60, [1.0], seconds=0.1))
    args = ["nsynth", "encode", note, "-m", run, "-o", tmp_path / "p.npy", "--pitch", "60"]
    code, _, err = _cli(args, capsys)  # a WaveNet encoder measures nothing at a pitch
    assert code == 1 and err.count("\n") == 1
    assert "--pitch is for encoders that measure the sound at its pitch" in err
    assert not (tmp_path / "p.npy").exists()

    np.save(tmp_path / "bad.npy", np.zeros((5, 7), dtype=np.float32))
    code, _, err = _cli(
        ["nsynth", "decode", tmp_path / "bad.npy", "-m", run, "-o", tmp_path / "x.wav"], capsys
    )
    assert code == 1 and "must have shape (frames, 16)" in err and "got (5, 7)." in err
    assert not (tmp_path / "x.wav").exists()

    code, _, err = _cli(
        ["nsynth", "grid", short, short, "-m", run, "-o", tmp_path / "g.wav"], capsys
    )
    assert code == 1 and "grid needs exactly 4 sounds" in err

    wav = _wav(tmp_path / "ok.wav", tone(60, [1.0], seconds=0.05))
    code, _, err = _cli(
        ["nsynth", "interpolate", wav, wav, "-m", run, "--method", "cubic", "-o", tmp_path / "i"],
        capsys,
    )
    assert code == 1 and "Unknown interpolation method 'cubic'" in err


def test_pad_renders_every_position_at_every_pitch_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    data = make_note_set(tmp_path / "notes", pitches=(60,))
    run = train_tiny(data, tmp_path / "run", model_type="harmonic", steps=2)
    corners = sorted((data / "train" / "audio").glob("*.wav"))
    corners = [*corners, corners[0]]  # three instruments in train: one corner twice
    out = tmp_path / "pad"
    code, stdout, err = run_cli(
        capsys, "nsynth", "pad", *corners, "-m", run, "-o", out, "--size", "2",
        "--pitches", "48,72",
    )  # fmt: skip
    assert code == 0, err
    assert "Pad of 2 x 2 at 2 pitch(es): 8 WAVs" in stdout
    index = json.loads((out / "pad.json").read_text())
    assert set(index["layers"]) == {"pitch_48", "pitch_72"}
    assert index["layers"]["pitch_72"]["pitch"] == 72.0
    files = index["layers"]["pitch_48"]["files"]
    assert [(f["x"], f["y"]) for f in files] == [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    for layer in index["layers"].values():
        for f in layer["files"]:
            audio, rate = sf.read(out / f["file"])
            assert rate == SR and len(audio) > 0 and np.isfinite(audio).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pad.")]  # no temp folder
    # An existing pad is never overwritten or mixed with a new one.
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    code, _, err = run_cli(capsys, "nsynth", "pad", *corners, "-m", run, "-o", out)
    assert code == 1 and "already exists" in err and "Traceback" not in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    code, _, err = run_cli(
        capsys, "nsynth", "pad", *corners, "-m", run, "-o", tmp_path / "p2", "--pitches", "60,x"
    )
    assert code == 1 and "--pitches takes MIDI note numbers" in err
    assert not (tmp_path / "p2").exists()
