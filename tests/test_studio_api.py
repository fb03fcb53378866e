"""The studio's JSON API on a real (tiny, freshly trained) MusicVAE, through FastAPI's TestClient.

Every answer is checked against what the model itself gives for the same input; every bad
request must come back as a 4xx JSON error with a sentence, and never reach outside the
studio's working folder.
"""

from __future__ import annotations

import atexit
import functools
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from latentmusic.studio.app import create_app
from latentmusic.studio.engine import load_models
from latentmusic.studio.melodies import (
    MELODY_PRESETS,
    midi_bytes,
    sequence_from_json,
    sequence_to_json,
)

TRAIN_STEPS = 150  # enough for the tiny model to decode notes rather than all rests


@functools.cache
def tiny_studio_run() -> Path:
    """A tiny MusicVAE melody model trained for a few CPU seconds on the preset melodies and
    random C-major tunes (a plain Adam loop on ``MusicVAE.loss``: no Lightning start-up),
    saved as a checkpoint with its attribute vectors; shared by both studio test files."""
    import torch

    from latentmusic.midi.representations import MELODY, pitch_to_class
    from latentmusic.musicvae.attributes import compute_vectors, save_vectors
    from latentmusic.musicvae.config import PRESETS
    from latentmusic.musicvae.model import FAMILY, MusicVAE
    from latentmusic.musicvae.train import checkpoint_extra
    from latentmusic.train.checkpoint import save_checkpoint
    from latentmusic.train.config import config_to_dict

    rng = np.random.default_rng(0)
    windows = [
        MELODY.cut(MELODY.encode(sequence_from_json(p["melody"])), 0, 32) for p in MELODY_PRESETS
    ]
    for _ in range(24):
        events = np.zeros(32, np.int64)
        t = 0
        while t < 32:
            events[t] = pitch_to_class(int(rng.choice([60, 62, 64, 65, 67, 69, 71, 72])))
            t += int(rng.choice([2, 4]))
        windows.append(events[:, None])
    tokens = torch.from_numpy(np.stack(windows)).long()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = PRESETS["tiny"]
    model = MusicVAE(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    try:
        for step in range(TRAIN_STEPS):
            batch = tokens[torch.from_numpy(rng.choice(len(tokens), 16))]
            loss = model.loss({"tokens": batch}, step=step, sampling=0.0)["loss"]
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    root = Path(tempfile.mkdtemp(prefix="studio-model-"))
    atexit.register(shutil.rmtree, root, True)
    run = save_checkpoint(
        root / "run",
        model,
        family=FAMILY,
        model_type=config.model_type,
        preset="tiny",
        config=config_to_dict(config),
        extra=checkpoint_extra(config),
        meta={"steps": TRAIN_STEPS},
    )
    save_vectors(run / "attributes.npz", compute_vectors(model, tokens.numpy()))
    return run


@pytest.fixture(scope="module")
def models():  # noqa: ANN201
    return load_models([str(tiny_studio_run())])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def client(models, workdir: Path) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(models, workdir=workdir), raise_server_exceptions=False)


def _preset(i: int) -> dict:
    return MELODY_PRESETS[i]["melody"]


def _notes(melody: dict) -> list[tuple[int, int, int]]:
    return [(n["pitch"], n["start"], n["end"]) for n in melody["notes"]]


def _error(response, status: int) -> str:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and len(message) > 10
    return message


# ------------------------------------------------------------------------------- facts
def test_models_limits_and_presets(client: TestClient) -> None:
    body = client.get("/api/models").json()
    [info] = body["models"]
    assert info["name"] == "run" and info["family"] == "musicvae"
    assert (info["representation"], info["steps"], info["bars"], info["z_size"]) == (
        "melody",
        32,
        2,
        32,
    )
    assert "note_density" in info["attributes"]
    assert "No drum model is shipped yet" in body["notes"]["drums"]
    limits = client.get("/api/limits").json()
    assert limits["max_grid"] == 11 and limits["max_steps"] == 32
    presets = client.get("/api/presets").json()
    assert len(presets["melodies"]) >= 4 and len(presets["drums"]) == 4
    for preset in presets["melodies"] + presets["drums"]:
        assert sequence_from_json(preset["melody"]).total_steps == 32
    page = client.get("/mixer")
    assert page.status_code == 200 and "Melody Mixer" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


