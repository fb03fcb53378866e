"""Every bad input is one sentence: a table of bad values for every command (issue 14).

Each case asserts a non-zero exit, exactly one line on stderr starting with ``error:``, no
traceback, and nothing left behind in the working folder (no run directory, no output, no
temporary file). Most values are refused where the CLI parses them, before a model loads,
so a placeholder model folder is enough; the cases that need a real model build a tiny one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.audio import io as audio_io
from latentmusic.cli.main import main
from latentmusic.errors import CheckpointError, ConfigError, InputError
from latentmusic.limits import check_config_size
from latentmusic.midi.io import read_sequence, write_sequence
from latentmusic.train.checkpoint import read_checkpoint, save_checkpoint
from latentmusic.train.config import config_to_dict

SR = 16000


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``latentmusic ARGS`` in this process; (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a placeholder model folder ``m``, a data folder ``d`` with
    one WAV, a MIDI file, and a Jukebox run whose prior allows 60 seconds."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "d").mkdir()
    sf.write(tmp_path / "d" / "a.wav", np.zeros(1600, np.float32), SR)
    sf.write(tmp_path / "a.wav", 0.1 * np.ones(1600, np.float32), SR)
    write_sequence(_melody(), tmp_path / "a.mid")
    prior = tmp_path / "jb" / "prior"
    prior.mkdir(parents=True)
    (prior / "config.json").write_text(
        json.dumps({"family": "jukebox", "model_type": "prior", "config": {"max_seconds": 60}})
    )
    return tmp_path


def _melody():  # noqa: ANN202
    from latentmusic.midi.representations import MELODY, pitch_to_class

    events = np.zeros(64, np.int64)
    events[::4] = pitch_to_class(60)
    return MELODY.decode(events, qpm=100)


TRAIN = ["train", "musicvae", "--data", "d", "--out", "r", "--preset", "tiny"]
ADD = ["translation", "add-domain", "-m", "m", "--data", "d", "--out", "r"]
SAMPLE = ["musicvae", "sample", "-m", "m", "-o", "x.mid"]
INTERP = ["musicvae", "interpolate", "a.mid", "a.mid", "-m", "m", "-o", "x.mid"]
NS_DEC = ["nsynth", "decode", "e.npy", "-m", "m", "-o", "x.wav"]
JB = ["jukebox", "sample", "-m", "jb", "-o", "x.wav"]
TRANSLATE = ["translate", "a.wav", "-m", "m", "--to", "piano", "-o", "t.wav"]

# (arguments, text the one error line must contain)
CASES: list[tuple[list[str], str]] = [
    # 6 and 5: training options, refused before torch loads or a run folder exists
    ([*TRAIN, "--steps", "-5"], "--steps must be between 1 and"),
    ([*TRAIN, "--steps", "0"], "--steps must be between 1 and"),
    ([*TRAIN, "--steps", "abc"], "Invalid value for '--steps'"),
    ([*TRAIN, "--batch-size", "0"], "--batch-size must be between 1"),
    ([*TRAIN, "--batch-size", "-3"], "--batch-size must be between 1"),
    ([*TRAIN, "--val-every", "0"], "--val-every must be between 1"),
    ([*TRAIN, "--ckpt-every", "0"], "--ckpt-every must be between 1"),
    ([*TRAIN, "--precision", "8-bit"], "--precision must be one of 32-true"),
    ([*TRAIN, "--accelerator", "tpu"], "--accelerator must be one of"),
    ([*TRAIN, "--devices", "abc"], "--devices must be auto, a number"),
    ([*TRAIN, "--devices", "0"], "--devices must be at least 1"),
    ([*TRAIN, "--threads", "-1"], "--threads must be between 1"),
    ([*TRAIN, "--data-workers", "-1"], "--data-workers must be between 0 and 64"),
    ([*TRAIN, "--lr", "nan"], "--lr must be a finite number, not nan."),
    ([*TRAIN, "--lr", "-1"], "--lr must be greater than 0"),
    ([*TRAIN, "--minutes", "-1"], "--minutes must be greater than 0"),
    ([*TRAIN, "--minutes", "0"], "--minutes must be greater than 0"),
    ([*TRAIN, "--minutes", "inf"], "--minutes must be a finite number"),
    ([*TRAIN, "--seed", "-1"], "--seed must be between 0 and"),
    ([*TRAIN, "--num-nodes", "0"], "--num-nodes must be between 1"),
    ([*TRAIN, "--no-such-option"], "No such option: --no-such-option"),
    (["train", "wavenet", "--data", "d", "--out", "r"], "Unknown model family 'wavenet'"),
    (["train", "musicvae", "--data", "missing", "--out", "r"], "directory missing does not exist"),
    (["train", "musicvae", "--data", "a.wav", "--out", "r"], "is a file, not a directory"),
    (["train", "musicvae", "--data", "d", "--out", "a.wav"], "is an existing file"),
    (["eval", "nosuch", "-m", "m", "--data", "d"], "Unknown model family 'nosuch'"),
    ([*ADD, "--steps", "0"], "--steps must be between 1"),
    ([*ADD, "--minutes", "-1"], "--minutes must be greater than 0"),
    ([*ADD, "--threads", "0"], "--threads must be between 1"),
    ([*ADD, "--data-workers", "65"], "--data-workers must be between 0 and 64"),
    # 14: a domain name becomes a folder and a --to choice
    ([*ADD, "--name", "a/b"], "--name may hold only letters"),
    ([*ADD, "--name", "x,y"], "--name may hold only letters"),
    ([*ADD, "--name", "all"], "--name cannot be 'all'"),
    # 10: temperature, everywhere
    ([*SAMPLE, "--temperature", "-0.5"], "--temperature must be at least 0"),
    ([*SAMPLE, "--temperature", "nan"], "--temperature must be a finite number"),
    ([*JB, "--temperature", "nan"], "--temperature must be a finite number"),
    ([*JB, "--temperature", "-1"], "--temperature must be at least 0"),
    ([*NS_DEC, "--temperature", "inf"], "--temperature must be a finite number"),
    ([*TRANSLATE, "--temperature", "nan"], "--temperature must be a finite number"),
    ([*TRANSLATE, "--threads", "-2"], "--threads must be between 1"),
    ([*TRANSLATE, "--chunk-seconds", "0"], "--chunk-seconds must be greater than 0"),
    # 7: tempo
    ([*SAMPLE, "--qpm", "0"], "--qpm must be at least 10 and at most 1000, not 0."),
    ([*SAMPLE, "--qpm", "-10"], "--qpm must be at least 10"),
    ([*SAMPLE, "--qpm", "1"], "--qpm must be at least 10"),
    ([*SAMPLE, "--qpm", "nan"], "--qpm must be a finite number"),
    ([*SAMPLE, "--qpm", "1e12"], "--qpm must be at least 10 and at most 1000"),
    (["musicvae", "decode", "a.npy", "-m", "m", "-o", "x.mid", "--qpm", "0"], "--qpm must be"),
    # 17: unbounded work
    ([*SAMPLE, "-n", "100000"], "--n must be between 1 and 1,000"),
    ([*SAMPLE, "-n", "0"], "--n must be between 1"),
    ([*INTERP, "--steps", "100000"], "--steps must be at most 1000 for a path"),
    (["musicvae", "interpolate", *["a.mid"] * 4, "-m", "m", "-o", "x.mid", "--steps", "2000"],
     "--steps must be at most 32 for a grid"),
    (["nsynth", "interpolate", "a.wav", "a.wav", "-m", "m", "-o", "i", "--steps", "100000"],
     "--steps must be between 2 and 256"),
    ([*JB, "--seconds", "3600"], "longer than this prior was built for (60 s"),
    ([*JB, "--seconds", "0"], "--seconds must be greater than 0"),
    ([*JB, "--seconds", "nan"], "--seconds must be a finite number"),
    ([*JB, "--batch", "0"], "--batch must be between 1"),
    ([*JB, "--hop-fraction", "0"], "--hop-fraction must be greater than 0"),
    # 15: accepted silently before
    ([*SAMPLE, "--gap-bars", "-2"], "--gap-bars must be between 0"),
    (["musicvae", "similar", "a.mid", "-m", "m", "-o", "x.mid", "--similarity", "2"],
     "--similarity must be at least 0 and at most 1"),
    (["musicvae", "attribute", "a.mid", "-m", "m", "-o", "x.mid", "--attribute", "syncopation",
      "--magnitude", "nan"], "--magnitude must be a finite number"),
    (["data", "melodies", "out", "--max-pieces", "0"], "--max-pieces must be between 1"),
    (["data", "domains", "out", "--instruments", "piano=0,piano=1"], "names the domain 'piano' twice"),
    (["data", "domains", "out", "--instruments", "piano=300"], "GM program numbers are 0 to 127"),
    (["data", "notes", "out", "--workers", "0"], "--workers must be between 1"),
    # 8: outputs are checked before any work
    (NS_DEC[:-1] + ["out.txt"], "must end in one of .wav"),
    (["nsynth", "encode", "a.wav", "-m", "m", "-o", "z.txt"], "must end in .npy"),
    ([*JB[:-1], "a.txt"], "must end in one of .wav"),
    (["jukebox", "encode", "a.wav", "-m", "m", "-o", "c.txt"], "must end in .npz"),
    (["nsynth", "decode", "e.npy", "-m", "m", "-o", "d"], "is an existing directory"),
    (["nsynth", "decode", "e.npy", "-m", "m", "-o", "a.wav/x.wav"], "a.wav is a file, not a directory"),
    (["nsynth", "grid", "a.wav", "a.wav", "-m", "m", "-o", "g.wav", "--x", "2"],
     "--x must be at least 0 and at most 1"),
    (["nsynth", "interpolate", "a.wav", "a.wav", "-m", "m", "-o", "i", "--method", "cubic"],
     "Unknown interpolation method 'cubic'"),
    (["nsynth", "decode", "e.npy", "-m", "m", "-o", "x.wav", "--backend", "gpu"],
     "Unknown decoding backend 'gpu'"),
    # 11: messages say what is wrong
    (["nsynth", "encode", "d", "-m", "m", "-o", "z.npy"], "is a directory, not a file"),
    (["musicvae", "reconstruct", "d", "-m", "m", "-o", "x.mid"], "is a directory, not a file"),
    (["musicvae", "decode", "d", "-m", "m", "-o", "x.mid"], "Code file d is a directory, not a file"),
    (["translation", "encode", "d", "-m", "m", "-o", "x.npy"], "Audio file d is a directory"),
    (["translation", "encode", "a.wav", "-m", "m", "-o", "x.txt"], "x.txt must end in .npy"),
    ([*TRANSLATE[:-1], "t.txt"], "The output t.txt must end in one of .wav"),
    (["translate", "a.wav", "-m", "m", "--to", "all", "-o", "t.txt"], "t.txt must end in one of"),
    # 11: --seconds too short for the pieces (they open with rests): refused, nothing made,
    # an existing output folder left as it was
    (["data", "domains", "out", "--seconds", "1", "--max-pieces", "1", "--workers", "1"],
     "--seconds 1 is too short for these pieces: bwv1.6 plays its first note 2.37 s in, so "
     "use at least 2.9"),
    (["data", "domains", "d", "--seconds", "2.5", "--max-pieces", "1", "--workers", "1"],
     "use at least 2.9"),
    # 18: the model path is checked where it is parsed, before torch loads
    (["nsynth", "encode", "a.wav", "-m", "no/such/model", "-o", "z.npy"],
     "Model no/such/model does not exist."),
    (["jukebox", "encode", "a.wav", "-m", "a.wav", "-o", "c.npz"], "Model a.wav is a file"),
    (["nsynth", "encode", "a.wav", "-m", "jb/prior", "-o", "z.npy"],
     "jb/prior is a 'jukebox' checkpoint, not a 'nsynth' one."),
    (["translate", "a.wav", "-m", "jb/prior", "--to", "x", "-o", "t.wav"],
     "is a 'jukebox' checkpoint, not a 'translation' one."),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_value_is_one_sentence_and_leaves_nothing(
    place: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    np.save(place / "e.npy", np.zeros((4, 16), np.float32))  # a valid embedding
    before = listing(place)
    code, out, err = cli(capsys, *args)
    assert code != 0, out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], err
    assert "Traceback" not in err + out
    assert listing(place) == before  # no run folder, no output, no temporary file


def _every_command() -> list[list[str]]:
    """Every command path of the CLI, groups included (walked, so new ones are covered)."""
    import typer

    from latentmusic.cli.main import app

    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_help_on_every_command_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    from latentmusic import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"latentmusic {__version__}"
    commands = _every_command()
    assert len(commands) > 30 and ["jukebox", "encode-dataset"] in commands
    for command in commands:
        for flag in ("-h", "--help"):
            code, out, err = cli(capsys, *command, flag)
            assert code == 0 and "Usage: latentmusic" in out and not err, (command, flag)


def test_an_unreadable_input_says_permission_denied(
    place: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 11: an input we may not read is "cannot be read (permission denied)", wherever
    the refusal comes from (typer checks paths before our own checks run)."""
    np.save(place / "e.npy", np.zeros((4, 16), np.float32))
    real_access = os.access
    denied = ("a.wav", "a.mid", "e.npy")
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, *a, **k: (
            not (str(p).endswith(denied) and mode & os.R_OK) and real_access(p, mode, *a, **k)
        ),
    )
    for args, name in ((["nsynth", "encode", "a.wav", "-m", "m", "-o", "z.npy"], "a.wav"),
                       (["translate", "a.wav", "-m", "m", "--to", "x", "-o", "t.wav"], "a.wav"),
                       (["musicvae", "reconstruct", "a.mid", "-m", "m", "-o", "x.mid"], "a.mid"),
                       (["nsynth", "decode", "e.npy", "-m", "m", "-o", "x.wav"], "e.npy")):  # fmt: skip
        code, _, err = cli(capsys, *args)
        assert code == 1 and err == f"error: {name} cannot be read (permission denied).\n", err
    from latentmusic.audio.io import load

    with pytest.raises(
        InputError, match=r"^Audio file a\.wav cannot be read \(permission denied\)"
    ):
        load("a.wav")


