"""The NSynth pad's API on the shipped fast NSynth model ``nsynth-harmonic``, through
FastAPI's TestClient: the pad the server renders is the model's own ``EmbeddingVerbs.pad`` of
the corner notes, it is cached, its audio and rainbowgrams are served by key, and every bad
request (corners, uploads, keys, sizes, pitches) comes back as a 4xx sentence.

The HTTP round trip of a 5 x 5 pad is timed by ``benchmarks/studio.py``, not here.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fastapi.testclient import TestClient

from latentmusic.catalogue import shipped_names
from latentmusic.studio import limits
from latentmusic.studio.app import create_app
from latentmusic.studio.engine import default_models, load_models
from latentmusic.studio.melodies import MELODY_PRESETS, midi_bytes, sequence_from_json
from latentmusic.studio.pads import DEFAULT_CORNERS, NOTE_SECONDS

NSYNTH = "nsynth-harmonic"
pytestmark = pytest.mark.skipif(
    NSYNTH not in shipped_names(), reason=f"the shipped {NSYNTH} model is not installed"
)
CORNERS = [{"preset": name} for name in DEFAULT_CORNERS]


@pytest.fixture(scope="module")
def models():  # noqa: ANN201
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_models([NSYNTH, "cat-mel_2bar_small"])
    torch.set_num_threads(before)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def client(models, workdir: Path) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(models, workdir=workdir), raise_server_exceptions=False)


def _error(response, status: int) -> str:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and len(message) > 10 and "Traceback" not in message
    return message


def _wav(
    seconds: float = 1.0,
    rate: int = 22050,
    channels: int = 2,
    level: float = 0.3,
    subtype: str = "PCM_16",
) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = level * np.sin(2 * np.pi * 330.0 * t) * np.exp(-2 * t)
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([tone] * channels, axis=1), rate, subtype, format="WAV")
    return buffer.getvalue()


def _cell_samples(model) -> int:  # noqa: ANN001
    return int(NOTE_SECONDS * model.sample_rate) // model.hop * model.hop


# ---------------------------------------------------------------------------- facts
def test_the_page_models_and_presets(client: TestClient, models) -> None:  # noqa: ANN001
    page = client.get("/pad")
    assert page.status_code == 200 and "NSynth pad" in page.text and "pad.js" in page.text
    body = client.get("/api/models").json()
    info = next(m for m in body["models"] if m["name"] == NSYNTH)
    assert (info["family"], info["model_type"], info["sample_rate"]) == (
        "nsynth",
        "harmonic",
        16000,
    )
    assert info["takes_pitch"] is True and info["shipped"] is True
    assert "nsynth" not in body["notes"]
    presets = client.get("/api/presets").json()
    names = [p["name"] for p in presets["instruments"]]
    assert set(presets["instrument_corners"]) <= set(names) and len(names) >= 4
    assert client.get("/api/limits").json()["max_pad_size"] == limits.MAX_PAD_SIZE
    assert NSYNTH in default_models()


def test_the_page_says_when_no_nsynth_model_is_served(models) -> None:  # noqa: ANN001
    only_melodies = {"cat-mel_2bar_small": models["cat-mel_2bar_small"]}
    client = TestClient(create_app(only_melodies), raise_server_exceptions=False)
    note = client.get("/api/models").json()["notes"]["nsynth"]
    assert "No NSynth model is served" in note and f"--models {NSYNTH}" in note
    message = _error(client.post(f"/api/models/{NSYNTH}/pad", json={"corners": CORNERS}), 404)
    assert "No model" in message and "cat-mel_2bar_small" in message


# ------------------------------------------------------------------------------ pads
def test_a_pad_is_the_models_own_pad_of_the_corner_notes(
    client: TestClient, models, workdir: Path
) -> None:  # noqa: ANN001
    model = models[NSYNTH].model
    response = client.post(
        f"/api/models/{NSYNTH}/pad", json={"corners": CORNERS, "pitch": 62, "size": 3}
    )
    assert response.status_code == 200, response.text
    info = response.json()
    n = _cell_samples(model)
    assert (info["size"], info["cells"], info["pitch"], info["cell_samples"]) == (3, 9, 62, n)
    assert info["cached"] is False and info["pitch_applied"] is True
    assert info["corners"] == list(DEFAULT_CORNERS)
    assert np.asarray(info["peaks"]).shape == (3, 3)
    audio = client.get(info["audio"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    served, rate = sf.read(io.BytesIO(audio.content), dtype="float32")
    assert rate == 16000 and served.shape == (9 * n,)
    # the same numbers as the model's verb on the same corner notes (FluidSynth, cached)
    notes = list((workdir / "nsynth-corners").glob("*-62-16000.wav"))
    assert len(notes) == 4
    store = client.app.state.pads
    corners = [store.preset_note(name, 62, 16000)[:n] for name in DEFAULT_CORNERS]
    with torch.no_grad():
        direct = model.pad(corners, size=3, seed=0, pitch=62.0).numpy()
    cells = served.reshape(3, 3, n) / info["scale"]
    assert np.abs(cells - direct).max() < 2.0 / 32768 / info["scale"] + 1e-5
    assert np.allclose(np.abs(direct).max(axis=-1), info["peaks"], atol=1e-4)
    # the saved-files listing shows only exports, never the preset notes
    assert client.get("/api/files").json()["files"] == []


def test_a_5x5_pad_is_rendered_once_then_served_from_the_cache(client: TestClient, models) -> None:  # noqa: ANN001
    body = {"corners": CORNERS, "pitch": 60, "size": 5}
    first = client.post(f"/api/models/{NSYNTH}/pad", json=body).json()
    assert first["cached"] is False and first["cells"] == 25
    started = time.perf_counter()
    again = client.post(f"/api/models/{NSYNTH}/pad", json=body).json()
    assert again["cached"] is True and again["key"] == first["key"]
    assert time.perf_counter() - started < 0.5
    wav = client.get(first["audio"])
    assert len(sf.read(io.BytesIO(wav.content))[0]) == 25 * first["cell_samples"]
    assert "max-age" in wav.headers["cache-control"]
    other = client.post(f"/api/models/{NSYNTH}/pad", json={**body, "pitch": 64}).json()
    assert other["cached"] is False and other["key"] != first["key"]
    # a rainbowgram per cell, as a PNG
    png = client.get(first["rainbowgram"].format(row=2, col=4))
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    image = Image.open(io.BytesIO(png.content))
    assert image.mode == "RGB" and image.size[0] > 50 and image.size[1] > 50
    assert "no cell" in _error(client.get(first["rainbowgram"].format(row=5, col=0)), 422)


def test_uploaded_wavs_are_corners(client: TestClient) -> None:
    data = _wav(1.0, 22050, 2)
    up = client.post("/api/nsynth/upload?name=../../my%20tone.wav", content=data)
    assert up.status_code == 200, up.text
    info = up.json()
    assert len(info["id"]) == 16 and info["label"] == "my tone"
    assert (info["sample_rate"], info["channels"], info["seconds"]) == (22050, 2, 1.0)
    assert client.post("/api/nsynth/upload", content=data).json()["id"] == info["id"]
    corners = [{"upload": info["id"]}, *CORNERS[1:]]
    pad = client.post(f"/api/models/{NSYNTH}/pad", json={"corners": corners, "size": 2})
    assert pad.status_code == 200, pad.text
    assert pad.json()["corners"][0] == "my tone" and pad.json()["cells"] == 4


def test_bad_uploads_are_refused_with_a_sentence(client: TestClient) -> None:
    def upload(data: bytes) -> str:
        return _error(client.post("/api/nsynth/upload", content=data), 422)

    assert "empty" in upload(b"")
    assert "not a WAV file" in upload(b"RIFF....WAVEfmt nonsense")
    midi = midi_bytes(sequence_from_json(MELODY_PRESETS[0]["melody"]))
    assert "not a WAV file" in upload(midi)
    flac = io.BytesIO()
    sf.write(flac, np.zeros(1600), 16000, format="FLAC")
    assert "not a WAV file" in upload(flac.getvalue())
    assert "at most 4 s" in upload(_wav(5.0, 8000, 1))
    assert "at least" in upload(_wav(0.02, 16000, 1))
    assert "silent" in upload(_wav(1.0, 16000, 1, level=0.0))
    big = _wav(2.5, 96000, 2, subtype="FLOAT")
    assert limits.MAX_WAV_BYTES < len(big) < limits.MAX_BODY_BYTES
    assert "at most 1536 KB" in upload(big)
    huge = b"\0" * (limits.MAX_BODY_BYTES + 1)
    assert "WAV uploads" in _error(client.post("/api/nsynth/upload", content=huge), 413)


def test_bad_pad_requests_are_4xx_sentences(client: TestClient) -> None:
    url = f"/api/models/{NSYNTH}/pad"

    def pad(body: dict, status: int = 422) -> str:
        return _error(client.post(url, json=body), status)

    assert "No corner preset 'tuba'" in pad({"corners": [{"preset": "tuba"}, *CORNERS[1:]]})
    for bad in ("../../etc/passwd", "0123456789ABCDEF", "/etc/passwd"):
        assert "16 hex digits" in pad({"corners": [{"upload": bad}, *CORNERS[1:]]})
    assert "upload it again" in pad({"corners": [{"upload": "0" * 16}, *CORNERS[1:]]})
    both = {"preset": "flute", "upload": "0" * 16}
    assert "either" in pad({"corners": [both, *CORNERS[1:]]})
    assert "either" in pad({"corners": [{}, *CORNERS[1:]]})
    assert "Extra inputs are not permitted" in pad(
        {"corners": [{"path": "/etc/passwd"}, *CORNERS[1:]]}
    )
    assert "corners" in pad({"corners": CORNERS[:3]})
    assert "pitch" in pad({"corners": CORNERS, "pitch": 200})
    assert "size" in pad({"corners": CORNERS, "size": limits.MAX_PAD_SIZE + 1})
    assert "not valid JSON" in _error(
        client.post(url, content=b"{nope", headers={"content-type": "application/json"}), 422
    )
    assert "is a MusicVAE model; this needs an NSynth model" in _error(
        client.post("/api/models/cat-mel_2bar_small/pad", json={"corners": CORNERS}), 422
    )
    assert "No model 'nope'" in _error(
        client.post("/api/models/nope/pad", json={"corners": CORNERS}), 404
    )
    # pads are looked up by key, never by path
    assert "16 hex digits" in _error(client.get("/api/pads/..passwd/audio.wav"), 422)
    assert "Nothing here" in _error(client.get("/api/pads/..%2F..%2Fetc/audio.wav"), 404)
    assert client.get("/api/pads/../../etc/passwd").status_code == 404
    assert "render it again" in _error(client.get(f"/api/pads/{'f' * 16}/audio.wav"), 404)
    assert _error(client.get(f"/api/pads/{'f' * 16}/rainbowgram/x/0.png"), 422)
    # and the server keeps answering
    assert client.post(url, json={"corners": CORNERS, "size": 2}).status_code == 200