# ------------------------------------------------------------------------------- verbs
def test_interpolate_returns_steps_melodies_whose_ends_are_the_reconstructions(
    client: TestClient, models
) -> None:  # noqa: ANN001
    a, b = _preset(0), _preset(1)
    response = client.post("/api/models/run/interpolate", json={"melodies": [a, b], "steps": 6})
    assert response.status_code == 200, response.text
    morph = response.json()["melodies"]
    assert len(morph) == 6 and all(m["total_steps"] == 32 for m in morph)
    recon = client.post("/api/models/run/reconstruct", json={"melodies": [a, b]}).json()
    assert _notes(morph[0]) == _notes(recon["melodies"][0])
    assert _notes(morph[-1]) == _notes(recon["melodies"][1])
    assert sum(len(m["notes"]) for m in morph) > 0
    # the same numbers as the model's own verbs
    vae = models["run"].model
    seqs = [sequence_from_json(a), sequence_from_json(b)]
    direct = vae.interpolate(seqs, steps=6, start_bar=0)
    assert [_notes(sequence_to_json(s)) for s in direct] == [_notes(m) for m in morph]
    # encode -> decode is the reconstruction too
    z = client.post("/api/models/run/encode", json={"melodies": [a]}).json()["z"]
    assert len(z) == 1 and len(z[0]) == 32
    decoded = client.post("/api/models/run/decode", json={"z": z}).json()["melodies"]
    assert _notes(decoded[0]) == _notes(recon["melodies"][0])


def test_grid_corners_are_the_corner_reconstructions(client: TestClient) -> None:
    corners = [_preset(i) for i in (0, 3, 4, 7)]
    response = client.post("/api/models/run/grid", json={"corners": corners, "size": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["cols"], len(body["melodies"])) == (3, 3, 9)
    recon = client.post("/api/models/run/reconstruct", json={"melodies": corners}).json()
    for corner, index in zip(recon["melodies"], (0, 2, 6, 8), strict=True):
        assert _notes(body["melodies"][index]) == _notes(corner)


def test_sample_similar_and_attribute(client: TestClient) -> None:
    one = client.post("/api/models/run/sample", json={"n": 3, "seed": 7}).json()["melodies"]
    two = client.post("/api/models/run/sample", json={"n": 3, "seed": 7}).json()["melodies"]
    assert len(one) == 3 and [_notes(m) for m in one] == [_notes(m) for m in two]
    a = _preset(2)
    recon = client.post("/api/models/run/reconstruct", json={"melodies": [a]}).json()["melodies"][0]
    same = client.post(
        "/api/models/run/similar",
        json={"melody": a, "n": 2, "similarity": 1.0, "temperature": 0.0, "seed": 1},
    ).json()["melodies"]
    assert [_notes(m) for m in same] == [_notes(recon)] * 2
    unchanged = client.post(
        "/api/models/run/attribute",
        json={"melody": a, "attribute": "note_density", "magnitude": 0.0},
    ).json()
    assert _notes(unchanged["melodies"][0]) == _notes(recon)
    assert _notes(unchanged["input"]) == _notes(a)  # a monophonic in-range melody reads as itself
    message = _error(
        client.post("/api/models/run/attribute", json={"melody": a, "attribute": "loudness"}), 422
    )
    assert "no 'loudness' vector" in message and "note_density" in message


# -------------------------------------------------------------------------- MIDI files
def test_exported_midi_parses_with_every_note_and_is_saved_only_inside_the_workdir(
    client: TestClient, workdir: Path
) -> None:
    morph = client.post(
        "/api/models/run/interpolate", json={"melodies": [_preset(0), _preset(1)], "steps": 5}
    ).json()["melodies"]
    response = client.post("/api/export", json={"melodies": morph, "qpm": 90})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/midi"
    pm = pretty_midi.PrettyMIDI(io.BytesIO(response.content))
    notes = [n for inst in pm.instruments for n in inst.notes]
    assert len(notes) == sum(len(m["notes"]) for m in morph) > 0
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90, abs=0.01)
    step = 60 / 90 / 4
    last = max(n["end"] + 32 * i for i, m in enumerate(morph) for n in m["notes"])
    assert max(n.end for n in notes) == pytest.approx(last * step, abs=1e-3)

    saved = client.post("/api/export", json={"melodies": morph[:2], "save_as": "morph.mid"})
    assert saved.status_code == 200 and saved.headers["x-saved-as"] == "morph.mid"
    assert (workdir / "morph.mid").read_bytes() == saved.content
    assert client.get("/api/files").json() == {
        "files": [{"name": "morph.mid", "bytes": len(saved.content)}]
    }
    assert client.get("/api/files/morph.mid").content == saved.content


