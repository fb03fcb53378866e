"""latentmusic.audio.io: load/save/info/stream, resampling and every user-facing error."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from latentmusic.audio import io
from latentmusic.audio.formats import AUDIO_SUFFIXES, container, is_audio
from latentmusic.errors import InputError


def sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int) -> float:
    """Dominant frequency: long zero-padded Hann FFT + parabolic peak interpolation."""
    n_fft = 1 << 18
    spec = np.log(np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft)) + 1e-12)
    k = int(np.argmax(spec))
    a, b, c = spec[k - 1], spec[k], spec[k + 1]
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n_fft


def no_temp_files(directory) -> bool:
    return not [p for p in directory.iterdir() if ".tmp" in p.name]


# ---- save / load round trips ------------------------------------------------------------


def test_save_load_roundtrip_stereo_wav_is_pcm16(tmp_path):
    left, right = sine(440, 16000, 0.5), sine(660, 16000, 0.5, amp=0.25)
    out = io.save(tmp_path / "x.wav", np.stack([left, right]), 16000)
    assert out == tmp_path / "x.wav"
    assert sf.info(str(out)).subtype == "PCM_16"
    stereo, sr = io.load(out, mono=False)
    assert sr == 16000 and stereo.dtype == np.float32 and stereo.shape == (2, 8000)
    np.testing.assert_allclose(stereo[0], left, atol=1 / 32768 + 1e-6)
    np.testing.assert_allclose(stereo[1], right, atol=1 / 32768 + 1e-6)
    mono, _ = io.load(out)
    assert mono.shape == (8000,)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1 / 32768 + 1e-6)
    assert no_temp_files(tmp_path)


def test_save_float_subtype_is_exact_and_clips(tmp_path):
    x = np.array([0.0, 0.25, -0.5, 2.0, -3.0], dtype=np.float32)
    io.save(tmp_path / "f.wav", x, 8000, subtype="FLOAT")
    y, _ = io.load(tmp_path / "f.wav")
    np.testing.assert_array_equal(y, [0.0, 0.25, -0.5, 1.0, -1.0])


def test_save_formats_from_suffix(tmp_path):
    x = sine(440, 16000, 0.5)
    flac = io.save(tmp_path / "a.flac", x, 16000)
    assert sf.info(str(flac)).format == "FLAC"
    np.testing.assert_allclose(io.load(flac)[0], x, atol=1 / 32768 + 1e-6)
    ogg = io.save(tmp_path / "a.ogg", x, 16000)
    assert sf.info(str(ogg)).format == "OGG"
    y, _ = io.load(ogg)
    assert abs(peak_hz(y[2000:6000], 16000) - 440) < 1.0
    bare = io.save(tmp_path / "noext", x, 16000)  # no suffix -> wav appended
    assert bare.name == "noext.wav" and sf.info(str(bare)).format == "WAV"


def test_save_a_long_stereo_ogg(tmp_path):
    """A minute of stereo 44.1 kHz Vorbis: one libsndfile write of it crashes the process."""
    x = np.tile(sine(440, 44100, 1.0), 60) * 0.5
    ogg = io.save(tmp_path / "long.ogg", np.stack([x, x]), 44100)
    info = sf.info(str(ogg))
    assert (info.format, info.channels, info.frames) == ("OGG", 2, 60 * 44100)


def test_load_offset_and_duration(tmp_path):
    x = np.arange(16000, dtype=np.float32) / 16000 - 0.5
    io.save(tmp_path / "ramp.wav", x, 16000, subtype="FLOAT")
    y, _ = io.load(tmp_path / "ramp.wav", offset=0.25, duration=0.5)
    np.testing.assert_array_equal(y, x[4000:12000])
    with pytest.raises(InputError, match=re.escape(f"Offset 2.0 s is past the end of {tmp_path}")):
        io.load(tmp_path / "ramp.wav", offset=2.0)


def test_info_reads_header(tmp_path):
    io.save(tmp_path / "i.wav", np.zeros((3, 1234), np.float32), 22050)
    assert io.info(tmp_path / "i.wav") == (22050, 1234, 3)


# ---- resampling -------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), [(44100, 16000), (16000, 22050)])
def test_resampling_keeps_frequency_and_length_ratio(tmp_path, src, dst):
    x = sine(440, src, 1.0)
    io.save(tmp_path / "s.wav", x, src, subtype="FLOAT")
    y, sr = io.load(tmp_path / "s.wav", sr=dst)
    assert sr == dst and y.dtype == np.float32
    assert abs(len(y) - len(x) * dst / src) <= 1
    assert abs(peak_hz(y, dst) - 440.0) < 0.2
    # Band-limited resampling keeps the amplitude (no aliasing loss, no gain).
    assert abs(np.abs(y[dst // 10 : -dst // 10]).max() - 0.5) < 0.01


def test_resample_multichannel_matches_per_channel():
    x = np.stack([sine(300, 16000, 0.3), sine(500, 16000, 0.3)])
    y = io.resample(x, 16000, 8000)
    assert y.shape == (2, 2400)
    np.testing.assert_allclose(y[1], io.resample(x[1], 16000, 8000), atol=1e-6)


# ---- streaming --------------------------------------------------------------------------


def test_stream_reassembles_to_load(tmp_path):
    rng = np.random.default_rng(0)
    stereo = np.stack([sine(440, 44100, 3.0), 0.1 * rng.standard_normal(3 * 44100)])
    path = io.save(tmp_path / "long.wav", stereo, 44100)
    whole, _ = io.load(path, sr=16000)
    blocks = list(io.stream(path, 16000, block_seconds=0.37))
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    assert len(blocks) >= 8
    assert max(len(b) for b in blocks[:-1]) <= int(0.37 * 16000) + 100
    joined = np.concatenate(blocks)
    assert len(joined) == len(whole)
    np.testing.assert_allclose(joined, whole, atol=1e-4)


def test_stream_without_resampling_is_exact(tmp_path):
    x = sine(440, 16000, 1.0)
    path = io.save(tmp_path / "n.wav", x, 16000, subtype="FLOAT")
    blocks = list(io.stream(path, None, block_seconds=0.1))
    assert [len(b) for b in blocks] == [1600] * 10
    np.testing.assert_array_equal(np.concatenate(blocks), x)


# ---- errors: one clear sentence each ----------------------------------------------------


@pytest.fixture
def garbage_wav(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.fixture
def empty_wav(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros((0, 1), np.float32), 16000)
    return path


READERS = {
    "load": io.load,
    "info": io.info,
    "stream": lambda p: list(io.stream(p, 16000)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_reader_errors(tmp_path, garbage_wav, empty_wav, reader):
    read = READERS[reader]
    missing = tmp_path / "nope.wav"
    with pytest.raises(InputError, match=re.escape(f"Audio file {missing} does not exist.")):
        read(missing)
    with pytest.raises(InputError, match=re.escape(f"{tmp_path} is a directory, not an audio")):
        read(tmp_path)
    with pytest.raises(
        InputError, match=re.escape(f"{garbage_wav} could not be decoded as audio.")
    ):
        read(garbage_wav)
    with pytest.raises(InputError, match=re.escape(f"{empty_wav} contains no audio samples.")):
        read(empty_wav)


def test_load_rejects_bad_rate(tmp_path):
    path = io.save(tmp_path / "r.wav", sine(440, 8000, 0.1), 8000)
    with pytest.raises(InputError, match="sample rate must be a positive integer number of Hz"):
        io.load(path, sr=0)


def test_save_errors_leave_nothing_behind(tmp_path):
    x = sine(440, 8000, 0.1)
    bad = x.copy()
    bad[10] = np.nan
    target = tmp_path / "bad.wav"
    with pytest.raises(InputError, match=re.escape(f"Audio to save to {target} contains NaN")):
        io.save(target, bad, 8000)
    bad[10] = np.inf
    with pytest.raises(InputError, match="contains NaN or infinite values"):
        io.save(target, bad, 8000)
    with pytest.raises(InputError, match=re.escape("Cannot save audio as bad.xyz: use one of")):
        io.save(tmp_path / "bad.xyz", x, 8000)
    with pytest.raises(InputError, match="must be non-empty with shape"):
        io.save(target, np.zeros((2, 3, 4)), 8000)
    with pytest.raises(InputError, match="must be non-empty with shape"):
        io.save(target, np.zeros(0), 8000)
    with pytest.raises(InputError, match=re.escape("Subtype VORBIS cannot be written to a WAV")):
        io.save(target, x, 8000, subtype="VORBIS")
    with pytest.raises(InputError, match="sample rate must be a positive integer"):
        io.save(target, x, -5)
    assert list(tmp_path.iterdir()) == []


def test_package_import_is_light():
    code = (
        "import sys, latentmusic.audio as a; "
        "assert 'torch' not in sys.modules and 'librosa' not in sys.modules; "
        "assert callable(a.load) and callable(a.mu_law_encode); "
        "assert 'torch' not in sys.modules and 'librosa' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("suffix", AUDIO_SUFFIXES)
def test_every_advertised_suffix_saves_and_loads(tmp_path, suffix):
    x = sine(440, 16000, 0.5)
    path = io.save(tmp_path / f"a{suffix}", x, 16000)
    assert sf.info(str(path)).format == container(path)
    y, sr = io.load(path)
    assert sr == 16000 and abs(peak_hz(y[2000:6000], 16000) - 440) < 2.0
    assert is_audio(path.with_suffix(suffix.upper())) and not is_audio(tmp_path / "a.txt")