def test_bad_family_and_data_are_refused_before_torch_loads(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from latentmusic.cli.main import main
        try:
            main(sys.argv[1:])
        except SystemExit as exc:
            print("loaded torch" if "torch" in sys.modules else "no torch", exc.code)
        """
    )
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"family": "musicvae"}))
    for args in (["train", "nosuch", "--data", str(tmp_path), "--out", str(tmp_path / "r")],
                 ["train", "musicvae", "--data", str(tmp_path / "no"), "--out", str(tmp_path / "r")],
                 ["translation", "add-domain", "-m", str(tmp_path), "--data", str(tmp_path / "no"),
                  "--out", str(tmp_path / "r")],
                 # item 18: a model that is missing or of another family, said at once
                 ["nsynth", "encode", str(tmp_path / "a.wav"), "-m", str(tmp_path / "none"),
                  "-o", str(tmp_path / "r.npy")],
                 ["translate", str(tmp_path / "a.wav"), "-m", str(tmp_path / "vae"), "--to", "x"],
                 ["jukebox", "sample", "-m", str(tmp_path / "a.wav"), "-o", str(tmp_path / "r.wav")]):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
        )
        assert proc.stdout.strip() == "no torch 1", proc.stdout + proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------- tiny real checkpoints
def _nsynth_checkpoint(path: Path, **changes: int) -> Path:
    from latentmusic.nsynth.config import presets_for

    config = {**config_to_dict(presets_for("wavenet")["tiny"]), **changes}
    return save_checkpoint(
        path, torch.nn.Linear(1, 1), family="nsynth", model_type="wavenet", preset="tiny",
        config=config, extra={"sample_rate": SR},
    )  # fmt: skip


def _musicvae_checkpoint(path: Path) -> Path:
    from latentmusic.musicvae.config import PRESETS
    from latentmusic.musicvae.model import MusicVAE
    from latentmusic.musicvae.train import checkpoint_extra

    config = PRESETS["tiny"]
    torch.manual_seed(0)
    return save_checkpoint(
        path, MusicVAE(config), family="musicvae", model_type=config.model_type, preset="tiny",
        config=config_to_dict(config), extra=checkpoint_extra(config), meta={"steps": 0},
    )  # fmt: skip


def test_sizes_in_a_checkpoint_are_capped_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 2: a huge size is one sentence saying how much it would take, at once."""
    layers = _nsynth_checkpoint(tmp_path / "layers", decoder_layers=10**12)
    wide = _nsynth_checkpoint(tmp_path / "wide", decoder_residual=10**6)
    sf.write(tmp_path / "a.wav", 0.1 * np.ones(4000, np.float32), SR)
    for ckpt, text in ((layers, "'decoder_layers' = 1,000,000,000,000 is far beyond any model"),
                       (wide, "parameters, which would take")):  # fmt: skip
        for args in (["info", ckpt], ["nsynth", "encode", tmp_path / "a.wav", "-m", ckpt,
                                      "-o", tmp_path / "z.npy"]):  # fmt: skip
            code, _, err = cli(capsys, *args)
            assert code == 1 and err.count("\n") == 1 and text in err, err
    assert not (tmp_path / "z.npy").exists()
    # the message names the size and the memory, in units a person reads
    from latentmusic.nsynth.config import NSynthConfig

    with pytest.raises(ConfigError, match=r"trillion parameters, which would take .* TB"):
        check_config_size(NSynthConfig(decoder_residual=10**6))
    assert check_config_size(NSynthConfig()) == pytest.approx(61.5e6, rel=0.1)


def test_train_set_with_a_huge_size_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d").mkdir()
    for value, text in (("1000000000000", "far beyond any model"),
                        ("100000000", "parameters, which would take")):  # fmt: skip
        code, _, err = cli(capsys, "train", "musicvae", "--data", tmp_path / "d", "--out",
                           tmp_path / "r", "--preset", "tiny", "--set", f"z_size={value}")  # fmt: skip
        assert code == 1 and err.count("\n") == 1 and text in err, err
        assert not (tmp_path / "r").exists()


def test_slow_tempo_midi_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 7: a valid MIDI at MIDI's slowest tempo reconstructs instead of crashing."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=0xFFFFFF, time=0))
    for i in range(16):
        track.append(mido.Message("note_on", note=60 + i % 5, velocity=100, time=0))
        track.append(mido.Message("note_off", note=60 + i % 5, velocity=0, time=240))
    mid.save(tmp_path / "slow.mid")
    seq = read_sequence(tmp_path / "slow.mid")
    write_sequence(seq, tmp_path / "again.mid")
    assert read_sequence(tmp_path / "again.mid").notes == seq.notes
    model = _musicvae_checkpoint(tmp_path / "vae")
    code, out, err = cli(capsys, "musicvae", "reconstruct", tmp_path / "slow.mid", "-m", model,
                         "-o", tmp_path / "r.mid")  # fmt: skip
    assert code == 0 and (tmp_path / "r.mid").is_file(), err
    # codes a model cannot use: one sentence each, before or right after the model loads
    for name, array in (("nan", np.full((1, 4), np.nan, np.float32)),
                        ("text", np.array([["a", "b"]])),
                        ("cube", np.zeros((2, 2, 2), np.float32)),
                        ("empty", np.zeros((0, 4), np.float32)),
                        ("narrow", np.zeros((1, 3), np.float32))):  # fmt: skip
        np.save(tmp_path / f"{name}.npy", array)
        code, _, err = cli(capsys, "musicvae", "decode", tmp_path / f"{name}.npy", "-m", model,
                           "-o", tmp_path / "x.mid")  # fmt: skip
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, (name, err)
    assert not (tmp_path / "x.mid").exists()


def test_non_finite_audio_is_an_input_error(tmp_path: Path) -> None:
    """Item 3: one NaN sample is refused by every reader (translate streams its input)."""
    audio = np.zeros(SR, np.float32)
    audio[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, audio, SR, subtype="FLOAT")
    with pytest.raises(InputError, match="contains NaN or infinite samples"):
        audio_io.load(path)
    with pytest.raises(InputError, match="contains NaN or infinite samples"):
        list(audio_io.stream(path, SR))


def test_unreadable_checkpoint_files_say_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 4: an unreadable config.json or weights file is not "corrupt"."""
    ckpt = _nsynth_checkpoint(tmp_path / "ck")
    real_read_text = Path.read_text

    def deny(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "config.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Path, "read_text", deny)
        with pytest.raises(
            CheckpointError, match=r"config\.json cannot be read \(permission denied\)"
        ):
            read_checkpoint(ckpt)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: not str(p).endswith(".safetensors") and real_access(p, mode)
    )
    with pytest.raises(
        CheckpointError, match=r"model\.safetensors cannot be read \(permission denied\)"
    ):
        read_checkpoint(ckpt)


def test_malformed_checkpoint_json_types_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 12: wrong types in config.json / meta.json."""
    ckpt = _nsynth_checkpoint(tmp_path / "ck")
    config = json.loads((ckpt / "config.json").read_text())
    for key, value in (("config", [1, 2]), ("family", 3), ("format_version", "x")):
        (ckpt / "config.json").write_text(json.dumps({**config, key: value}))
        code, _, err = cli(capsys, "info", ckpt)
        assert code == 1 and err.count("\n") == 1 and "is corrupt" in err, err
    (ckpt / "config.json").write_text(json.dumps(config))
    (ckpt / "meta.json").write_text(json.dumps({"metrics": [1]}))
    code, _, err = cli(capsys, "info", ckpt)
    assert code == 1 and "'metrics' is not an object" in err


def test_codes_files_that_are_not_ours_are_one_sentence(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Items 11 and 12: a .npy, a WAV renamed .npz, a truncated .npz."""
    np.save(place / "codes.npy", np.zeros(4))
    (place / "wav.npz").write_bytes((place / "a.wav").read_bytes())
    np.savez(place / "good.npz", z0=np.zeros(1000, np.int16))
    (place / "cut.npz").write_bytes((place / "good.npz").read_bytes()[:300])
    for name, text in (("codes.npy", "is a .npy array"), ("wav.npz", "is not a .npz archive"),
                       ("cut.npz", "is damaged or truncated")):  # fmt: skip
        code, _, err = cli(capsys, "jukebox", "decode", name, "-m", "m", "-o", "x.wav")
        assert code == 1 and err.count("\n") == 1 and text in err, err
        code, _, err = cli(capsys, "musicvae", "attribute", "a.mid", "-m", "m", "-o", "x.mid",
                           "--attribute", "syncopation", "--vectors", name)  # fmt: skip
        assert code == 1 and err.count("\n") == 1 and text in err, err
    assert not (place / "x.wav").exists() and not (place / "x.mid").exists()


SLEEPER = """
import sys, time
from latentmusic.cli import main as cli_main
from latentmusic.fileio import atomic_path

@cli_main.app.command("sleepy")
def sleepy(out: str) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text("half")
        print("ready", flush=True)
        time.sleep(60)

cli_main.main(["sleepy", sys.argv[1]])
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_cleans_temporary_files_and_says_interrupted(tmp_path: Path, signum: int) -> None:
    """Item 9: SIGTERM (like Ctrl-C) removes the hidden temporary file and says so."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, str(tmp_path / "out.wav")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    assert any(p.name.startswith(".out.wav.") for p in tmp_path.iterdir())
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum
    assert (
        err.strip()
        == f"error: interrupted ({'SIGTERM' if signum == signal.SIGTERM else 'Ctrl-C'})."
    )
    assert list(tmp_path.iterdir()) == []


def test_wav_with_a_bad_soundfont_leaves_no_midi(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 16: rendering fails after the .mid was written; the .mid goes too."""
    model = _musicvae_checkpoint(tmp_path / "vae")
    (tmp_path / "bad.sf2").write_text("not a SoundFont")
    code, _, err = cli(capsys, "musicvae", "sample", "-m", model, "-n", "1", "-o",
                       tmp_path / "s.mid", "--wav", "--soundfont", tmp_path / "bad.sf2")  # fmt: skip
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sf2", "vae"]


def _jukebox_run(root: Path) -> Path:
    from latentmusic.jukebox.config import presets_for

    for name, model_type in (("vqvae", "vqvae"), ("prior", "prior")):
        config = config_to_dict(presets_for(model_type)["tiny"])
        extra = {"vqvae": "../vqvae"} if model_type == "prior" else {}
        save_checkpoint(root / name, torch.nn.Linear(1, 1), family="jukebox",
                        model_type=model_type, preset="tiny", config=config, extra=extra)  # fmt: skip
    return root


def test_info_describes_a_jukebox_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 11: the run directory every jukebox command accepts, model by model."""
    run = _jukebox_run(tmp_path / "run")
    code, out, err = cli(capsys, "info", run)
    assert code == 0 and not err, err
    assert "jukebox / prior" in out and "jukebox / vqvae" in out
    code, out, _ = cli(capsys, "info", run, "--json")
    assert code == 0 and [d["model_type"] for d in json.loads(out)] == ["prior", "vqvae"]


def test_a_prior_uses_the_vqvae_of_its_own_run(tmp_path: Path) -> None:
    """Items 12 and 13: a copied run uses its own VQ-VAE, a relative reference is relative to
    the prior, and a prior naming itself is one sentence (not a RecursionError)."""
    import shutil

    from latentmusic.jukebox.codes import resolve_vqvae

    run = _jukebox_run(tmp_path / "run")
    config = json.loads((run / "prior" / "config.json").read_text())
    (run / "prior" / "config.json").write_text(json.dumps({**config, "vqvae": str(run / "vqvae")}))
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert resolve_vqvae(copy / "prior") == copy / "vqvae"
    lone = tmp_path / "lone" / "prior"
    shutil.copytree(run / "prior", lone)
    (lone / "config.json").write_text(json.dumps({**config, "vqvae": "../../run/vqvae"}))
    assert resolve_vqvae(lone).resolve() == (run / "vqvae").resolve()
    (lone / "config.json").write_text(json.dumps({**config, "vqvae": str(lone)}))
    with pytest.raises(CheckpointError, match="names itself"):
        resolve_vqvae(lone)


def test_lyrics_for_a_prior_without_lyrics_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _jukebox_run(tmp_path / "run")
    code, _, err = cli(capsys, "jukebox", "sample", "-m", run, "-o", tmp_path / "x.wav",
                       "--lyrics", "la la la")  # fmt: skip
    assert code == 1 and err.strip() == (
        "error: --lyrics needs a prior trained with lyrics=true; this one ignores lyrics."
    )
    assert not (tmp_path / "x.wav").exists()


def test_a_config_missing_a_value_is_said(tmp_path: Path) -> None:
    """Item 15: a config.json without 'hop' is read with the default, and says so."""
    from latentmusic.errors import LatentMusicWarning
    from latentmusic.nsynth.config import NSynthConfig
    from latentmusic.train.config import config_from_dict

    values = config_to_dict(NSynthConfig())
    del values["hop"]
    with pytest.warns(LatentMusicWarning, match=r"does not set 1 NSynthConfig value.*hop=512"):
        config_from_dict(NSynthConfig, values)


def test_encode_dataset_skips_and_reports_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 16: one corrupt file does not abort the set; it is named and listed as skipped."""
    from latentmusic.jukebox.config import presets_for
    from latentmusic.jukebox.vqvae import VQVAE

    config = presets_for("vqvae")["tiny"]
    torch.manual_seed(0)
    model = save_checkpoint(tmp_path / "vq", VQVAE(config), family="jukebox",
                            model_type="vqvae", preset="tiny", config=config_to_dict(config))  # fmt: skip
    t = np.arange(int(0.1 * config.sample_rate)) / config.sample_rate
    for i in range(2):
        path = tmp_path / "data" / "sine" / "anna" / f"anna{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32),
                 config.sample_rate)  # fmt: skip
    (tmp_path / "data" / "sine" / "anna" / "broken.wav").write_bytes(b"RIFF not really")
    from latentmusic.errors import LatentMusicWarning

    with pytest.warns(LatentMusicWarning) as record:
        code, _, err = cli(capsys, "jukebox", "encode-dataset", "-m", model, "--data",
                           tmp_path / "data", "-o", tmp_path / "codes", "--no-lyrics",
                           "--no-progress")  # fmt: skip
    assert code == 0, err
    data = tmp_path / "data"
    assert [str(w.message) for w in record] == [  # one line per bad file, then the count
        f"skipped: {data / 'sine' / 'anna' / 'broken.wav'} could not be decoded as audio.",
        f"skipped 1 of 3 audio files in {data} (above; listed in manifest.json); encoded the "
        "other 2.",
    ]
    manifest = json.loads((tmp_path / "codes" / "manifest.json").read_text())
    assert len(manifest["files"]) == 2 and manifest["skipped"][0]["audio"].endswith("broken.wav")


def test_a_short_training_run_says_saved_only_with_a_model_and_no_chatter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Items 5 and 18: one step saves a model and says so; Lightning's start-up lines stay
    out of the user's terminal."""
    for split, count in (("train", 4), ("valid", 1)):
        for i in range(count):
            path = tmp_path / "data" / split / f"m{i}.mid"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_sequence(_melody(), path)
    code, out, err = cli(capsys, "train", "musicvae", "--data", tmp_path / "data", "--out",
                         tmp_path / "run", "--preset", "tiny", "--steps", "1", "--batch-size", "2",
                         "--threads", "1", "--accelerator", "cpu", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert out.strip().endswith(f"Model saved to {tmp_path / 'run'}")
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "GPU available" not in err and "TPU available" not in err
    import logging  # the lines above go to Lightning's own handler: check the level it obeys

    level = logging.getLogger("lightning.pytorch.utilities.rank_zero").getEffectiveLevel()
    assert level >= logging.WARNING


def test_a_failed_write_leaves_no_folder_it_made(tmp_path: Path) -> None:
    """Item 16: an output whose writing fails takes the folders made for it along."""
    from latentmusic.fileio import atomic_path

    (tmp_path / "kept").mkdir()
    for target in (tmp_path / "new" / "deeper" / "x.wav", tmp_path / "kept" / "x.wav"):
        with pytest.raises(RuntimeError), atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept"]


def _translation_checkpoint(path: Path) -> Path:
    from latentmusic.translation.config import PRESETS
    from latentmusic.translation.model import UniversalTranslator
    from latentmusic.translation.train import export_model

    torch.manual_seed(0)
    return export_model(UniversalTranslator(PRESETS["tiny"], ["sine", "square"]), path, "tiny", {})


def test_add_domain_skips_and_reports_a_file_that_is_not_audio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 16: like `jukebox encode-dataset`, a bad file is one warning naming it, a count
    follows, and the others train; a folder of nothing usable is one error before any work."""
    from tests.conftest import wave

    model = _translation_checkpoint(tmp_path / "model")
    data = tmp_path / "saw"
    data.mkdir()
    for i in range(3):
        sf.write(data / f"piece{i}.wav", wave("saw", [220.0 * (i + 1)], 1.0), SR)
    (data / "notes.wav").write_text("these are my notes, not audio")
    sf.write(data / "click.wav", np.zeros(10, np.float32), SR)  # shorter than a segment
    from latentmusic.errors import LatentMusicWarning

    with pytest.warns(LatentMusicWarning) as record:
        code, out, err = cli(capsys, "translation", "add-domain", "-m", model, "--data", data,
                             "--out", tmp_path / "run", "--steps", "1", "--batch-size", "2",
                             "--threads", "1", "--accelerator", "cpu", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert [str(w.message) for w in record if w.category is LatentMusicWarning] == [
        f"skipped: {data / 'notes.wav'} could not be decoded as audio.",
        f"skipped 2 of 5 audio files in {data}: 1 not usable as audio (above) and 1 "
        "shorter than the 0.10 s training segment; training on the other 3.",
    ]
    assert not [w for w in record if "val_dataloader" in str(w.message)]  # Lightning chatter
    assert "Traceback" not in err and (tmp_path / "run" / "model.safetensors").is_file()
    assert out.strip().endswith(f"Model with the new domain saved to {tmp_path / 'run'}")

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.wav").write_text("not audio")
    (bad / "b.flac").write_bytes(b"")
    code, out, err = cli(capsys, "translation", "add-domain", "-m", model, "--data", bad,
                         "--out", tmp_path / "run2", "--steps", "1", "--no-progress")  # fmt: skip
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"error: None of the 2 audio files in {bad} can be used (first: ")
    assert not (tmp_path / "run2").exists()


def test_a_copied_jukebox_run_uses_its_own_vqvae(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 13: a prior names its VQ-VAE relative to itself (``../vqvae``), so a copied run
    still encodes and samples after the original is deleted, `jukebox encode -m RUN/prior`
    and `jukebox sample` use the same VQ-VAE, and a prior moved away from it says so."""
    import shutil

    from latentmusic.jukebox.codes import resolve_vqvae
    from latentmusic.jukebox.config import presets_for
    from latentmusic.jukebox.sampling import load_run
    from latentmusic.jukebox.vqvae import VQVAE
    from tests.conftest import make_jukebox_folder, train_family

    data = make_jukebox_folder(tmp_path / "data", seconds=0.5, pieces=3)
    run = tmp_path / "run"
    config = presets_for("vqvae")["tiny"]
    torch.manual_seed(0)
    save_checkpoint(run / "vqvae", VQVAE(config), family="jukebox", model_type="vqvae",
                    preset="tiny", config=config_to_dict(config))  # fmt: skip
    code, _, err = cli(capsys, "jukebox", "encode-dataset", "-m", run, "--data", data, "-o",
                       tmp_path / "codes", "--no-lyrics", "--no-progress")  # fmt: skip
    assert code == 0, err
    train_family("jukebox", tmp_path / "codes", run / "prior", model_type="prior", steps=1)
    assert json.loads((run / "prior" / "config.json").read_text())["vqvae"] == "../vqvae"
    # the best-so-far export one folder deeper names the same VQ-VAE from where it lies
    assert json.loads((run / "prior" / "best" / "config.json").read_text())["vqvae"] == (
        "../../vqvae"
    )

    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(run)
    assert resolve_vqvae(copy / "prior").resolve() == (copy / "vqvae").resolve()  # encode's
    assert load_run(copy / "prior").path.resolve() == copy.resolve()  # sample's: copy/vqvae
    assert resolve_vqvae(copy / "prior" / "best").resolve() == (copy / "vqvae").resolve()
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(np.arange(4000) / 7.0).astype(np.float32), SR)
    code, _, err = cli(capsys, "jukebox", "encode", tmp_path / "a.wav", "-m", copy / "prior",
                       "-o", tmp_path / "c.npz")  # fmt: skip
    assert code == 0, err
    code, _, err = cli(capsys, "jukebox", "sample", "-m", copy / "prior", "-o",
                       tmp_path / "s.wav", "--seconds", "0.5", "--no-upsample")  # fmt: skip
    assert code == 1 and err == "error: Choose an artist; this model knows: anna, ben.\n"
    code, _, err = cli(capsys, "jukebox", "sample", "-m", copy / "prior", "-o", tmp_path / "s.wav",
                       "--seconds", "0.5", "--no-upsample", "--artist", "anna", "--genre", "sine")  # fmt: skip
    assert code == 0 and (tmp_path / "s.wav").is_file(), err

    lone = tmp_path / "lone" / "prior"
    shutil.move(copy / "prior", lone)
    code, _, err = cli(capsys, "jukebox", "encode", tmp_path / "a.wav", "-m", lone, "-o",
                       tmp_path / "d.npz")  # fmt: skip
    assert code == 1 and err.count("\n") == 1, err
    assert f"{lone} was trained with the VQ-VAE ../vqvae, which is not there" in err
    assert not (tmp_path / "d.npz").exists()