def test_uploaded_midi_becomes_the_window_the_model_reads(client: TestClient) -> None:
    preset = sequence_from_json(_preset(1))
    response = client.post(
        "/api/midi?model=run", content=midi_bytes(preset), headers={"content-type": "audio/midi"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["notes_in_file"] == len(preset.notes)
    assert _notes(body["melody"]) == _notes(_preset(1))
    # with bars of rest first, the model reads from the first bar with notes
    shifted = sequence_from_json(
        {
            "notes": [
                {**n, "start": n["start"] + 32, "end": n["end"] + 32} for n in _preset(1)["notes"]
            ],
            "total_steps": 64,
        }
    )
    moved = client.post("/api/midi?model=run", content=midi_bytes(shifted)).json()
    assert _notes(moved["melody"]) == _notes(_preset(1))
    whole = client.post("/api/midi", content=midi_bytes(shifted)).json()
    assert whole["melody"]["total_steps"] == 64 and whole["truncated"] is False


def test_bad_uploads_are_refused_with_a_sentence(client: TestClient) -> None:
    assert "is empty" in _error(client.post("/api/midi", content=b""), 422)
    assert "not a MIDI file" in _error(client.post("/api/midi", content=b"RIFF0000WAVE"), 422)
    big = b"MThd" + b"\0" * (600 * 1024)
    assert "up to 512 KB" in _error(client.post("/api/midi", content=big), 422)
    huge = b"MThd" + b"\0" * (3 * 1024 * 1024)
    assert "at most 2048 KB" in _error(client.post("/api/midi", content=huge), 413)

    def chunks():  # noqa: ANN202  (no Content-Length: the body streams in)
        for _ in range(40):
            yield b"\0" * (64 * 1024)

    assert "more than" in _error(client.post("/api/midi", content=chunks()), 413)
    good = midi_bytes(sequence_from_json(_preset(0)))
    assert "not a readable MIDI" in _error(client.post("/api/midi", content=good[:30]), 422)
    long = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes.append(pretty_midi.Note(80, 60, 0.0, 1.0))
    piano.notes.append(pretty_midi.Note(80, 62, 700.0, 701.0))
    long.instruments.append(piano)
    buffer = io.BytesIO()
    long.write(buffer)
    assert "up to 10 minutes" in _error(client.post("/api/midi", content=buffer.getvalue()), 422)
    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(0))
    buffer = io.BytesIO()
    empty.write(buffer)
    assert "no notes" in _error(client.post("/api/midi", content=buffer.getvalue()), 422)
    assert client.get("/api/models").status_code == 200


def test_bad_requests_are_4xx_json_and_the_app_keeps_answering(
    client: TestClient, models, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    a, b = _preset(0), _preset(1)
    url = "/api/models/run/interpolate"
    assert "steps" in _error(client.post(url, json={"melodies": [a, b], "steps": 99}), 422)
    assert "steps" in _error(client.post(url, json={"melodies": [a, b], "steps": 1}), 422)
    assert "size" in _error(
        client.post("/api/models/run/grid", json={"corners": [a, b, a, b], "size": 12}), 422
    )
    assert "corners" in _error(
        client.post("/api/models/run/grid", json={"corners": [a, b], "size": 3}), 422
    )
    assert "not valid JSON" in _error(
        client.post(url, content=b"{nope", headers={"content-type": "application/json"}), 422
    )
    backwards = {"notes": [{"pitch": 60, "start": 4, "end": 2}]}
    assert "ends (step 2) before it starts" in _error(
        client.post(url, json={"melodies": [backwards, b]}), 422
    )
    assert "pitch" in _error(
        client.post(url, json={"melodies": [{"notes": [{"pitch": 200, "start": 0, "end": 2}]}, b]}),
        422,
    )
    rests = {"notes": [], "total_steps": 32}
    assert "no bars this melody model can use" in _error(
        client.post(url, json={"melodies": [rests, b]}), 422
    )
    assert "shape" in _error(client.post("/api/models/run/decode", json={"z": [[0.0] * 5]}), 422)
    assert "less than or equal to 16" in _error(
        client.post("/api/models/run/sample", json={"n": 1000}), 422
    )
    assert "it serves: run" in _error(client.post("/api/models/other/sample", json={}), 404)
    assert "not allowed" in _error(client.get(url), 405)
    assert "Nothing here" in _error(client.get("/api/nothing"), 404)
    long_export = {"melodies": [a] * 256, "gap_bars": 4}
    assert "at most" in _error(client.post("/api/export", json=long_export), 422)
    long_render = {"melodies": [a] * 100, "qpm": 40}
    assert "renders at most" in _error(client.post("/api/render", json=long_render), 422)

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("boom")

    monkeypatch.setattr(models["run"], "sample", broken)
    message = _error(client.post("/api/models/run/sample", json={"n": 1}), 500)
    assert "keeps running" in message and "boom" not in message
    monkeypatch.undo()
    assert client.post("/api/models/run/sample", json={"n": 1}).status_code == 200


def test_path_traversal_is_refused(client: TestClient, workdir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.mid"
    secret.write_bytes(b"MThd TOP-SECRET-BYTES")
    ok = client.post("/api/export", json={"melodies": [_preset(0)], "save_as": "ok.mid"})
    assert ok.status_code == 200 and (workdir / "ok.mid").is_file()
    for name in ("../secret.mid", "..%2Fsecret.mid", "%2E%2E%2Fsecret.mid", "..secret.mid",
                 "%2Fetc%2Fpasswd", "..%5Csecret.mid", "ok.py"):  # fmt: skip
        response = client.get(f"/api/files/{name}")
        assert 400 <= response.status_code < 500, name
        assert b"TOP-SECRET" not in response.content and "error" in response.json()
    for name in ("../secret2.mid", "/tmp/evil.mid", "a/b.mid", "..", ".hidden.mid", "x.exe"):
        response = client.post("/api/export", json={"melodies": [_preset(0)], "save_as": name})
        _error(response, 400)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["ok.mid", "secret.mid"]
    # models are names the server was started with, never paths
    run = str(tiny_studio_run())
    for name in ("..%2F..%2Fetc", run.replace("/", "%2F"), "%2E%2E"):
        response = client.post(f"/api/models/{name}/sample", json={"n": 1})
        assert response.status_code == 404 and "error" in response.json()
    response = client.post(f"/api/midi?model={run}", content=b"MThd")
    assert "No model" in _error(response, 404)
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2E%2E/app.py").status_code == 404


def test_render_returns_a_wav_of_the_music(client: TestClient) -> None:
    response = client.post("/api/render", json={"melodies": [_preset(0), _preset(1)], "qpm": 120})
    assert response.status_code == 200, response.text
    audio, sr = sf.read(io.BytesIO(response.content))
    assert sr == 22050
    seconds = len(audio) / sr
    assert 8.0 <= seconds <= 9.0  # 64 steps of 0.125 s, plus the release tail
    assert np.abs(audio).max() > 0.1
    assert float(response.headers["x-duration-seconds"]) == pytest.approx(8.0)


# ------------------------------------------------------------------------------ the CLI
def test_cli_stays_light_and_refuses_bad_options(tmp_path: Path) -> None:
    code = (
        "import sys, latentmusic.cli.main; "
        "print(','.join(m for m in ('torch', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    exe = Path(sys.executable).with_name("latentmusic")
    result = subprocess.run(
        [exe, "studio", "--models", "no-such-model", "--workdir", tmp_path],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "No model 'no-such-model'" in result.stderr
    result = subprocess.run([exe, "studio", "--port", "70000"], capture_output=True, text=True)
    assert result.returncode == 1 and "--port must be between 0 and 65535" in result.stderr
    help_text = subprocess.run([exe, "studio", "--help"], capture_output=True, text=True).stdout
    assert "--models" in help_text and "--workdir" in help_text and "127.0.0.1" in help_text


def test_only_requests_addressed_to_localhost_are_answered(models) -> None:  # noqa: ANN001
    app = create_app(models, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])
    local = TestClient(app, base_url="http://localhost:8765")
    assert local.get("/api/models").status_code == 200
    assert TestClient(app, base_url="http://[::1]:8765").get("/api/limits").status_code == 200
    rebound = local.get("/api/models", headers={"host": "evil.example:8765"})
    assert "only requests addressed to localhost" in _error(rebound, 400)
